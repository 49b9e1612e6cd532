// Fuzz target: the API server's request path (apiserver::Handler) with no
// transport: every input runs against a fresh in-memory datastore with the
// bootstrap objects, as system:admin, so a finding reproduces from its
// input alone.
//
// Input: one or more requests separated by a line "---":
//
//   PATCH /api/v1/namespaces/default/configmaps/a?fieldManager=x&force=true
//   Content-Type: application/merge-patch+json
//   Accept: application/json;as=Table;v=v1;g=meta.k8s.io
//
//   {"data":{"b":"c"}}
//   ---
//   GET /api/v1/namespaces/default/configmaps?watch=1
//
// The first line is the method and the URL (query URL-decoded as the HTTPS
// server does: '+' is a space, %XX a byte), then headers up to an empty
// line, then the body. Several requests let a single input create an object
// and then patch, apply, scale or delete it.
//
// Checks: Serve() never throws or crashes; every answer has an HTTP status
// in 200..599; a JSON answer serializes (valid UTF-8); an error answer is a
// Kubernetes Status with the same code; a watch yields encodable events.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "datastore/memory_backend.h"
#include "fuzz_check.h"
#include "server/apiserver/bootstrap.h"
#include "server/apiserver/handler.h"
#include "server/apiserver/watch.h"

namespace {

using kite::apiserver::Request;
using kite::apiserver::Response;

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 &&
               Hex(s[i + 2]) >= 0) {
      out += static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string_view NextLine(std::string_view* rest) {
  size_t nl = rest->find('\n');
  std::string_view line = rest->substr(0, nl);
  *rest =
      nl == std::string_view::npos ? std::string_view() : rest->substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

Request ParseRequest(std::string_view text) {
  Request req;
  req.user = kite::apiserver::SystemUser();
  req.user_agent = "kubectl/v1.32.4 (linux/amd64)";
  std::string_view line = NextLine(&text);
  size_t sp = line.find(' ');
  req.method = std::string(line.substr(0, sp));
  std::string_view url =
      sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  size_t q = url.find('?');
  req.path = UrlDecode(url.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view query = url.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view kv = query.substr(0, amp);
      size_t eq = kv.find('=');
      req.query.emplace(UrlDecode(kv.substr(0, eq)),
                        eq == std::string_view::npos
                            ? std::string()
                            : UrlDecode(kv.substr(eq + 1)));
      query = amp == std::string_view::npos ? std::string_view()
                                            : query.substr(amp + 1);
    }
  }
  while (!text.empty()) {
    line = NextLine(&text);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == "Content-Type") req.content_type = value;
    if (name == "Accept") req.accept = value;
    if (name == "User-Agent") req.user_agent = value;
  }
  req.body = std::string(text);
  return req;
}

void CheckResponse(const Request& req, Response& r) {
  FUZZ_CHECK(r.status >= 200 && r.status <= 599, "%s %s answered %d",
             req.method.c_str(), req.path.c_str(), r.status);
  if (r.watch) {
    for (int i = 0; i < 3 && !r.watch->done(); ++i) {
      for (const auto& ev : r.watch->Next(std::chrono::milliseconds(0)))
        (void)r.watch->EncodeLine(ev);
    }
    r.watch->Cancel();
    return;
  }
  if (r.raw) return;
  // As the transport serializes it (non-UTF-8 bytes become U+FFFD).
  std::string text =
      r.json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (r.status >= 400) {
    FUZZ_CHECK(r.json.is_object() && r.json.value("kind", "") == "Status" &&
                   r.json.value("code", 0) == r.status,
               "%s %s: error %d is not a Status: %s", req.method.c_str(),
               req.path.c_str(), r.status, text.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> requests;
  while (true) {
    size_t sep = in.find("\n---\n");
    requests.push_back(in.substr(0, sep));
    if (sep == std::string_view::npos) break;
    in = in.substr(sep + 5);
  }
  if (requests.size() > 16) return 0;  // keeps one input fast

  static const bool quiet = [] {
    log::SetLevel(log::Level::kError);  // no bootstrap lines per input
    return true;
  }();
  (void)quiet;
  FakeClock clock;
  datastore::MemoryBackend store;
  auto h = apiserver::Handler::Create(store, clock, apiserver::HandlerConfig{},
                                      nullptr);
  FUZZ_CHECK(h.ok(), "Handler::Create: %s", h.status().ToString().c_str());
  apiserver::Handler& handler = **h;
  FUZZ_CHECK(handler.Init().ok(), "Init failed");
  Status boot = apiserver::Bootstrap(
      handler, {.advertise_address = "10.0.0.5", .port = 6443});
  FUZZ_CHECK(boot.ok(), "Bootstrap: %s", boot.ToString().c_str());

  for (std::string_view text : requests) {
    Request req = ParseRequest(text);
    Response r = handler.Serve(req);
    CheckResponse(req, r);
    clock.Advance(std::chrono::seconds(1));
  }
  handler.CancelWatches();
  return 0;
}
