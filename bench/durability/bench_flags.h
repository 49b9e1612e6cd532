// BenchFlags: the "--name=value" command-line flags of the durability
// benchmarks (kite_disk_bench, kite_idle_bench). Unknown flags are an error,
// so a typo in bench/*.sh does not silently run the default.
//
// Thread safety: not thread safe; used by main() only.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

namespace kite::bench {

class BenchFlags {
 public:
  // Parses argv; returns false (after printing why) on a malformed or
  // unknown flag. `known` lists the accepted names without "--".
  bool Parse(int argc, char** argv, const std::set<std::string>& known) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      size_t eq = a.find('=');
      if (a.rfind("--", 0) != 0 || eq == std::string::npos) {
        std::fprintf(stderr, "bad flag %s (want --name=value)\n", a.c_str());
        return false;
      }
      std::string name = a.substr(2, eq - 2);
      if (!known.count(name)) {
        std::fprintf(stderr, "unknown flag --%s\n", name.c_str());
        return false;
      }
      values_[name] = a.substr(eq + 1);
    }
    return true;
  }
  std::string Get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  long long GetInt(const std::string& name, long long fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback
                               : std::strtoll(it->second.c_str(), nullptr, 10);
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace kite::bench
