// Request and Response: what the request path (handler.h) consumes and
// produces, independent of the transport.
//
// The HTTPS server (api_server.h) turns an httplib request into a Request
// and writes the Response back; the loopback client (loopback_client.h)
// builds Requests directly and reads Responses without any serialization:
// it may hand the body over as an already decoded JSON object and receives
// the answer as one.
//
// Thread safety: plain values; a Response's watch stream is used by one
// thread at a time.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kite::apiserver {

class WatchStream;

// Who is asking (filled in by authentication).
struct UserInfo {
  std::string name;  // "system:admin"
  std::vector<std::string>
      groups;       // {"system:masters", "system:authenticated"}
  std::string uid;  // token-file users, ServiceAccounts (their uid)
  // Extra attributes (ServiceAccount tokens: the bound pod's name and uid).
  std::map<std::string, std::vector<std::string>> extra;
  // The audiences the credential was accepted for (ServiceAccount tokens);
  // empty: the API server's own.
  std::vector<std::string> audiences;
  bool authenticated = false;
};

struct Request {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::string path;    // "/apis/apps/v1/namespaces/default/deployments/web"
  // Decoded query parameters ('+' already a space), in order.
  std::multimap<std::string, std::string> query;
  std::string content_type;  // of the body
  std::string accept;
  std::string user_agent;
  std::string body;
  // A body already decoded into JSON (loopback); used instead of `body`.
  std::optional<nlohmann::json> object;
  UserInfo user;
  // Impersonate-User / Impersonate-Group headers (kubectl --as, --as-group):
  // the request acts as this identity when `user` may impersonate it.
  std::string impersonate_user;
  std::vector<std::string> impersonate_groups;

  // The first value of query parameter `name`, or "".
  std::string Param(std::string_view name) const {
    auto it = query.find(std::string(name));
    return it == query.end() ? std::string() : it->second;
  }
  bool HasParam(std::string_view name) const {
    return query.find(std::string(name)) != query.end();
  }
  // Every value of a repeated parameter (dryRun=All&dryRun=All).
  std::vector<std::string> Params(std::string_view name) const {
    std::vector<std::string> out;
    auto [b, e] = query.equal_range(std::string(name));
    for (auto it = b; it != e; ++it) out.push_back(it->second);
    return out;
  }
};

// Where a request served by a node's kubelet goes (pods/log, pods/exec,
// pods/attach, pods/portforward, nodes/proxy): the transport connects to
// the kubelet with the API server's kubelet-client certificate, relays the
// client's request with `path` instead of its own (HTTP upgrades included)
// and the kubelet's answer back (docs/streaming.md).
struct KubeletTarget {
  std::string node;  // the Node's name, for messages
  std::string host;  // its InternalIP (or another address it reports)
  int port = 10250;  // status.daemonEndpoints.kubeletEndpoint.Port
  std::string path;  // "/containerLogs/ns/pod/c?follow=true"
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  // The body: `raw` when set (cached documents, plain text), else `json`.
  nlohmann::json json;
  std::shared_ptr<const std::string> raw;
  // A watch: the transport streams its events (json/raw unused).
  std::shared_ptr<WatchStream> watch;
  // Served by a kubelet: the transport proxies (json/raw unused).
  std::shared_ptr<const KubeletTarget> kubelet;
  // Extra headers (Warning, Cache-Control ...).
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Json(int status, nlohmann::json body) {
    Response r;
    r.status = status;
    r.json = std::move(body);
    return r;
  }
  static Response Text(int status, std::string text,
                       std::string content_type = "text/plain") {
    Response r;
    r.status = status;
    r.raw = std::make_shared<const std::string>(std::move(text));
    r.content_type = std::move(content_type);
    return r;
  }
};

}  // namespace kite::apiserver
