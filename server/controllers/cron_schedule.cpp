#include "server/controllers/cron_schedule.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <vector>

namespace kite::controllers {
namespace {

constexpr const char* kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDays[] = {"SUN", "MON", "TUE", "WED",
                                 "THU", "FRI", "SAT"};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

struct Field {
  const char* what;
  int min, max;
  const char* const* names;  // names[i] is min + i, or nullptr
  int name_count;
};

// A number or (for months and weekdays) a name.
std::optional<int> Value(std::string_view s, const Field& f) {
  if (s.empty()) return std::nullopt;
  if (std::all_of(s.begin(), s.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    if (s.size() > 4) return std::nullopt;
    int v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return v;
  }
  if (f.names == nullptr || s.size() != 3) return std::nullopt;
  std::string up(s);
  for (char& c : up)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (int i = 0; i < f.name_count; ++i) {
    if (up == f.names[i]) return f.min + i;
  }
  return std::nullopt;
}

// Sets the bits of `spec` in `bits` (indexed by value); `any` when "*".
template <size_t N>
Status ParseField(std::string_view spec, const Field& f, std::bitset<N>& bits,
                  bool* any) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("invalid " + std::string(f.what) + " field \"" +
                                std::string(spec) + "\": " + std::string(why));
  };
  if (spec.empty()) return bad("empty");
  *any = spec == "*" || spec == "?";
  for (std::string_view item : Split(spec, ',')) {
    int step = 1;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      std::optional<int> s =
          Value(item.substr(slash + 1), {f.what, 0, 0, nullptr, 0});
      if (!s || *s <= 0) return bad("bad step");
      step = *s;
      item = item.substr(0, slash);
      if (item != "*" && item != "?") *any = false;
    }
    int lo, hi;
    if (item == "*" || item == "?") {
      lo = f.min;
      hi = f.max;
    } else if (size_t dash = item.find('-'); dash != std::string_view::npos) {
      std::optional<int> a = Value(item.substr(0, dash), f);
      std::optional<int> b = Value(item.substr(dash + 1), f);
      if (!a || !b) return bad("bad range");
      lo = *a;
      hi = *b;
    } else {
      std::optional<int> a = Value(item, f);
      if (!a) return bad("bad value");
      lo = *a;
      // "a/n" runs from a to the maximum.
      hi = step > 1 ? f.max : *a;
    }
    int max = f.max;
    if (f.names == kDays && hi == 7) max = 7;  // 7 is Sunday too
    if (lo < f.min || hi > max || lo > hi) return bad("out of range");
    for (int v = lo; v <= hi; v += step) bits.set(static_cast<size_t>(v % N));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<CronSchedule> CronSchedule::Parse(std::string_view spec) {
  std::string s(spec);
  // Trim.
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.pop_back();
  size_t first = s.find_first_not_of(" \t");
  s = first == std::string::npos ? "" : s.substr(first);
  if (s == "@yearly" || s == "@annually") s = "0 0 1 1 *";
  if (s == "@monthly") s = "0 0 1 * *";
  if (s == "@weekly") s = "0 0 * * 0";
  if (s == "@daily" || s == "@midnight") s = "0 0 * * *";
  if (s == "@hourly") s = "0 * * * *";
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(s, ' ')) {
    if (!f.empty() && f.find('\t') == std::string_view::npos) {
      fields.push_back(f);
    } else if (!f.empty()) {
      for (std::string_view g : Split(f, '\t')) {
        if (!g.empty()) fields.push_back(g);
      }
    }
  }
  if (fields.size() != 5) {
    return InvalidArgumentError("expected exactly 5 fields, found " +
                                std::to_string(fields.size()) + ": \"" +
                                std::string(spec) + "\"");
  }
  CronSchedule c;
  bool unused;
  KITE_RETURN_IF_ERROR(
      ParseField(fields[0], {"minute", 0, 59, nullptr, 0}, c.minute_, &unused));
  KITE_RETURN_IF_ERROR(
      ParseField(fields[1], {"hour", 0, 23, nullptr, 0}, c.hour_, &unused));
  KITE_RETURN_IF_ERROR(ParseField(
      fields[2], {"day-of-month", 1, 31, nullptr, 0}, c.dom_, &c.dom_any_));
  KITE_RETURN_IF_ERROR(
      ParseField(fields[3], {"month", 1, 12, kMonths, 12}, c.month_, &unused));
  KITE_RETURN_IF_ERROR(ParseField(fields[4], {"day-of-week", 0, 6, kDays, 7},
                                  c.dow_, &c.dow_any_));
  return c;
}

bool CronSchedule::DayMatches(unsigned day_of_month, unsigned weekday) const {
  bool dom = dom_[day_of_month];
  bool dow = dow_[weekday];
  if (dom_any_ || dow_any_) return dom && dow;
  return dom || dow;
}

std::optional<api::Time> CronSchedule::Next(api::Time after) const {
  using namespace std::chrono;
  auto start = floor<minutes>(after) + minutes(1);
  sys_days first_day = floor<days>(start);
  auto in_day = start - first_day;
  int start_hour = static_cast<int>(duration_cast<hours>(in_day).count());
  int start_min = static_cast<int>(
      duration_cast<minutes>(in_day - hours(start_hour)).count());
  for (int i = 0; i < 366 * 5; ++i) {
    sys_days d = first_day + days(i);
    year_month_day ymd{d};
    weekday wd{d};
    if (!month_[static_cast<unsigned>(ymd.month())] ||
        !DayMatches(static_cast<unsigned>(ymd.day()), wd.c_encoding())) {
      continue;
    }
    for (int h = i == 0 ? start_hour : 0; h < 24; ++h) {
      if (!hour_[h]) continue;
      int m0 = (i == 0 && h == start_hour) ? start_min : 0;
      for (int m = m0; m < 60; ++m) {
        if (minute_[m]) {
          return time_point_cast<api::Time::duration>(d + hours(h) +
                                                      minutes(m));
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace kite::controllers
