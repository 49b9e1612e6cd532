#include "api/cron.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <string>
#include <vector>

namespace kite::api {
namespace {

struct Bounds {
  unsigned min, max;
  const char* const* names;  // lowercase names from `min`, or nullptr
};

const char* const kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",  "jul",
                               "aug", "sep", "oct", "nov", "dec", nullptr};
const char* const kDays[] = {"sun", "mon", "tue", "wed",
                             "thu", "fri", "sat", nullptr};

constexpr uint64_t kStarBit = 1ull << 63;

StatusOr<unsigned> MustParseInt(const std::string& expr) {
  if (expr.empty()) {
    return InvalidArgumentError("failed to parse int from " + expr +
                                ": strconv.Atoi: parsing \"" + expr +
                                "\": invalid syntax");
  }
  size_t i = 0;
  bool neg = false;
  if (expr[0] == '-' || expr[0] == '+') {
    neg = expr[0] == '-';
    i = 1;
  }
  long v = 0;
  if (i >= expr.size()) {
    return InvalidArgumentError("failed to parse int from " + expr +
                                ": strconv.Atoi: parsing \"" + expr +
                                "\": invalid syntax");
  }
  for (; i < expr.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(expr[i]))) {
      return InvalidArgumentError("failed to parse int from " + expr +
                                  ": strconv.Atoi: parsing \"" + expr +
                                  "\": invalid syntax");
    }
    v = v * 10 + (expr[i] - '0');
    if (v > 1000000000) {
      return InvalidArgumentError("failed to parse int from " + expr +
                                  ": strconv.Atoi: parsing \"" + expr +
                                  "\": value out of range");
    }
  }
  if (neg && v != 0) {
    return InvalidArgumentError("negative number (-" + std::to_string(v) +
                                ") not allowed: " + expr);
  }
  return static_cast<unsigned>(v);
}

