#include "cmd/flags.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <sstream>

namespace kite::cmd {

void FlagSet::String(const std::string& name, std::string* dest, const std::string& help) {
  flags_.push_back({name, Type::kString, dest, help});
}
void FlagSet::Int(const std::string& name, int* dest, const std::string& help) {
  flags_.push_back({name, Type::kInt, dest, help});
}
void FlagSet::Bool(const std::string& name, bool* dest, const std::string& help) {
  flags_.push_back({name, Type::kBool, dest, help});
}
void FlagSet::StringList(const std::string& name, std::vector<std::string>* dest, const std::string& help) {
  flags_.push_back({name, Type::kStringList, dest, help});
}

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  for (auto& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Status FlagSet::Set(Flag& flag, const std::string& value, const std::string& source) {
  switch (flag.type) {
    case Type::kString:
      *static_cast<std::string*>(flag.dest) = value;
      return Status::Ok();
    case Type::kStringList:
      static_cast<std::vector<std::string>*>(flag.dest)->push_back(value);
      return Status::Ok();
    case Type::kInt: {
      int v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return InvalidArgumentError(source + ": --" + flag.name + " wants a whole number, got \"" + value + "\"");
      }
      *static_cast<int*>(flag.dest) = v;
      return Status::Ok();
    }
    case Type::kBool:
      if (value == "true" || value == "1") {
        *static_cast<bool*>(flag.dest) = true;
      } else if (value == "false" || value == "0") {
        *static_cast<bool*>(flag.dest) = false;
      } else {
        return InvalidArgumentError(source + ": --" + flag.name + " wants true or false, got \"" + value + "\"");
      }
      return Status::Ok();
  }
  return InternalError("unknown flag type");
}

Status FlagSet::Parse(const std::vector<std::string>& args, Env& env, const std::string& config_path,
                      bool config_required) {
  std::vector<std::string> cleared_lists;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    Flag* f = Find(name);
    if (f == nullptr) return InvalidArgumentError("kite " + command_ + ": unknown flag --" + name);
    if (!has_value) {
      if (f->type == Type::kBool) {
        value = "true";
      } else {
        if (i + 1 >= args.size()) return InvalidArgumentError("kite " + command_ + ": --" + name + " needs a value");
        value = args[++i];
      }
    }
    f->set_on_command_line = true;
    KITE_RETURN_IF_ERROR(Set(*f, value, "command line"));
  }
  if (config_path.empty()) return Status::Ok();
  auto text = env.ReadFile(config_path);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound && !config_required) return Status::Ok();
    return text.status();
  }
  return ApplyConfig(*text, config_path);
}

Status FlagSet::ApplyConfig(const std::string& text, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(path + ": not valid YAML: " + e.what());
  }
  if (root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return InvalidArgumentError(path + ": must be a mapping of flag names to values");
  for (const auto& kv : root) {
    std::string name;
    try {
      name = kv.first.as<std::string>();
    } catch (const YAML::Exception&) {
      return InvalidArgumentError(path + ": keys must be flag names");
    }
    Flag* f = Find(name);
    if (f == nullptr && ignore_unknown_config_keys_) continue;
    if (f == nullptr) return InvalidArgumentError(path + ": unknown key \"" + name + "\" (not a flag of kite " + command_ + ")");
    if (f->set_on_command_line) continue;  // the command line wins
    try {
      if (f->type == Type::kStringList && kv.second.IsSequence()) {
        for (const auto& item : kv.second) KITE_RETURN_IF_ERROR(Set(*f, item.as<std::string>(), path));
      } else if (kv.second.IsScalar()) {
        KITE_RETURN_IF_ERROR(Set(*f, kv.second.as<std::string>(), path));
      } else {
        return InvalidArgumentError(path + ": \"" + name + "\" must be a single value");
      }
    } catch (const YAML::Exception& e) {
      return InvalidArgumentError(path + ": \"" + name + "\": " + e.what());
    }
  }
  return Status::Ok();
}

std::string FlagSet::Usage() const {
  std::ostringstream out;
  out << "usage: kite " << command_ << " [flags]\n\nflags:\n";
  for (const auto& f : flags_) {
    std::string def;
    switch (f.type) {
      case Type::kString: def = *static_cast<const std::string*>(f.dest); break;
      case Type::kInt: def = std::to_string(*static_cast<const int*>(f.dest)); break;
      case Type::kBool: def = *static_cast<const bool*>(f.dest) ? "true" : "false"; break;
      case Type::kStringList: break;
    }
    out << "  --" << f.name << "  " << f.help;
    if (!def.empty()) out << " (default " << def << ")";
    out << "\n";
  }
  return out.str();
}

}  // namespace kite::cmd
