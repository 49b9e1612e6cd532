// The one logging facade of kite.
//
//   log::Info("datastore", "compacted")("revision", rev)("deleted", n);
//
// writes one line to stderr when the temporary goes out of scope:
//   I 2026-11-22T01:02:03.456Z datastore compacted revision=42 deleted=7
// Values with spaces or quotes are quoted. An error is logged once, where it
// is handled, not at every level it passes through.
//
// Thread safety: lines from different threads never interleave; SetLevel may
// be called at any time.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace kite::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
// Parses "debug", "info", "warn" or "error"; returns false for anything else.
bool ParseLevel(std::string_view text, Level* level);

class Line {
 public:
  Line(Level level, std::string_view component, std::string_view message);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  template <typename T>
  Line& operator()(std::string_view key, const T& value) {
    if (enabled_) {
      std::ostringstream v;
      v << value;
      AddField(key, v.str());
    }
    return *this;
  }

 private:
  void AddField(std::string_view key, const std::string& value);
  bool enabled_;
  Level level_;
  std::string text_;
};

inline Line Debug(std::string_view c, std::string_view m) { return Line(Level::kDebug, c, m); }
inline Line Info(std::string_view c, std::string_view m) { return Line(Level::kInfo, c, m); }
inline Line Warn(std::string_view c, std::string_view m) { return Line(Level::kWarn, c, m); }
inline Line Error(std::string_view c, std::string_view m) { return Line(Level::kError, c, m); }

}  // namespace kite::log
