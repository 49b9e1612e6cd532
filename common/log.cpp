#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace kite::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

char LevelLetter(Level level) {
  switch (level) {
    case Level::kDebug: return 'D';
    case Level::kInfo: return 'I';
    case Level::kWarn: return 'W';
    case Level::kError: return 'E';
  }
  return '?';
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') return true;
  }
  return false;
}

}  // namespace

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }

bool ParseLevel(std::string_view text, Level* level) {
  if (text == "debug") *level = Level::kDebug;
  else if (text == "info") *level = Level::kInfo;
  else if (text == "warn") *level = Level::kWarn;
  else if (text == "error") *level = Level::kError;
  else return false;
  return true;
}

Line::Line(Level level, std::string_view component, std::string_view message)
    : enabled_(static_cast<int>(level) >= g_level.load()), level_(level) {
  if (!enabled_) return;
  text_.reserve(128);
  text_ += LevelLetter(level_);
  text_ += ' ';
  text_ += Timestamp();
  text_ += ' ';
  text_ += component;
  text_ += ' ';
  text_ += message;
}

void Line::AddField(std::string_view key, const std::string& value) {
  text_ += ' ';
  text_ += key;
  text_ += '=';
  if (!NeedsQuotes(value)) {
    text_ += value;
    return;
  }
  text_ += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') text_ += '\\';
    if (c == '\n') {
      text_ += "\\n";
      continue;
    }
    text_ += c;
  }
  text_ += '"';
}

Line::~Line() {
  if (!enabled_) return;
  text_ += '\n';
  // One write(2) per line keeps lines from different threads whole.
  ssize_t unused = ::write(STDERR_FILENO, text_.data(), text_.size());
  (void)unused;
}

}  // namespace kite::log
