#include "datastore/history.h"

#include <algorithm>

namespace kite::datastore {

HistoryTracker::HistoryTracker(const Options& options)
    : max_age_(options.history_max_age),
      max_bytes_(options.history_max_bytes) {}

void HistoryTracker::Reset(int64_t compact_rev, int64_t current_rev,
                           int64_t history_bytes, Clock::MonoTime now) {
  compact_rev_ = compact_rev;
  history_bytes_ = history_bytes;
  made_ = history_bytes;
  checkpoints_.clear();
  if (history_bytes > 0 && current_rev > compact_rev) {
    checkpoints_.push_back({current_rev, now, now, made_, 0});
  }
}

void HistoryTracker::OnWrite(int64_t current_rev, int64_t added_bytes,
                             Clock::MonoTime now) {
  if (added_bytes <= 0) return;  // creates make no history: nothing to track
  history_bytes_ += added_bytes;
  made_ += added_bytes;
  if (!checkpoints_.empty()) {
    Checkpoint& last = checkpoints_.back();
    const bool same_bucket =
        now - last.start < std::chrono::seconds(1) &&
        (max_bytes_ <= 0 || made_ - last.start_made <= max_bytes_ / 16);
    if (same_bucket) {
      last.rev = current_rev;
      last.end = now;
      last.made = made_;
      return;
    }
  }
  checkpoints_.push_back({current_rev, now, now, made_, made_ - added_bytes});
}

void HistoryTracker::OnCompacted(int64_t compact_rev, int64_t removed_bytes) {
  compact_rev_ = std::max(compact_rev_, compact_rev);
  history_bytes_ = std::max<int64_t>(0, history_bytes_ - removed_bytes);
  while (!checkpoints_.empty() && checkpoints_.front().rev <= compact_rev_) {
    checkpoints_.pop_front();
  }
  if (checkpoints_.empty()) history_bytes_ = 0;
}

int64_t HistoryTracker::Target(Clock::MonoTime now) const {
  int64_t target = compact_rev_;
  if (max_age_.count() > 0) {
    for (const Checkpoint& c : checkpoints_) {
      if (now - c.end < max_age_) break;
      target = std::max(target, c.rev);
    }
  }
  if (max_bytes_ > 0 && history_bytes_ > max_bytes_) {
    const int64_t keep = max_bytes_ / 4 * 3;
    for (const Checkpoint& c : checkpoints_) {
      if (made_ - c.made <= keep) {
        target = std::max(target, c.rev);
        break;
      }
    }
  }
  return target;
}

std::optional<Clock::MonoTime> HistoryTracker::NextDeadline() const {
  if (checkpoints_.empty() || max_age_.count() <= 0) return std::nullopt;
  return checkpoints_.front().end + max_age_;
}

}  // namespace kite::datastore
