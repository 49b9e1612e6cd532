#include "server/controllers/cron_schedule.h"

#include <gtest/gtest.h>

namespace kite::controllers {
namespace {

api::Time T(const char* text) { return *api::ParseTime(text); }

std::string NextAfter(const char* spec, const char* after) {
  auto s = CronSchedule::Parse(spec);
  EXPECT_TRUE(s.ok()) << spec << ": " << s.status().ToString();
  if (!s.ok()) return "";
  auto n = s->Next(T(after));
  return n ? api::FormatTime(*n) : "never";
}

TEST(CronScheduleTest, EveryMinuteIsStrictlyAfter) {
  EXPECT_EQ(NextAfter("* * * * *", "2024-03-10T10:15:00Z"),
            "2024-03-10T10:16:00Z");
  EXPECT_EQ(NextAfter("* * * * *", "2024-03-10T10:15:59Z"),
            "2024-03-10T10:16:00Z");
}

TEST(CronScheduleTest, StepsRangesAndLists) {
  EXPECT_EQ(NextAfter("*/15 * * * *", "2024-03-10T10:16:00Z"),
            "2024-03-10T10:30:00Z");
  EXPECT_EQ(NextAfter("5,35 9-10 * * *", "2024-03-10T10:36:00Z"),
            "2024-03-11T09:05:00Z");
  EXPECT_EQ(NextAfter("10-40/10 * * * *", "2024-03-10T10:41:00Z"),
            "2024-03-10T11:10:00Z");
  EXPECT_EQ(NextAfter("50/5 * * * *", "2024-03-10T10:56:00Z"),
            "2024-03-10T11:50:00Z");
}

TEST(CronScheduleTest, NamesAndWeekdays) {
  // 2024-03-10 is a Sunday.
  EXPECT_EQ(NextAfter("0 9 * * MON-FRI", "2024-03-09T12:00:00Z"),
            "2024-03-11T09:00:00Z");
  EXPECT_EQ(NextAfter("0 0 * * 7", "2024-03-09T12:00:00Z"),
            "2024-03-10T00:00:00Z");
  EXPECT_EQ(NextAfter("0 0 1 jun *", "2024-03-09T12:00:00Z"),
            "2024-06-01T00:00:00Z");
}

TEST(CronScheduleTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // The 15th, or any Friday: Friday 2024-03-15... and Friday the 8th.
  EXPECT_EQ(NextAfter("0 0 15 * FRI", "2024-03-01T12:00:00Z"),
            "2024-03-08T00:00:00Z");
}

TEST(CronScheduleTest, Macros) {
  EXPECT_EQ(NextAfter("@hourly", "2024-03-10T10:15:00Z"),
            "2024-03-10T11:00:00Z");
  EXPECT_EQ(NextAfter("@daily", "2024-03-10T10:15:00Z"),
            "2024-03-11T00:00:00Z");
  EXPECT_EQ(NextAfter("@weekly", "2024-03-10T10:15:00Z"),
            "2024-03-17T00:00:00Z");
  EXPECT_EQ(NextAfter("@monthly", "2024-03-10T10:15:00Z"),
            "2024-04-01T00:00:00Z");
  EXPECT_EQ(NextAfter("@yearly", "2024-03-10T10:15:00Z"),
            "2025-01-01T00:00:00Z");
  EXPECT_EQ(NextAfter("0 0 29 2 *", "2024-03-10T10:15:00Z"),
            "2028-02-29T00:00:00Z");
  EXPECT_EQ(NextAfter("0 0 30 2 *", "2024-03-10T10:15:00Z"), "never");
}

TEST(CronScheduleTest, RejectsMalformedSchedules) {
  for (const char* bad :
       {"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
        "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "x * * * *",
        "* * * FOO *", "@every 5m"}) {
    auto s = CronSchedule::Parse(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), Code::kInvalidArgument) << bad;
    }
  }
}

}  // namespace
}  // namespace kite::controllers
