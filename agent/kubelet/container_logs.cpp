#include "agent/kubelet/container_logs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "api/object.h"

namespace kite::kubelet {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxPiece = 1024 * 1024;

std::optional<int64_t> ParseInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool ParseBool(const std::string& s, bool* out) {
  if (s.empty() || s == "true" || s == "1" || s == "True") {
    *out = true;
  } else if (s == "false" || s == "0" || s == "False") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// The offset where the last `n` lines of the file start.
off_t TailStart(int fd, int64_t n) {
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size == 0) return 0;
  off_t end = st.st_size;
  // A final newline ends the last line; it does not start another.
  char last = 0;
  if (pread(fd, &last, 1, end - 1) == 1 && last == '\n') --end;
  if (n <= 0) return st.st_size;
  int64_t found = 0;
  char buf[8192];
  off_t pos = end;
  while (pos > 0) {
    off_t start = std::max<off_t>(0, pos - static_cast<off_t>(sizeof(buf)));
    ssize_t got = pread(fd, buf, static_cast<size_t>(pos - start), start);
    if (got <= 0) return 0;
    for (ssize_t i = got - 1; i >= 0; --i) {
      if (buf[i] == '\n' && ++found == n) return start + i + 1;
    }
    pos = start;
  }
  return 0;
}

}  // namespace

bool ParseCriLogLine(std::string_view line, CriLogEntry* out) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  std::string_view ts = line.substr(0, sp1);
  std::string_view stream = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (stream != "stdout" && stream != "stderr") return false;
  auto time = api::ParseTime(ts);
  if (!time) return false;
  out->timestamp = ts;
  out->time = *time;
  out->is_stderr = stream == "stderr";
  // The tag ("F", "P", possibly more flags separated by ':') then the text.
  size_t sp3 = line.find(' ', sp2 + 1);
  std::string_view tag = sp3 == std::string_view::npos
                             ? line.substr(sp2 + 1)
                             : line.substr(sp2 + 1, sp3 - sp2 - 1);
  if (tag.empty()) return false;
  out->partial = tag.substr(0, tag.find(':')) == "P";
  out->text =
      sp3 == std::string_view::npos ? std::string_view() : line.substr(sp3 + 1);
  return true;
}

StatusOr<LogOptions> ParseLogOptions(
    const std::function<std::string(const char*)>& param,
    const std::function<bool(const char*)>& has, Clock::WallTime now) {
  LogOptions o;
  for (const char* name : {"follow", "timestamps"}) {
    if (!has(name)) continue;
    bool v = false;
    if (!ParseBool(param(name), &v))
      return InvalidArgumentError(std::string("invalid value for ") + name +
                                  ": " + param(name));
    (std::string_view(name) == "follow" ? o.follow : o.timestamps) = v;
  }
  auto int_param = [&](const char* name,
                       std::optional<int64_t>* out) -> Status {
    if (!has(name)) return Status::Ok();
    auto v = ParseInt(param(name));
    if (!v) {
      return InvalidArgumentError(std::string("invalid value for ") + name +
                                  ": " + param(name));
    }
    *out = *v;
    return Status::Ok();
  };
  std::optional<int64_t> since_seconds;
  KITE_RETURN_IF_ERROR(int_param("tailLines", &o.tail_lines));
  KITE_RETURN_IF_ERROR(int_param("limitBytes", &o.limit_bytes));
  KITE_RETURN_IF_ERROR(int_param("sinceSeconds", &since_seconds));
  if (o.tail_lines && *o.tail_lines < 0)
    return InvalidArgumentError(
        "tailLines: must be greater than or equal to 0");
  if (o.limit_bytes && *o.limit_bytes < 1)
    return InvalidArgumentError("limitBytes: must be greater than 0");
  if (since_seconds && *since_seconds < 1)
    return InvalidArgumentError("sinceSeconds: must be greater than 0");
  if (since_seconds && has("sinceTime"))
    return InvalidArgumentError(
        "at most one of sinceTime or sinceSeconds may be specified");
  if (since_seconds) o.since = now - std::chrono::seconds(*since_seconds);
  if (has("sinceTime")) {
    auto t = api::ParseTime(param("sinceTime"));
    if (!t) {
      return InvalidArgumentError("invalid value for sinceTime: " +
                                  param("sinceTime"));
    }
    o.since = *t;
  }
  return o;
}

StatusOr<std::unique_ptr<LogStream>> LogStream::Open(
    const std::string& path, const LogOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return NotFoundError("log file " + path + " not found");
    return UnavailableError("opening " + path + ": " + std::strerror(errno));
  }
  int ino = -1;
  if (options.follow) {
    ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ino < 0 ||
        inotify_add_watch(ino, path.c_str(), IN_MODIFY | IN_CLOSE_WRITE) < 0) {
      Status st =
          UnavailableError(std::string("inotify: ") + std::strerror(errno));
      if (ino >= 0) ::close(ino);
      ::close(fd);
      return st;
    }
  }
  if (options.tail_lines) {
    ::lseek(fd, TailStart(fd, *options.tail_lines), SEEK_SET);
  }
  return std::unique_ptr<LogStream>(new LogStream(fd, ino, options));
}

LogStream::LogStream(int fd, int inotify_fd, LogOptions options)
    : fd_(fd), inotify_fd_(inotify_fd), options_(std::move(options)) {}

LogStream::~LogStream() {
  ::close(fd_);
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

void LogStream::Emit(std::string_view line, std::string* out) {
  if (done_) return;
  CriLogEntry e;
  if (!ParseCriLogLine(line, &e)) return;  // not ours: skipped, as kubelet
  if (options_.since && e.time < *options_.since) return;
  std::string piece;
  if (options_.timestamps) {
    piece.append(e.timestamp);
    piece += ' ';
  }
  piece.append(e.text);
  if (!e.partial) piece += '\n';
  if (options_.limit_bytes) {
    int64_t left = *options_.limit_bytes - written_;
    if (static_cast<int64_t>(piece.size()) >= left) {
      piece.resize(static_cast<size_t>(std::max<int64_t>(0, left)));
      done_ = true;
    }
  }
  written_ += static_cast<int64_t>(piece.size());
  out->append(piece);
}

bool LogStream::ReadAvailable(std::string* out) {
  char buf[kReadChunk];
  size_t start_size = out->size();
  while (!done_) {
    // Hand large logs over in pieces.
    if (out->size() - start_size >= kMaxPiece) return false;
    ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    pending_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (;;) {
      size_t nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      Emit(std::string_view(pending_).substr(start, nl - start), out);
      start = nl + 1;
    }
    pending_.erase(0, start);
    if (static_cast<size_t>(n) < sizeof(buf)) return true;
  }
  return true;
}

bool LogStream::Next(std::string* out, std::chrono::milliseconds wait) {
  if (done_) return false;
  size_t before = out->size();
  bool at_end = ReadAvailable(out);
  if (done_) return false;
  if (!at_end) return true;
  if (!options_.follow) {
    done_ = true;
    return false;
  }
  if (out->size() != before) return true;
  pollfd p{inotify_fd_, POLLIN, 0};
  int n = ::poll(&p, 1, static_cast<int>(wait.count()));
  if (n > 0) {
    char ev[4096];
    while (::read(inotify_fd_, ev, sizeof(ev)) > 0) {
    }
    ReadAvailable(out);
  }
  return !done_;
}

void LogStream::Finish(std::string* out) {
  while (!ReadAvailable(out)) {
  }
  done_ = true;
}

}  // namespace kite::kubelet
