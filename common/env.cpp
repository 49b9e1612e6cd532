#include "common/env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kite {
namespace {

Status ErrnoStatus(const std::string& what, const std::string& path) {
  int err = errno;
  std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFoundError(msg);
  if (err == EACCES || err == EPERM) return Status(Code::kPermissionDenied, msg);
  return InternalError(msg);
}

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

class PosixEnv : public Env {
 public:
  StatusOr<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path);
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        Status st = ErrnoStatus("read", path);
        ::close(fd);
        return st;
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) override {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return ErrnoStatus("create", tmp);
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
      Status st = ErrnoStatus("chmod", tmp);
      ::close(fd);
      return st;
    }
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        Status st = ErrnoStatus("write", tmp);
        ::close(fd);
        return st;
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
      Status st = ErrnoStatus("fsync", tmp);
      ::close(fd);
      return st;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename", tmp);
    int dfd = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return Status::Ok();
  }

  Status MakeDirs(const std::string& path, int mode) override {
    if (path.empty()) return InvalidArgumentError("empty directory path");
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status::Ok();
      return FailedPreconditionError(path + " exists and is not a directory");
    }
    std::string parent = DirName(path);
    if (parent != path) KITE_RETURN_IF_ERROR(MakeDirs(parent, mode));
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir", path);
    }
    return Status::Ok();
  }

  bool Exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("remove", path);
    return Status::Ok();
  }
};

}  // namespace

Env& RealEnv() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: no exit-order hazards
  return *env;
}

StatusOr<std::string> FakeEnv::ReadFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return NotFoundError("open " + path + ": no such file");
  return it->second;
}

Status FakeEnv::WriteFileAtomic(const std::string& path, const std::string& data, int) {
  std::lock_guard<std::mutex> l(mu_);
  files_[path] = data;
  return Status::Ok();
}

Status FakeEnv::MakeDirs(const std::string&, int) { return Status::Ok(); }

bool FakeEnv::Exists(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  return files_.count(path) > 0;
}

Status FakeEnv::RemoveFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  files_.erase(path);
  return Status::Ok();
}

}  // namespace kite
