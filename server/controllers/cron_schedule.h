// CronSchedule: the standard five-field cron schedule of CronJob
// .spec.schedule, evaluated in UTC.
//
//   minute hour day-of-month month day-of-week
//
// Each field is "*" (or "?"), a value, a range "a-b", a step "*/n",
// "a-b/n" or "a/n" (from a to the field's maximum), or a comma-separated
// list of those. Months take JAN..DEC and weekdays SUN..SAT (any case); a
// weekday of 7 is Sunday too. When both day-of-month and day-of-week are
// restricted, a day matching either runs (as Vixie cron). The macros
// @yearly/@annually, @monthly, @weekly, @daily/@midnight and @hourly stand
// for their usual five fields.
//
//   auto s = CronSchedule::Parse("*/15 9-17 * * MON-FRI");
//   std::optional<api::Time> t = s->Next(now);  // strictly after now
//
// Thread safety: an immutable value after Parse().
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "api/object.h"
#include "common/status.h"

namespace kite::controllers {

class CronSchedule {
 public:
  // kInvalidArgument with the offending field when `spec` does not parse.
  static StatusOr<CronSchedule> Parse(std::string_view spec);

  // The first scheduled minute strictly after `after`; nullopt when none
  // comes within five years (e.g. "0 0 30 2 *").
  std::optional<api::Time> Next(api::Time after) const;

 private:
  bool DayMatches(unsigned day_of_month, unsigned weekday) const;

  std::bitset<60> minute_;
  std::bitset<24> hour_;
  std::bitset<32> dom_;    // 1..31
  std::bitset<13> month_;  // 1..12
  std::bitset<7> dow_;     // 0 = Sunday
  bool dom_any_ = false;
  bool dow_any_ = false;
};

}  // namespace kite::controllers
