// BytePipe: copies bytes both ways between two connections until either
// side closes or fails: the body of an HTTP upgrade proxy (exec, attach,
// port-forward through the API server and the kubelet).
//
// Each side is described by a PipeEnd: its descriptor for poll(), whether
// it holds bytes already received (TLS records decrypted ahead, bytes read
// past an HTTP head), and read/write functions. One thread does all the
// work with poll(), because an mbedTLS session must not be read and
// written from two threads at once.
//
// Thread safety: Pipe() blocks the calling thread; the ends are used only
// by it. Shutting a socket down from another thread (server Stop) ends it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string_view>

namespace kite::tls {

class HijackedConnection;
class TlsClient;

// What PipeEnd::read answers besides a byte count.
inline constexpr ssize_t kPipeClosed = 0;    // the peer closed
inline constexpr ssize_t kPipeError = -1;    // failed
inline constexpr ssize_t kPipeNothing = -2;  // nothing to read yet

struct PipeEnd {
  int fd = -1;
  std::function<bool()> has_buffered;
  std::function<ssize_t(char* buf, size_t n)> read;
  std::function<bool(std::string_view data)> write;
  // Optional: called when the other side closed (plain sockets pass the
  // half-close on with shutdown(SHUT_WR)); without it the pipe ends.
  std::function<void()> close_write;
};

PipeEnd PipeEndOf(HijackedConnection& conn);
// After TlsClient::OpenStream.
PipeEnd PipeEndOf(TlsClient& client);
// A connected plain socket (borrowed).
PipeEnd PipeEndOfSocket(int fd);

// Copies until both directions are closed, or one side fails, or
// `idle_limit` passes without a byte (0: no limit). Returns the bytes
// copied a->b and b->a through the out-parameters when given.
void Pipe(PipeEnd& a, PipeEnd& b,
          std::chrono::milliseconds idle_limit = std::chrono::milliseconds(0),
          size_t* a_to_b = nullptr, size_t* b_to_a = nullptr);

}  // namespace kite::tls
