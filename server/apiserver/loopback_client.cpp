#include "server/apiserver/loopback_client.h"

#include <atomic>
#include <deque>

#include "client/wire.h"

namespace kite::apiserver {

using client::Json;

namespace {

std::string CollectionPathOf(const client::ResourceRef& ref) {
  std::string p = ref.group.empty() ? "/api/" + ref.version
                                    : "/apis/" + ref.group + "/" + ref.version;
  if (!ref.ns.empty()) p += "/namespaces/" + ref.ns;
  return p + "/" + ref.resource;
}

std::string ObjectPathOf(const client::ResourceRef& ref,
                         const std::string& name, const std::string& sub) {
  std::string p = CollectionPathOf(ref) + "/" + name;
  if (!sub.empty()) p += "/" + sub;
  return p;
}

Status ParseQuery(std::string_view text,
                  std::multimap<std::string, std::string>* out) {
  size_t i = 0;
  while (i < text.size()) {
    size_t amp = text.find('&', i);
    if (amp == std::string_view::npos) amp = text.size();
    std::string_view kv = text.substr(i, amp - i);
    if (!kv.empty()) {
      size_t eq = kv.find('=');
      KITE_ASSIGN_OR_RETURN(std::string key,
                            client::QueryUnescape(kv.substr(0, eq)));
      std::string value;
      if (eq != std::string_view::npos) {
        KITE_ASSIGN_OR_RETURN(value, client::QueryUnescape(kv.substr(eq + 1)));
      }
      out->emplace(std::move(key), std::move(value));
    }
    i = amp + 1;
  }
  return Status::Ok();
}

// Percent-decoding of a URL path ('+' stays '+').
StatusOr<std::string> PathUnescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size())
      return InvalidArgumentError("invalid URL escape in path");
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0)
      return InvalidArgumentError("invalid URL escape in path");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

client::EventType EventTypeOf(const std::string& type) {
  if (type == "ADDED") return client::EventType::kAdded;
  if (type == "MODIFIED") return client::EventType::kModified;
  if (type == "DELETED") return client::EventType::kDeleted;
  if (type == "BOOKMARK") return client::EventType::kBookmark;
  return client::EventType::kError;
}

class LoopbackWatch : public client::WatchStream {
 public:
  explicit LoopbackWatch(std::shared_ptr<apiserver::WatchStream> stream)
      : stream_(std::move(stream)) {}
  ~LoopbackWatch() override { stream_->Cancel(); }

  StatusOr<client::WatchEvent> Next(
      std::chrono::milliseconds timeout) override {
    if (cancelled_) return CancelledError("watch cancelled");
    if (queue_.empty() && !stream_->done()) {
      for (WatchEvent& e : stream_->Next(timeout)) {
        queue_.push_back({EventTypeOf(e.type), std::move(e.object)});
      }
    }
    if (cancelled_) return CancelledError("watch cancelled");
    if (!queue_.empty()) {
      client::WatchEvent e = std::move(queue_.front());
      queue_.pop_front();
      return e;
    }
    if (stream_->done()) return UnavailableError("watch closed");
    return DeadlineExceededError("no watch event in time");
  }

  void Cancel() override {
    cancelled_ = true;
    stream_->Cancel();
  }