StatusOr<unsigned> ParseIntOrName(const std::string& expr, const Bounds& b) {
  if (b.names != nullptr) {
    std::string lower = expr;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    for (unsigned i = 0; b.names[i] != nullptr; ++i) {
      if (lower == b.names[i]) return b.min + i;
    }
  }
  return MustParseInt(expr);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(
        start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

StatusOr<uint64_t> GetRange(const std::string& expr, const Bounds& r) {
  std::vector<std::string> range_and_step = Split(expr, '/');
  std::vector<std::string> low_high = Split(range_and_step[0], '-');
  bool single = low_high.size() == 1;
  unsigned start, end, step;
  uint64_t extra = 0;
  if (low_high[0] == "*" || low_high[0] == "?") {
    start = r.min;
    end = r.max;
    extra = kStarBit;
  } else {
    KITE_ASSIGN_OR_RETURN(start, ParseIntOrName(low_high[0], r));
    if (low_high.size() == 1) {
      end = start;
    } else if (low_high.size() == 2) {
      KITE_ASSIGN_OR_RETURN(end, ParseIntOrName(low_high[1], r));
    } else {
      return InvalidArgumentError("too many hyphens: " + expr);
    }
  }
  if (range_and_step.size() == 1) {
    step = 1;
  } else if (range_and_step.size() == 2) {
    KITE_ASSIGN_OR_RETURN(step, MustParseInt(range_and_step[1]));
    if (single) end = r.max;
    if (step > 1) extra = 0;
  } else {
    return InvalidArgumentError("too many slashes: " + expr);
  }
  if (start < r.min) {
    return InvalidArgumentError("beginning of range (" + std::to_string(start) +
                                ") below minimum (" + std::to_string(r.min) +
                                "): " + expr);
  }
  if (end > r.max) {
    return InvalidArgumentError("end of range (" + std::to_string(end) +
                                ") above maximum (" + std::to_string(r.max) +
                                "): " + expr);
  }
  if (start > end) {
    return InvalidArgumentError("beginning of range (" + std::to_string(start) +
                                ") beyond end of range (" +
                                std::to_string(end) + "): " + expr);
  }
  if (step == 0)
    return InvalidArgumentError("step of range should be a positive number: " +
                                expr);
  uint64_t bits = 0;
  for (unsigned i = start; i <= end; i += step) bits |= 1ull << i;
  return bits | extra;
}

StatusOr<uint64_t> GetField(const std::string& field, const Bounds& r) {
  uint64_t bits = 0;
  for (const std::string& expr : Split(field, ',')) {
    KITE_ASSIGN_OR_RETURN(uint64_t b, GetRange(expr, r));
    bits |= b;
  }
  return bits;
}

}  // namespace

StatusOr<CronSchedule> CronSchedule::Parse(std::string_view spec_in) {
  std::string spec(spec_in);
  if (spec.empty()) return InvalidArgumentError("empty spec string");
  if (spec.rfind("TZ=", 0) == 0 || spec.rfind("CRON_TZ=", 0) == 0) {
    size_t sp = spec.find(' ');
    if (sp == std::string::npos)
      return InvalidArgumentError("provided bad location " + spec);
    spec = spec.substr(sp + 1);
  }
  if (!spec.empty() && spec[0] == '@') {
    static const struct {
      const char* name;
      const char* expr;
    } kDescriptors[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                        {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                        {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                        {"@hourly", "0 * * * *"}};
    for (const auto& d : kDescriptors) {
      if (spec == d.name) return Parse(d.expr);
    }
    if (spec.rfind("@every ", 0) == 0) {
      return InvalidArgumentError("@every is not supported by kite: " + spec);
    }
    return InvalidArgumentError("unrecognized descriptor: " + spec);
  }
  std::vector<std::string> fields;
  {
    size_t i = 0;
    while (i < spec.size()) {
      while (i < spec.size() &&
             std::isspace(static_cast<unsigned char>(spec[i])))
        ++i;
      size_t j = i;
      while (j < spec.size() &&
             !std::isspace(static_cast<unsigned char>(spec[j])))
        ++j;
      if (j > i) fields.push_back(spec.substr(i, j - i));
      i = j;
    }
  }
  if (fields.size() != 5) {
    std::string list = "[";
    for (size_t i = 0; i < fields.size(); ++i)
      list += (i ? " " : "") + fields[i];
    list += "]";
    return InvalidArgumentError("expected exactly 5 fields, found " +
                                std::to_string(fields.size()) + ": " + list);
  }
  CronSchedule s;
  KITE_ASSIGN_OR_RETURN(s.minute_, GetField(fields[0], {0, 59, nullptr}));
  KITE_ASSIGN_OR_RETURN(s.hour_, GetField(fields[1], {0, 23, nullptr}));
  KITE_ASSIGN_OR_RETURN(s.dom_, GetField(fields[2], {1, 31, nullptr}));
  KITE_ASSIGN_OR_RETURN(s.month_, GetField(fields[3], {1, 12, kMonths}));
  KITE_ASSIGN_OR_RETURN(s.dow_, GetField(fields[4], {0, 6, kDays}));
  s.dom_star_ = (s.dom_ & kStarBit) != 0;
  s.dow_star_ = (s.dow_ & kStarBit) != 0;
  return s;
}

std::optional<Time> CronSchedule::Next(Time t) const {
  using std::chrono::minutes;
  auto secs = std::chrono::floor<minutes>(t.time_since_epoch()) + minutes(1);
  // Minute-by-minute search bounded to five years; hours and days that do
  // not match are skipped whole.
  const int64_t limit = 5LL * 366 * 24 * 60;
  int64_t m = std::chrono::duration_cast<minutes>(secs).count();
  for (int64_t steps = 0; steps < limit; ++steps) {
    std::time_t tt = static_cast<std::time_t>(m * 60);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    bool month_ok = (month_ >> (tm.tm_mon + 1)) & 1;
    bool dom_ok = (dom_ >> tm.tm_mday) & 1;
    bool dow_ok = (dow_ >> tm.tm_wday) & 1;
    // Day matching as cron: when either day field is '*', both must match;
    // otherwise either may.
    bool day_ok =
        (dom_star_ || dow_star_) ? (dom_ok && dow_ok) : (dom_ok || dow_ok);
    if (!month_ok || !day_ok) {
      m += (24 - tm.tm_hour) * 60 - tm.tm_min;
      continue;
    }
    if (!((hour_ >> tm.tm_hour) & 1)) {
      m += 60 - tm.tm_min;
      continue;
    }
    if ((minute_ >> tm.tm_min) & 1)
      return Time(std::chrono::duration_cast<Time::duration>(minutes(m)));
    ++m;
  }
  return std::nullopt;
}

}  // namespace kite::api
