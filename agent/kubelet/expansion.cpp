#include "agent/kubelet/expansion.h"

#include <map>

namespace kite::kubelet {

std::string ExpandVars(const std::string& input,
                       const std::vector<cri::KeyValue>& env) {
  std::map<std::string, std::string> vars;
  for (const auto& kv : env) vars[kv.key] = kv.value;
  std::string out;
  size_t i = 0;
  while (i < input.size()) {
    char c = input[i];
    if (c != '$' || i + 1 >= input.size()) {
      out += c;
      ++i;
      continue;
    }
    char n = input[i + 1];
    if (n == '$') {
      out += '$';
      i += 2;
    } else if (n == '(') {
      size_t close = input.find(')', i + 2);
      if (close == std::string::npos) {
        out += input.substr(i);
        break;
      }
      std::string name = input.substr(i + 2, close - i - 2);
      auto it = vars.find(name);
      if (it != vars.end() && !name.empty())
        out += it->second;
      else
        out += input.substr(i, close - i + 1);
      i = close + 1;
    } else {
      out += c;
      out += n;
      i += 2;
    }
  }
  return out;
}

}  // namespace kite::kubelet
