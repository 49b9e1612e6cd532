// FUZZ_CHECK: the assertion of the fuzz targets. A failed check prints what
// broke and aborts, which libFuzzer reports as a crash (and the corpus
// runner as a failed test). Independent of NDEBUG.
//
// Thread safety: stateless.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                          \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, \
                   __LINE__, #cond);                                   \
      std::fprintf(stderr, __VA_ARGS__);                               \
      std::fprintf(stderr, "\n");                                      \
      std::abort();                                                    \
    }                                                                  \
  } while (0)
