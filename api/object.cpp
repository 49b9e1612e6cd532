#include "api/object.h"

#include <cstdio>
#include <ctime>

namespace kite::api {

const Json* Field(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end()) return nullptr;
  return &*it;
}

const Json* FieldPath(const Json& j,
                      std::initializer_list<std::string_view> path) {
  const Json* cur = &j;
  for (std::string_view key : path) {
    cur = Field(*cur, key);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

std::string GetString(const Json& j,
                      std::initializer_list<std::string_view> path,
                      std::string_view def) {
  const Json* v = FieldPath(j, path);
  if (v == nullptr || !v->is_string()) return std::string(def);
  return v->get<std::string>();
}

int64_t GetInt(const Json& j, std::initializer_list<std::string_view> path,
               int64_t def) {
  const Json* v = FieldPath(j, path);
  if (v == nullptr) return def;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) return static_cast<int64_t>(v->get<double>());
  return def;
}

bool GetBool(const Json& j, std::initializer_list<std::string_view> path,
             bool def) {
  const Json* v = FieldPath(j, path);
  if (v == nullptr || !v->is_boolean()) return def;
  return v->get<bool>();
}

bool Has(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = FieldPath(j, path);
  return v != nullptr && !v->is_null();
}

std::string Name(const Json& obj) {
  return GetString(obj, {"metadata", "name"});
}
std::string Namespace(const Json& obj) {
  return GetString(obj, {"metadata", "namespace"});
}

std::map<std::string, std::string> StringMap(const Json* j) {
  std::map<std::string, std::string> out;
  if (j == nullptr || !j->is_object()) return out;
  for (auto it = j->begin(); it != j->end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::map<std::string, std::string> Labels(const Json& obj) {
  return StringMap(FieldPath(obj, {"metadata", "labels"}));
}

Json& Ensure(Json& obj, std::string_view key) {
  if (obj.is_null()) obj = Json::object();
  Json& v = obj[std::string(key)];
  if (v.is_null()) v = Json::object();
  return v;
}

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::optional<Time> ParseTime(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  int year, mon, day, hour, min, sec;
  if (!Digits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' ||
      !Digits(s, 5, 2, &mon) || s[7] != '-' || !Digits(s, 8, 2, &day) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &min) ||
      s[16] != ':' || !Digits(s, 17, 2, &sec)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
      sec > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() ||
        s[pos + 3] != ':' || !Digits(s, pos + 4, 2, &om)) {
      return std::nullopt;
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  int64_t epoch = static_cast<int64_t>(timegm(&tm)) - offset;
  return Time(std::chrono::duration_cast<Time::duration>(
      std::chrono::seconds(epoch) + std::chrono::nanoseconds(nanos)));
}

namespace {

std::string Format(Time t, bool micro) {
  auto since = t.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since);
  std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  if (micro) {
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(since - secs)
            .count();
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
  }
  return buf;
}

}  // namespace

std::string FormatTime(Time t) { return Format(t, false); }
std::string FormatMicroTime(Time t) { return Format(t, true); }

}  // namespace kite::api
