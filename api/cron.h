// Standard 5-field cron schedules ("*/5 * * * *", "0 3 * * mon-fri",
// "@daily"), as CronJob.spec.schedule takes them (robfig/cron's
// ParseStandard, which Kubernetes uses), with its error texts.
//
// Thread safety: immutable after Parse.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "api/object.h"
#include "common/status.h"

namespace kite::api {

class CronSchedule {
 public:
  // InvalidArgument with robfig/cron's message, e.g. "expected exactly 5
  // fields, found 3: [* * *]" or "end of range (60) above maximum (59): 0-60".
  static StatusOr<CronSchedule> Parse(std::string_view spec);

  // The first activation strictly after `t` (minute resolution, UTC);
  // nullopt when none within five years.
  std::optional<Time> Next(Time t) const;

 private:
  uint64_t minute_ = 0, hour_ = 0, dom_ = 0, month_ = 0, dow_ = 0;
  bool dom_star_ = false, dow_star_ = false;
};

}  // namespace kite::api
