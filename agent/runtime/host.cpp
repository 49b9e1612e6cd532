#include "agent/runtime/host.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kite::runtime {
namespace {

using Ms = std::chrono::milliseconds;

Status ErrnoError(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOENT) return NotFoundError(msg);
  if (err == EACCES || err == EPERM)
    return Status(Code::kPermissionDenied, msg);
  return InternalError(msg);
}

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

// What the child does between fork and exec: async-signal-safe calls only
// (the parent has threads). `out` becomes stdout and stderr; `err_fd` (close
// on exec) carries errno back when exec fails.
[[noreturn]] void ExecChild(pid_t parent, char* const* argv, int in, int out,
                            int err_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent is already gone
  ::setsid();
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) {
    int e = errno;
    (void)!::write(err_fd, &e, sizeof(e));
    ::_exit(127);
  }
  // Everything else the agent holds open (sockets, the datastore) must not
  // leak into the child; err_fd goes at exec.
  // close_range (Linux 5.9) covers every descriptor; older kernels get a
  // loop over the usual limit.
  bool closed = err_fd >= 3 &&
                (err_fd == 3 || ::close_range(3, err_fd - 1, 0) == 0) &&
                ::close_range(err_fd + 1, ~0U, 0) == 0;
  if (!closed) {
    for (int fd = 3; fd < 65536; ++fd) {
      if (fd != err_fd) ::close(fd);
    }
  }
  ::execv(argv[0], argv);
  int e = errno;
  (void)!::write(err_fd, &e, sizeof(e));
  ::_exit(127);
}

// Forks and execs argv with stdin `in` and stdout/stderr `out`; returns the
// child's pid once exec succeeded, or exec's error.
StatusOr<pid_t> ForkExec(const std::vector<std::string>& argv, int in,
                         int out) {
  if (argv.empty() || argv[0].empty())
    return InvalidArgumentError("empty command");
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return ErrnoError("fork", e);
  }
  if (pid == 0) ExecChild(parent, args.data(), in, out, err_pipe[1]);
  ::close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n > 0) {
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return ErrnoError("exec " + argv[0], child_errno);
  }
  return pid;
}

class RealHostImpl : public Host {
 public:
  StatusOr<int> Spawn(const SpawnSpec& spec) override {
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0) return ErrnoError("open /dev/null", errno);
    int out = ::open(spec.log_path.c_str(),
                     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (out < 0) {
      int e = errno;
      ::close(in);
      return ErrnoError("open " + spec.log_path, e);
    }
    StatusOr<pid_t> pid = ForkExec(spec.argv, in, out);
    ::close(in);
    ::close(out);
    if (!pid.ok()) return pid.status();
    return static_cast<int>(*pid);
  }

  StatusOr<int> Wait(int pid) override {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0) {
      if (errno != EINTR)
        return ErrnoError("waitpid " + std::to_string(pid), errno);
    }
    return ExitCode(st);
  }

  Status Signal(int pid, int signal) override {
    if (pid <= 0) return InvalidArgumentError("no pid to signal");
    if (::kill(pid, signal) != 0 && errno != ESRCH) {
      return ErrnoError("kill " + std::to_string(pid), errno);
    }
    return Status::Ok();
  }

  StatusOr<RunResult> Run(const std::vector<std::string>& argv,
                          Ms timeout) override {
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0) return ErrnoError("open /dev/null", errno);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      int e = errno;
      ::close(in);
      return ErrnoError("pipe", e);
    }
    StatusOr<pid_t> pid = ForkExec(argv, in, pipe_fds[1]);
    ::close(in);
    ::close(pipe_fds[1]);
    if (!pid.ok()) {
      ::close(pipe_fds[0]);
      return pid.status();
    }
    RunResult result;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    char buf[16384];
    for (;;) {
      auto left = std::chrono::duration_cast<Ms>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      struct pollfd pfd = {pipe_fds[0], POLLIN, 0};
      int r = ::poll(
          &pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) continue;  // the loop checks the deadline
      ssize_t n = ::read(pipe_fds[0], buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF: the child (and anything it left) closed it
      result.output.append(buf, static_cast<size_t>(n));
    }
    ::close(pipe_fds[0]);
    if (timed_out) ::kill(*pid, SIGKILL);
    StatusOr<int> code = Wait(*pid);
    if (timed_out) {
      return DeadlineExceededError(argv[0] + " did not finish in " +
                                   std::to_string(timeout.count()) +
                                   " ms; output: " + result.output);
    }
    if (!code.ok()) return code.status();
    result.exit_code = *code;
    return result;
  }

  StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoError("opendir " + dir, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  StatusOr<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
      return ErrnoError("stat " + path, errno);
    FileInfo info;
    info.size = static_cast<uint64_t>(st.st_size);
    info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                    st.st_mtim.tv_nsec;
    return info;
  }

  Status Remove(const std::string& path) override {
    if (::remove(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("remove " + path, errno);
    }
    return Status::Ok();
  }

  StatusOr<int> FreeLoopbackPort() override {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ErrnoError("socket", errno);
    struct sockaddr_in addr;
    std::memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      int e = errno;
      ::close(fd);
      return ErrnoError("bind 127.0.0.1:0", e);
    }
    ::close(fd);
    return static_cast<int>(ntohs(addr.sin_port));
  }
};

}  // namespace

Host& RealHost() {
  static RealHostImpl* host = new RealHostImpl();
  return *host;
}

}  // namespace kite::runtime
