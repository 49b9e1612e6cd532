// A small client for etcd's v3 gRPC API (etcdserverpb: KV, Watch, Lease) on
// top of GrpcChannel and the protowire codec: the calls kite needs to keep
// objects in etcd the way kube-apiserver does (Range, Txn with
// compare-and-swap on mod_revision, Watch of a prefix, Compact, leases).
// Messages are plain structs; the Encode*/Decode* functions are exposed so
// they can be tested and fuzzed without a server. Field numbers follow
// etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto.
//
// Errors: transport errors as GrpcChannel reports them; an etcd "revision
// has been compacted" becomes Compacted; Create answers AlreadyExists and
// Update Conflict / NotFound when their compare fails.
//
// Thread safety: Client methods may be called concurrently (they share the
// channel's connection). A WatchStream is used by one reader; Create/Cancel
// may be called from another thread than Next.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "rpc/grpc_client.h"

namespace kite::rpc::etcd {

struct ResponseHeader {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  int64_t revision = 0;
  uint64_t raft_term = 0;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;

  bool operator==(const KeyValue&) const = default;
};

struct RangeRequest {
  std::string key;
  std::string range_end;  // empty: just `key`; PrefixEnd(key): the prefix
  int64_t limit = 0;      // 0: no limit
  int64_t revision = 0;   // 0: newest
  bool serializable = false;
  bool keys_only = false;
  bool count_only = false;
};

struct RangeResponse {
  ResponseHeader header;
  std::vector<KeyValue> kvs;
  bool more = false;
  int64_t count = 0;
};

struct PutRequest {
  std::string key;
  std::string value;
  int64_t lease = 0;
  bool prev_kv = false;
};

struct PutResponse {
  ResponseHeader header;
  std::optional<KeyValue> prev_kv;
};

struct DeleteRangeRequest {
  std::string key;
  std::string range_end;
  bool prev_kv = false;
};

struct DeleteRangeResponse {
  ResponseHeader header;
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

struct Compare {
  enum class Result { kEqual = 0, kGreater = 1, kLess = 2, kNotEqual = 3 };
  enum class Target {
    kVersion = 0,
    kCreate = 1,
    kMod = 2,
    kValue = 3,
    kLease = 4
  };
  Result result = Result::kEqual;
  Target target = Target::kMod;
  std::string key;
  // The operand: version, create_revision, mod_revision or lease (by target).
  int64_t number = 0;
  std::string value;  // the operand for Target::kValue
  std::string range_end;
};

struct RequestOp {
  enum class Kind { kRange, kPut, kDeleteRange };
  Kind kind = Kind::kRange;
  RangeRequest range;
  PutRequest put;
  DeleteRangeRequest delete_range;
};

struct ResponseOp {
  enum class Kind { kNone, kRange, kPut, kDeleteRange, kTxn };
  Kind kind = Kind::kNone;
  RangeResponse range;
  PutResponse put;
  DeleteRangeResponse delete_range;
};

struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<RequestOp> success;
  std::vector<RequestOp> failure;
};

struct TxnResponse {
  ResponseHeader header;
  bool succeeded = false;
  std::vector<ResponseOp> responses;
};

struct WatchCreateRequest {
  std::string key;
  std::string range_end;
  int64_t start_revision = 0;  // 0: from now on; else inclusive
  bool progress_notify = false;
  bool prev_kv = false;
  int64_t watch_id = 0;  // 0: the server picks one
};

struct Event {
  enum class Type { kPut = 0, kDelete = 1 };
  Type type = Type::kPut;
  KeyValue kv;
  std::optional<KeyValue> prev_kv;
};

struct WatchResponse {
  ResponseHeader header;
  int64_t watch_id = 0;
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;
  std::string cancel_reason;
  bool fragment = false;
  std::vector<Event> events;
};

// The range_end that selects every key starting with `prefix` (etcd's
// "prefix + 1"); "\0" (all keys) for an empty or all-0xff prefix.
std::string PrefixEnd(std::string_view prefix);

// Wire encoders and decoders (decoders fail with InvalidArgument on
// malformed input and ignore unknown fields).
std::string EncodeRangeRequest(const RangeRequest& r);
std::string EncodePutRequest(const PutRequest& r);
std::string EncodeDeleteRangeRequest(const DeleteRangeRequest& r);
std::string EncodeTxnRequest(const TxnRequest& r);
std::string EncodeWatchCreate(const WatchCreateRequest& r);  // a WatchRequest
std::string EncodeWatchCancel(int64_t watch_id);             // a WatchRequest
std::string EncodeWatchProgress();                           // a WatchRequest
Status DecodeKeyValue(std::string_view data, KeyValue* out);
Status DecodeRangeResponse(std::string_view data, RangeResponse* out);
Status DecodePutResponse(std::string_view data, PutResponse* out);
Status DecodeDeleteRangeResponse(std::string_view data,
                                 DeleteRangeResponse* out);
Status DecodeTxnResponse(std::string_view data, TxnResponse* out);
Status DecodeWatchResponse(std::string_view data, WatchResponse* out);

// A watch stream: one gRPC Watch call carrying any number of watches.
class WatchStream {
 public:
  explicit WatchStream(std::unique_ptr<ClientStream> stream)
      : stream_(std::move(stream)) {}

  // Asks for a new watch; its WatchResponse with created=true (and the
  // watch_id) arrives through Next().
  Status Create(const WatchCreateRequest& request);
  Status CancelWatch(int64_t watch_id);
  Status RequestProgress();
  // The next response, nullopt when `timeout` passed without one, or the
  // error that ended the stream (Unavailable if the server ended it with OK).
  StatusOr<std::optional<WatchResponse>> Next(
      std::chrono::milliseconds timeout);
  // Ends the stream (and all its watches).
  void Close() { stream_->Cancel(); }

 private:
  std::unique_ptr<ClientStream> stream_;
};

class Client {
 public:
  // `channel` must outlive the client. `timeout` bounds every unary call.
  explicit Client(GrpcChannel& channel,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30))
      : channel_(channel), timeout_(timeout) {}

  StatusOr<RangeResponse> Range(const RangeRequest& request);
  StatusOr<PutResponse> Put(const PutRequest& request);
  StatusOr<DeleteRangeResponse> DeleteRange(const DeleteRangeRequest& request);
  StatusOr<TxnResponse> Txn(const TxnRequest& request);
  // Compacts history up to `revision`; returns the header revision.
  StatusOr<int64_t> Compact(int64_t revision, bool physical = false);
  // Grants a lease of `ttl_seconds`; returns its ID.
  StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds);

  // kube-apiserver's create: Txn{mod_revision(key) == 0 -> put}. Returns the
  // new revision; AlreadyExists if the key exists.
  StatusOr<int64_t> Create(std::string_view key, std::string_view value,
                           int64_t lease = 0);
  // kube-apiserver's update: Txn{mod_revision(key) == expected -> put, else
  // range(key)}. Returns the new revision; Conflict (with *current set to
  // the key as it is now, when given) or NotFound when the compare fails.
  StatusOr<int64_t> Update(std::string_view key, std::string_view value,
                           int64_t expected_mod_revision, int64_t lease = 0,
                           KeyValue* current = nullptr);

  StatusOr<std::unique_ptr<WatchStream>> Watch();

 private:
  StatusOr<std::string> Unary(std::string_view method,
                              const std::string& request);

  GrpcChannel& channel_;
  std::chrono::milliseconds timeout_;
};

}  // namespace kite::rpc::etcd
