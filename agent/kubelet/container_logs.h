// Container logs as `kubectl logs` shows them, read from the CRI log files
// containerd writes (agent/cri/runtime.h conventions): each file line is
//   <RFC3339Nano timestamp> <stdout|stderr> <F|P> <text>
// where F ends a log line and P is a partial piece the next entry continues.
//
// LogStream turns one such file into the bytes of the log: the text of each
// entry, a newline after F entries, optionally prefixed with its timestamp
// ("timestamps"), only entries at or after `since`, only the last
// `tail_lines` file lines, at most `limit_bytes` bytes. With `follow` the
// stream keeps reading what the runtime appends (inotify, no polling) until
// the caller says to stop (the container ended, the client went away).
//
// Thread safety: a LogStream is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace kite::kubelet {

struct LogOptions {
  bool follow = false;
  bool timestamps = false;
  std::optional<int64_t> tail_lines;   // the last N file lines only
  std::optional<int64_t> limit_bytes;  // stop after this many bytes
  std::optional<Clock::WallTime> since;
};

// One line of a CRI log file.
struct CriLogEntry {
  std::string_view timestamp;  // as written (RFC3339Nano)
  Clock::WallTime time;
  bool is_stderr = false;
  bool partial = false;  // "P": the next entry continues this line
  std::string_view text;
};

// Parses `line` (without its '\n'); false when it is not in the CRI format.
bool ParseCriLogLine(std::string_view line, CriLogEntry* out);

// Parses the query of GET /containerLogs (follow, timestamps, tailLines,
// limitBytes, sinceSeconds, sinceTime) the way the kubelet does; `now`
// anchors sinceSeconds. InvalidArgument with a message for kubectl when a
// value is malformed or negative.
StatusOr<LogOptions> ParseLogOptions(
    const std::function<std::string(const char*)>& param,
    const std::function<bool(const char*)>& has, Clock::WallTime now);

class LogStream {
 public:
  // Opens `path`. NotFound when it does not exist.
  static StatusOr<std::unique_ptr<LogStream>> Open(const std::string& path,
                                                   const LogOptions& options);
  ~LogStream();
  LogStream(const LogStream&) = delete;
  LogStream& operator=(const LogStream&) = delete;

  // Appends the next piece of the log to `out`. Without follow, reads what
  // the file holds; with follow, waits up to `wait` for more to be written
  // when nothing is left. Returns false once the stream is finished (end of
  // file without follow, the byte limit reached); `out` may then still have
  // received a last piece.
  bool Next(std::string* out, std::chrono::milliseconds wait);
  // With follow: reads what is left and finishes (the container ended).
  void Finish(std::string* out);

 private:
  LogStream(int fd, int inotify_fd, LogOptions options);
  // Reads available bytes (up to about 1 MiB of output) and emits the
  // complete lines among them; true when the end of the file was reached.
  bool ReadAvailable(std::string* out);
  void Emit(std::string_view line, std::string* out);

  int fd_;
  int inotify_fd_;  // -1 without follow
  LogOptions options_;
  std::string pending_;  // read, not yet a complete file line
  int64_t written_ = 0;
  bool done_ = false;
};

}  // namespace kite::kubelet
