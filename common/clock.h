// Clock: the one way kite logic learns the time or waits for it.
//
// Logic never calls std::chrono::*::now() directly; it is handed a Clock so
// tests can use FakeClock and stay hermetic and fast. RealClock() returns a
// process-wide clock that reads the system clocks.
//
// Thread safety: all methods of both implementations may be called from any
// thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace kite {

class Clock {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  using MonoTime = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Wall-clock time, for timestamps that leave the process (creationTimestamp).
  virtual WallTime Now() = 0;
  // Monotonic time, for deadlines, ages and intervals.
  virtual MonoTime Monotonic() = 0;
};

// The process-wide real clock. Never null; owned by the process.
Clock& RealClock();

// A clock that moves only when told to. Starts at a fixed, arbitrary instant.
class FakeClock : public Clock {
 public:
  FakeClock();
  WallTime Now() override;
  MonoTime Monotonic() override;
  // Moves both clocks forward by `d`.
  void Advance(std::chrono::nanoseconds d);

 private:
  std::mutex mu_;
  WallTime wall_;
  MonoTime mono_;
};

}  // namespace kite
