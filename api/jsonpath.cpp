#include "api/jsonpath.h"

#include <cstdlib>

namespace kite::api {

using Json = nlohmann::json;

namespace {

Status Bad(std::string_view text, std::string_view why) {
  return InvalidArgumentError("unsupported JSONPath " + std::string(text) +
                              ": " + std::string(why));
}

bool IsNameChar(char c) {
  return c != '.' && c != '[' && c != ']' && c != ' ' && c != '\t';
}

}  // namespace

StatusOr<JsonPath> JsonPath::Parse(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}')
    s = s.substr(1, s.size() - 2);
  if (s.empty()) return Bad(text, "empty");
  JsonPath p;
  size_t i = 0;
  if (s[0] == '$') ++i;
  while (i < s.size()) {
    char c = s[i];
    if (c == '.') {
      ++i;
      if (i >= s.size()) break;  // "." alone selects the document
      if (s[i] == '[') continue;
      size_t j = i;
      std::string name;
      while (j < s.size() && IsNameChar(s[j])) {
        if (s[j] == '\\' && j + 1 < s.size()) ++j;
        name.push_back(s[j]);
        ++j;
      }
      if (name.empty()) return Bad(text, "empty field name");
      if (name == "*") {
        p.steps_.push_back({Step::kWildcard});
      } else {
        Step st{Step::kField};
        st.name = std::move(name);
        p.steps_.push_back(std::move(st));
      }
      i = j;
      continue;
    }
    if (c == '[') {
      size_t close;
      if (i + 1 < s.size() && (s[i + 1] == '\'' || s[i + 1] == '"')) {
        char q = s[i + 1];
        std::string name;
        size_t j = i + 2;
        while (j < s.size() && s[j] != q) {
          if (s[j] == '\\' && j + 1 < s.size()) ++j;
          name.push_back(s[j]);
          ++j;
        }
        if (j + 1 >= s.size() || s[j + 1] != ']')
          return Bad(text, "unterminated ['...']");
        Step st{Step::kField};
        st.name = std::move(name);
        p.steps_.push_back(std::move(st));
        i = j + 2;
        continue;
      }
      if (s.substr(i, 3) == "[?(") {
        close = s.find(")]", i);
        if (close == std::string_view::npos)
          return Bad(text, "unterminated filter");
        std::string_view expr = s.substr(i + 3, close - (i + 3));
        size_t op = expr.find("==");
        bool eq = true;
        if (op == std::string_view::npos) {
          op = expr.find("!=");
          eq = false;
        }
        if (op == std::string_view::npos)
          return Bad(text, "filter needs == or !=");
        std::string_view lhs = expr.substr(0, op), rhs = expr.substr(op + 2);
        while (!lhs.empty() && lhs.back() == ' ') lhs.remove_suffix(1);
        while (!rhs.empty() && rhs.front() == ' ') rhs.remove_prefix(1);
        if (lhs.substr(0, 2) != "@.")
          return Bad(text, "filter must start with @.");
        Step st{Step::kFilter};
        st.filter_equals = eq;
        std::string_view rest = lhs.substr(2);
        while (!rest.empty()) {
          size_t dot = rest.find('.');
          st.filter_path.emplace_back(rest.substr(0, dot));
          if (dot == std::string_view::npos) break;
          rest = rest.substr(dot + 1);
        }
        if (rhs.size() >= 2 && (rhs.front() == '"' || rhs.front() == '\'') &&
            rhs.back() == rhs.front()) {
          st.filter_value = std::string(rhs.substr(1, rhs.size() - 2));
        } else {
          std::string num(rhs);
          char* end = nullptr;
          double d = std::strtod(num.c_str(), &end);
          if (num.empty() || end != num.c_str() + num.size())
            return Bad(text, "filter value");
          st.filter_value = d;
        }
        p.steps_.push_back(std::move(st));
        i = close + 2;
        continue;
      }
      close = s.find(']', i);
      if (close == std::string_view::npos) return Bad(text, "unterminated [");
      std::string inner(s.substr(i + 1, close - i - 1));
      if (inner == "*") {
        p.steps_.push_back({Step::kWildcard});
      } else {
        char* end = nullptr;
        long v = std::strtol(inner.c_str(), &end, 10);
        if (inner.empty() || end != inner.c_str() + inner.size())
          return Bad(text, "index");
        Step st{Step::kIndex};
        st.index = v;
        p.steps_.push_back(std::move(st));
      }
      i = close + 1;
      continue;
    }
    return Bad(text, "expected '.' or '['");
  }
  return p;
}

std::vector<const Json*> JsonPath::Find(const Json& doc) const {
  std::vector<const Json*> cur{&doc};
  for (const Step& st : steps_) {
    std::vector<const Json*> next;
    for (const Json* v : cur) {
      switch (st.type) {
        case Step::kField:
          if (v->is_object()) {
            auto it = v->find(st.name);
            if (it != v->end()) next.push_back(&*it);
          }
          break;
        case Step::kIndex:
          if (v->is_array()) {
            long n = static_cast<long>(v->size());
            long idx = st.index < 0 ? n + st.index : st.index;
            if (idx >= 0 && idx < n)
              next.push_back(&(*v)[static_cast<size_t>(idx)]);
          }
          break;
        case Step::kWildcard:
          if (v->is_array() || v->is_object()) {
            for (const Json& e : *v) next.push_back(&e);
          }
          break;
        case Step::kFilter:
          if (v->is_array()) {
            for (const Json& e : *v) {
              const Json* f = &e;
              for (const std::string& k : st.filter_path) {
                if (!f->is_object() || !f->contains(k)) {
                  f = nullptr;
                  break;
                }
                f = &(*f)[k];
              }
              bool match = false;
              if (f != nullptr) {
                if (st.filter_value.is_string()) {
                  match = f->is_string() && *f == st.filter_value;
                } else if (f->is_number()) {
                  match = f->get<double>() == st.filter_value.get<double>();
                }
              }
              if (match == st.filter_equals &&
                  (f != nullptr || !st.filter_equals))
                next.push_back(&e);
            }
          }
          break;
      }
    }
    cur = std::move(next);
  }
  return cur;
}

}  // namespace kite::api
