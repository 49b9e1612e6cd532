#include "common/clock.h"

namespace kite {
namespace {

class SystemClock : public Clock {
 public:
  WallTime Now() override { return std::chrono::system_clock::now(); }
  MonoTime Monotonic() override { return std::chrono::steady_clock::now(); }
};

}  // namespace

Clock& RealClock() {
  static SystemClock* clock = new SystemClock();  // never destroyed: no exit-order hazards
  return *clock;
}

FakeClock::FakeClock()
    : wall_(std::chrono::system_clock::time_point(std::chrono::seconds(1'780'000'000))),
      mono_(std::chrono::steady_clock::time_point(std::chrono::hours(1000))) {}

Clock::WallTime FakeClock::Now() {
  std::lock_guard<std::mutex> l(mu_);
  return wall_;
}

Clock::MonoTime FakeClock::Monotonic() {
  std::lock_guard<std::mutex> l(mu_);
  return mono_;
}

void FakeClock::Advance(std::chrono::nanoseconds d) {
  std::lock_guard<std::mutex> l(mu_);
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  mono_ += d;
}

}  // namespace kite
