// FlagSet: the command line and /etc/kite/config.yaml of one subcommand.
//
// Flags are registered with a pointer to their destination (which holds the
// default). Parse() reads, in order of precedence: the command line
// (`--name=value`, `--name value`, `--bool-flag`, `--bool-flag=false`), then
// the config file, whose keys are the long flag names (k3s style), then the
// defaults. Unknown flags or config keys, missing values and malformed
// numbers are errors that name the culprit.
//
// Thread safety: none; used on the main thread before anything starts.
#pragma once

#include <string>
#include <vector>

#include "common/env.h"
#include "common/status.h"

namespace kite::cmd {

class FlagSet {
 public:
  explicit FlagSet(std::string command) : command_(std::move(command)) {}

  void String(const std::string& name, std::string* dest, const std::string& help);
  void Int(const std::string& name, int* dest, const std::string& help);
  void Bool(const std::string& name, bool* dest, const std::string& help);
  // Repeatable: each --name adds one value; a config file gives a YAML list.
  void StringList(const std::string& name, std::vector<std::string>* dest, const std::string& help);

  // Parses `args` (without the program and subcommand names). Positional
  // arguments are returned in positional(). `config_path` is read through
  // `env` when it exists; a missing file is fine unless `config_required`.
  Status Parse(const std::vector<std::string>& args, Env& env, const std::string& config_path,
               bool config_required);

  // Config keys that are not flags of this command are skipped instead of
  // refused (for commands that share the server's config file).
  void IgnoreUnknownConfigKeys() { ignore_unknown_config_keys_ = true; }

  const std::vector<std::string>& positional() const { return positional_; }
  // True when --help was given.
  bool help() const { return help_; }
  std::string Usage() const;

 private:
  enum class Type { kString, kInt, kBool, kStringList };
  struct Flag {
    std::string name;
    Type type;
    void* dest;
    std::string help;
    bool set_on_command_line = false;
  };
  Flag* Find(const std::string& name);
  Status Set(Flag& flag, const std::string& value, const std::string& source);
  Status ApplyConfig(const std::string& text, const std::string& path);

  std::string command_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_ = false;
  bool ignore_unknown_config_keys_ = false;
};

}  // namespace kite::cmd