 private:
  std::shared_ptr<apiserver::WatchStream> stream_;
  std::deque<client::WatchEvent> queue_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

UserInfo ControllerManagerUser() {
  UserInfo u;
  u.name = "system:kube-controller-manager";
  // In-process components act as system:masters (docs/security.md): they are
  // part of the server, and RBAC must not be able to lock them out.
  u.groups = {"system:masters", "system:authenticated"};
  u.authenticated = true;
  return u;
}

LoopbackClient::LoopbackClient(Handler& handler, UserInfo user)
    : handler_(handler), user_(std::move(user)) {}

Request LoopbackClient::NewRequest(const std::string& method, std::string path,
                                   const std::string& query) const {
  Request req;
  req.method = method;
  req.path = std::move(path);
  req.user = user_;
  req.user_agent = "kite-loopback";
  req.content_type = "application/json";
  // The wire helpers only produce well-formed queries.
  ParseQuery(query, &req.query).IgnoreError();
  return req;
}

StatusOr<Json> LoopbackClient::Result(Response r) {
  if (r.status >= 300) return client::ApiStatusToStatus(r.status, r.json);
  if (r.raw) {
    Json j = Json::parse(*r.raw, nullptr, false);
    if (j.is_discarded()) return InternalError("the answer is not JSON");
    return j;
  }
  return std::move(r.json);
}

StatusOr<Json> LoopbackClient::Get(const client::ResourceRef& ref,
                                   const std::string& name,
                                   const client::GetOptions& opts) {
  return Result(handler_.Serve(
      NewRequest("GET", ObjectPathOf(ref, name, opts.subresource),
                 client::GetQuery(opts))));
}

StatusOr<Json> LoopbackClient::List(const client::ResourceRef& ref,
                                    const client::ListOptions& opts) {
  return Result(handler_.Serve(
      NewRequest("GET", CollectionPathOf(ref), client::ListQuery(opts))));
}

StatusOr<std::unique_ptr<client::WatchStream>> LoopbackClient::Watch(
    const client::ResourceRef& ref, const client::WatchOptions& opts) {
  Response r = handler_.Serve(
      NewRequest("GET", CollectionPathOf(ref), client::WatchQuery(opts)));
  if (!r.watch) {
    auto st = Result(std::move(r));
    if (st.ok()) return InternalError("the watch request returned no stream");
    return st.status();
  }
  return std::unique_ptr<client::WatchStream>(
      new LoopbackWatch(std::move(r.watch)));
}

StatusOr<Json> LoopbackClient::Create(const client::ResourceRef& ref,
                                      const Json& obj,
                                      const client::CreateOptions& opts) {
  client::ResourceRef target = ref.In(client::EffectiveNamespace(ref, obj));
  std::string path =
      opts.subresource.empty()
          ? CollectionPathOf(target)
          : ObjectPathOf(target, api::Name(obj), opts.subresource);
  Request req = NewRequest("POST", path, client::CreateQuery(opts));
  req.object = obj;
  return Result(handler_.Serve(req));
}

StatusOr<Json> LoopbackClient::Update(const client::ResourceRef& ref,
                                      const Json& obj,
                                      const client::UpdateOptions& opts) {
  client::ResourceRef target = ref.In(client::EffectiveNamespace(ref, obj));
  Request req =
      NewRequest("PUT", ObjectPathOf(target, api::Name(obj), opts.subresource),
                 client::UpdateQuery(opts));
  req.object = obj;
  return Result(handler_.Serve(req));
}

StatusOr<Json> LoopbackClient::Patch(const client::ResourceRef& ref,
                                     const std::string& name,
                                     client::PatchType type,
                                     const std::string& body,
                                     const client::PatchOptions& opts) {
  Request req = NewRequest("PATCH", ObjectPathOf(ref, name, opts.subresource),
                           client::PatchQuery(type, opts));
  req.content_type = std::string(client::PatchContentType(type));
  req.body = body;
  return Result(handler_.Serve(req));
}

StatusOr<Json> LoopbackClient::Delete(const client::ResourceRef& ref,
                                      const std::string& name,
                                      const client::DeleteOptions& opts) {
  Request req = NewRequest("DELETE", ObjectPathOf(ref, name, ""), "");
  req.object = client::DeleteOptionsBody(opts);
  return Result(handler_.Serve(req));
}

StatusOr<Json> LoopbackClient::DeleteCollection(
    const client::ResourceRef& ref, const client::ListOptions& list_opts,
    const client::DeleteOptions& opts) {
  Request req =
      NewRequest("DELETE", CollectionPathOf(ref), client::ListQuery(list_opts));
  req.object = client::DeleteOptionsBody(opts);
  return Result(handler_.Serve(req));
}

StatusOr<client::RawResponse> LoopbackClient::Do(
    const client::RawRequest& raw) {
  size_t q = raw.path.find('?');
  std::string path = raw.path.substr(0, q);
  auto decoded = PathUnescape(path);  // the path arrives URL-encoded
  if (!decoded.ok()) return decoded.status();
  Request req = NewRequest(raw.method, *decoded, "");
  if (q != std::string::npos) {
    KITE_RETURN_IF_ERROR(
        ParseQuery(std::string_view(raw.path).substr(q + 1), &req.query));
  }
  for (const auto& [k, v] : raw.headers) {
    if (k == "Content-Type" || k == "content-type") req.content_type = v;
    if (k == "Accept" || k == "accept") req.accept = v;
  }
  req.body = raw.body;
  Response r = handler_.Serve(req);
  if (r.watch) {
    r.watch->Cancel();
    return InvalidArgumentError(
        "the loopback client serves watches through Watch(), not Do()");
  }
  client::RawResponse out;
  out.code = r.status;
  out.content_type = r.content_type;
  out.body = r.raw ? *r.raw
                   : r.json.dump(-1, ' ', false,
                                 nlohmann::json::error_handler_t::replace);
  return out;
}

}  // namespace kite::apiserver
