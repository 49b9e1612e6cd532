// pause: the process that holds a pod sandbox's namespaces (kite's own pause
// image, images/CMakeLists.txt). It blocks SIGINT, SIGTERM and SIGCHLD and
// takes them one by one with rt_sigtimedwait: a child that exits is reaped
// (pause is PID 1 of the pod's PID namespace when the pod shares one), SIGINT
// or SIGTERM ends it with status 0. No signal handlers are installed, so no
// signal trampoline is needed; blocked signals are queued even for a PID 1,
// which the kernel otherwise spares from signals it has no handler for.
//
// Built with -nostdlib: raw system calls for x86_64, aarch64 and 32-bit ARM
// (EABI), the numbers from the target's <asm/unistd.h>. The whole program is
// about a kilobyte, so embedding its image in kite costs next to nothing.
#include <asm/unistd.h>

typedef unsigned long long SigSet;  // the kernel's sigset_t: 64 signals

static long Syscall4(long nr, long a, long b, long c, long d) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
                   : "memory");
  return x0;
#elif defined(__arm__) && defined(__ARM_EABI__)
  register long r7 __asm__("r7") = nr;
  register long r0 __asm__("r0") = a;
  register long r1 __asm__("r1") = b;
  register long r2 __asm__("r2") = c;
  register long r3 __asm__("r3") = d;
  __asm__ volatile("svc 0"
                   : "+r"(r0)
                   : "r"(r7), "r"(r1), "r"(r2), "r"(r3)
                   : "memory");
  return r0;
#else
#error "pause.c: unsupported architecture (x86_64, aarch64 or ARM EABI)"
#endif
}

enum {
  kSigInt = 2,
  kSigTerm = 15,
  kSigChld = 17,
  kSigBlock = 0,
  kWaitNoHang = 1
};

static SigSet Bit(int sig) { return 1ULL << (sig - 1); }

__attribute__((noreturn)) static void Exit(int code) {
  for (;;) Syscall4(__NR_exit_group, code, 0, 0, 0);
}

__attribute__((noreturn, used)) void _start(void) {
  SigSet set = Bit(kSigInt) | Bit(kSigTerm) | Bit(kSigChld);
  if (Syscall4(__NR_rt_sigprocmask, kSigBlock, (long)&set, 0, sizeof(set)) != 0)
    Exit(1);
  for (;;) {
    long sig = Syscall4(__NR_rt_sigtimedwait, (long)&set, 0, 0, sizeof(set));
    if (sig == kSigInt || sig == kSigTerm) Exit(0);
    if (sig == kSigChld) {
      // Reap every child that has exited; stop at 0 (none left exited) or
      // an error (no children at all).
      while (Syscall4(__NR_wait4, -1, 0, kWaitNoHang, 0) > 0) {
      }
    }
  }
}
