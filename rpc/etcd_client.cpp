#include "rpc/etcd_client.h"

#include "rpc/protowire.h"

namespace kite::rpc::etcd {
namespace {

using protowire::Decoder;
using protowire::Encoder;
using protowire::Field;

constexpr std::string_view kRange = "/etcdserverpb.KV/Range";
constexpr std::string_view kPut = "/etcdserverpb.KV/Put";
constexpr std::string_view kDeleteRange = "/etcdserverpb.KV/DeleteRange";
constexpr std::string_view kTxn = "/etcdserverpb.KV/Txn";
constexpr std::string_view kCompact = "/etcdserverpb.KV/Compact";
constexpr std::string_view kWatch = "/etcdserverpb.Watch/Watch";
constexpr std::string_view kLeaseGrant = "/etcdserverpb.Lease/LeaseGrant";

Encoder RangeEncoder(const RangeRequest& r) {
  Encoder e;
  e.BytesIfNonEmpty(1, r.key);
  e.BytesIfNonEmpty(2, r.range_end);
  e.Int64IfNonZero(3, r.limit);
  e.Int64IfNonZero(4, r.revision);
  e.BoolIfTrue(7, r.serializable);
  e.BoolIfTrue(8, r.keys_only);
  e.BoolIfTrue(9, r.count_only);
  return e;
}

Encoder PutEncoder(const PutRequest& r) {
  Encoder e;
  e.BytesIfNonEmpty(1, r.key);
  e.BytesIfNonEmpty(2, r.value);
  e.Int64IfNonZero(3, r.lease);
  e.BoolIfTrue(4, r.prev_kv);
  return e;
}

Encoder DeleteRangeEncoder(const DeleteRangeRequest& r) {
  Encoder e;
  e.BytesIfNonEmpty(1, r.key);
  e.BytesIfNonEmpty(2, r.range_end);
  e.BoolIfTrue(3, r.prev_kv);
  return e;
}

Encoder RequestOpEncoder(const RequestOp& op) {
  Encoder e;
  switch (op.kind) {
    case RequestOp::Kind::kRange:
      e.Message(1, RangeEncoder(op.range));
      break;
    case RequestOp::Kind::kPut:
      e.Message(2, PutEncoder(op.put));
      break;
    case RequestOp::Kind::kDeleteRange:
      e.Message(3, DeleteRangeEncoder(op.delete_range));
      break;
  }
  return e;
}

Encoder CompareEncoder(const Compare& c) {
  Encoder e;
  e.Uint64IfNonZero(1, static_cast<uint64_t>(c.result));
  e.Uint64IfNonZero(2, static_cast<uint64_t>(c.target));
  e.BytesIfNonEmpty(3, c.key);
  // target_union is a oneof: its member is written even when zero.
  switch (c.target) {
    case Compare::Target::kVersion:
      e.Int64(4, c.number);
      break;
    case Compare::Target::kCreate:
      e.Int64(5, c.number);
      break;
    case Compare::Target::kMod:
      e.Int64(6, c.number);
      break;
    case Compare::Target::kValue:
      e.Bytes(7, c.value);
      break;
    case Compare::Target::kLease:
      e.Int64(8, c.number);
      break;
  }
  e.BytesIfNonEmpty(64, c.range_end);
  return e;
}

Status DecodeHeader(std::string_view data, ResponseHeader* h) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (!f.is_varint()) continue;
    switch (f.number) {
      case 1:
        h->cluster_id = f.value;
        break;
      case 2:
        h->member_id = f.value;
        break;
      case 3:
        h->revision = f.AsInt64();
        break;
      case 4:
        h->raft_term = f.value;
        break;
      default:
        break;
    }
  }
  return d.status();
}

Status DecodeEvent(std::string_view data, Event* ev) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_varint()) {
      ev->type = f.value == 1 ? Event::Type::kDelete : Event::Type::kPut;
    } else if (f.number == 2 && f.is_bytes()) {
      KITE_RETURN_IF_ERROR(DecodeKeyValue(f.bytes, &ev->kv));
    } else if (f.number == 3 && f.is_bytes()) {
      ev->prev_kv.emplace();
      KITE_RETURN_IF_ERROR(DecodeKeyValue(f.bytes, &*ev->prev_kv));
    }
  }
  return d.status();
}

Status DecodeResponseOp(std::string_view data, ResponseOp* op) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (!f.is_bytes()) continue;
    switch (f.number) {
      case 1:
        op->kind = ResponseOp::Kind::kRange;
        KITE_RETURN_IF_ERROR(DecodeRangeResponse(f.bytes, &op->range));
        break;
      case 2:
        op->kind = ResponseOp::Kind::kPut;
        KITE_RETURN_IF_ERROR(DecodePutResponse(f.bytes, &op->put));
        break;
      case 3:
        op->kind = ResponseOp::Kind::kDeleteRange;
        KITE_RETURN_IF_ERROR(
            DecodeDeleteRangeResponse(f.bytes, &op->delete_range));
        break;
      case 4:
        // Nested transactions are never sent by this client; not decoded.
        op->kind = ResponseOp::Kind::kTxn;
        break;
      default:
        break;
    }
  }
  return d.status();
}

// etcd reports compaction as OUT_OF_RANGE with a fixed message.
Status MapEtcdError(Status st) {
  if (st.ok()) return st;
  if (st.message().find("required revision has been compacted") !=
      std::string::npos) {
    return CompactedError(st.message());
  }
  return st;
}

}  // namespace

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string EncodeRangeRequest(const RangeRequest& r) {
  return RangeEncoder(r).Take();
}
std::string EncodePutRequest(const PutRequest& r) {
  return PutEncoder(r).Take();
}
std::string EncodeDeleteRangeRequest(const DeleteRangeRequest& r) {
  return DeleteRangeEncoder(r).Take();
}

std::string EncodeTxnRequest(const TxnRequest& r) {
  Encoder e;
  for (const Compare& c : r.compare) e.Message(1, CompareEncoder(c));
  for (const RequestOp& op : r.success) e.Message(2, RequestOpEncoder(op));
  for (const RequestOp& op : r.failure) e.Message(3, RequestOpEncoder(op));
  return e.Take();
}

std::string EncodeWatchCreate(const WatchCreateRequest& r) {
  Encoder c;
  c.BytesIfNonEmpty(1, r.key);
  c.BytesIfNonEmpty(2, r.range_end);
  c.Int64IfNonZero(3, r.start_revision);
  c.BoolIfTrue(4, r.progress_notify);
  c.BoolIfTrue(6, r.prev_kv);
  c.Int64IfNonZero(7, r.watch_id);
  Encoder e;
  e.Message(1, c);
  return e.Take();
}

std::string EncodeWatchCancel(int64_t watch_id) {
  Encoder c;
  c.Int64(1, watch_id);  // watch IDs start at 0: always written
  Encoder e;
  e.Message(2, c);
  return e.Take();
}

std::string EncodeWatchProgress() {
  Encoder e;
  e.Message(3, std::string_view());
  return e.Take();
}

Status DecodeKeyValue(std::string_view data, KeyValue* kv) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.is_bytes()) {
      if (f.number == 1) kv->key.assign(f.bytes);
      if (f.number == 5) kv->value.assign(f.bytes);
    } else if (f.is_varint()) {
      switch (f.number) {
        case 2:
          kv->create_revision = f.AsInt64();
          break;
        case 3:
          kv->mod_revision = f.AsInt64();
          break;
        case 4:
          kv->version = f.AsInt64();
          break;
        case 6:
          kv->lease = f.AsInt64();
          break;
        default:
          break;
      }
    }
  }
  return d.status();
}

Status DecodeRangeResponse(std::string_view data, RangeResponse* out) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_bytes()) {
      KITE_RETURN_IF_ERROR(DecodeHeader(f.bytes, &out->header));
    } else if (f.number == 2 && f.is_bytes()) {
      KITE_RETURN_IF_ERROR(DecodeKeyValue(f.bytes, &out->kvs.emplace_back()));
    } else if (f.number == 3 && f.is_varint()) {
      out->more = f.AsBool();
    } else if (f.number == 4 && f.is_varint()) {
      out->count = f.AsInt64();
    }
  }
  return d.status();
}

Status DecodePutResponse(std::string_view data, PutResponse* out) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_bytes()) {
      KITE_RETURN_IF_ERROR(DecodeHeader(f.bytes, &out->header));
    } else if (f.number == 2 && f.is_bytes()) {
      out->prev_kv.emplace();
      KITE_RETURN_IF_ERROR(DecodeKeyValue(f.bytes, &*out->prev_kv));
    }
  }
  return d.status();
}

Status DecodeDeleteRangeResponse(std::string_view data,
                                 DeleteRangeResponse* out) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_bytes()) {
      KITE_RETURN_IF_ERROR(DecodeHeader(f.bytes, &out->header));
    } else if (f.number == 2 && f.is_varint()) {
      out->deleted = f.AsInt64();
    } else if (f.number == 3 && f.is_bytes()) {
      KITE_RETURN_IF_ERROR(
          DecodeKeyValue(f.bytes, &out->prev_kvs.emplace_back()));
    }
  }
  return d.status();
}

Status DecodeTxnResponse(std::string_view data, TxnResponse* out) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_bytes()) {
      KITE_RETURN_IF_ERROR(DecodeHeader(f.bytes, &out->header));
    } else if (f.number == 2 && f.is_varint()) {
      out->succeeded = f.AsBool();
    } else if (f.number == 3 && f.is_bytes()) {
      KITE_RETURN_IF_ERROR(
          DecodeResponseOp(f.bytes, &out->responses.emplace_back()));
    }
  }
  return d.status();
}

Status DecodeWatchResponse(std::string_view data, WatchResponse* out) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.is_bytes()) {
      if (f.number == 1) {
        KITE_RETURN_IF_ERROR(DecodeHeader(f.bytes, &out->header));
      } else if (f.number == 6) {
        out->cancel_reason.assign(f.bytes);
      } else if (f.number == 11) {
        KITE_RETURN_IF_ERROR(DecodeEvent(f.bytes, &out->events.emplace_back()));
      }
    } else if (f.is_varint()) {
      switch (f.number) {
        case 2:
          out->watch_id = f.AsInt64();
          break;
        case 3:
          out->created = f.AsBool();
          break;
        case 4:
          out->canceled = f.AsBool();
          break;
        case 5:
          out->compact_revision = f.AsInt64();
          break;
        case 7:
          out->fragment = f.AsBool();
          break;
        default:
          break;
      }
    }
  }
  return d.status();
}

// ---------------------------------------------------------------------------

Status WatchStream::Create(const WatchCreateRequest& request) {
  return stream_->Send(EncodeWatchCreate(request));
}

Status WatchStream::CancelWatch(int64_t watch_id) {
  return stream_->Send(EncodeWatchCancel(watch_id));
}

Status WatchStream::RequestProgress() {
  return stream_->Send(EncodeWatchProgress());
}

StatusOr<std::optional<WatchResponse>> WatchStream::Next(
    std::chrono::milliseconds timeout) {
  std::string msg;
  switch (stream_->Read(&msg, timeout)) {
    case ClientStream::ReadResult::kTimeout:
      return std::optional<WatchResponse>();
    case ClientStream::ReadResult::kEnd: {
      Status st = stream_->FinalStatus();
      if (st.ok())
        return UnavailableError("etcd: watch stream ended by server");
      return MapEtcdError(st);
    }
    case ClientStream::ReadResult::kMessage:
      break;
  }
  WatchResponse resp;
  KITE_RETURN_IF_ERROR(DecodeWatchResponse(msg, &resp));
  return std::optional<WatchResponse>(std::move(resp));
}

// ---------------------------------------------------------------------------

StatusOr<std::string> Client::Unary(std::string_view method,
                                    const std::string& request) {
  StatusOr<std::string> r = channel_.Call(method, request, timeout_);
  if (!r.ok()) return MapEtcdError(r.status());
  return r;
}

StatusOr<RangeResponse> Client::Range(const RangeRequest& request) {
  KITE_ASSIGN_OR_RETURN(std::string bytes,
                        Unary(kRange, EncodeRangeRequest(request)));
  RangeResponse resp;
  KITE_RETURN_IF_ERROR(DecodeRangeResponse(bytes, &resp));
  return resp;
}

StatusOr<PutResponse> Client::Put(const PutRequest& request) {
  KITE_ASSIGN_OR_RETURN(std::string bytes,
                        Unary(kPut, EncodePutRequest(request)));
  PutResponse resp;
  KITE_RETURN_IF_ERROR(DecodePutResponse(bytes, &resp));
  return resp;
}

StatusOr<DeleteRangeResponse> Client::DeleteRange(
    const DeleteRangeRequest& request) {
  KITE_ASSIGN_OR_RETURN(std::string bytes,
                        Unary(kDeleteRange, EncodeDeleteRangeRequest(request)));
  DeleteRangeResponse resp;
  KITE_RETURN_IF_ERROR(DecodeDeleteRangeResponse(bytes, &resp));
  return resp;
}

StatusOr<TxnResponse> Client::Txn(const TxnRequest& request) {
  KITE_ASSIGN_OR_RETURN(std::string bytes,
                        Unary(kTxn, EncodeTxnRequest(request)));
  TxnResponse resp;
  KITE_RETURN_IF_ERROR(DecodeTxnResponse(bytes, &resp));
  return resp;
}

StatusOr<int64_t> Client::Compact(int64_t revision, bool physical) {
  Encoder e;
  e.Int64IfNonZero(1, revision);
  e.BoolIfTrue(2, physical);
  KITE_ASSIGN_OR_RETURN(std::string bytes, Unary(kCompact, e.Take()));
  Decoder d(bytes);
  Field f;
  ResponseHeader h;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_bytes())
      KITE_RETURN_IF_ERROR(DecodeHeader(f.bytes, &h));
  }
  KITE_RETURN_IF_ERROR(d.status());
  return h.revision;
}

StatusOr<int64_t> Client::LeaseGrant(int64_t ttl_seconds) {
  Encoder e;
  e.Int64IfNonZero(1, ttl_seconds);
  KITE_ASSIGN_OR_RETURN(std::string bytes, Unary(kLeaseGrant, e.Take()));
  Decoder d(bytes);
  Field f;
  int64_t id = 0;
  std::string error;
  while (d.Next(&f)) {
    if (f.number == 2 && f.is_varint()) id = f.AsInt64();
    if (f.number == 4 && f.is_bytes()) error.assign(f.bytes);
  }
  KITE_RETURN_IF_ERROR(d.status());
  if (!error.empty()) return UnavailableError("etcd: lease grant: " + error);
  return id;
}

StatusOr<int64_t> Client::Create(std::string_view key, std::string_view value,
                                 int64_t lease) {
  TxnRequest txn;
  Compare& c = txn.compare.emplace_back();
  c.target = Compare::Target::kMod;
  c.result = Compare::Result::kEqual;
  c.key = key;
  c.number = 0;
  RequestOp& put = txn.success.emplace_back();
  put.kind = RequestOp::Kind::kPut;
  put.put.key = key;
  put.put.value = value;
  put.put.lease = lease;
  KITE_ASSIGN_OR_RETURN(TxnResponse resp, Txn(txn));
  if (!resp.succeeded)
    return AlreadyExistsError("etcd: key " + std::string(key) + " exists");
  return resp.header.revision;
}

StatusOr<int64_t> Client::Update(std::string_view key, std::string_view value,
                                 int64_t expected_mod_revision, int64_t lease,
                                 KeyValue* current) {
  TxnRequest txn;
  Compare& c = txn.compare.emplace_back();
  c.target = Compare::Target::kMod;
  c.result = Compare::Result::kEqual;
  c.key = key;
  c.number = expected_mod_revision;
  RequestOp& put = txn.success.emplace_back();
  put.kind = RequestOp::Kind::kPut;
  put.put.key = key;
  put.put.value = value;
  put.put.lease = lease;
  RequestOp& get = txn.failure.emplace_back();
  get.kind = RequestOp::Kind::kRange;
  get.range.key = key;
  KITE_ASSIGN_OR_RETURN(TxnResponse resp, Txn(txn));
  if (resp.succeeded) return resp.header.revision;
  if (resp.responses.empty() ||
      resp.responses[0].kind != ResponseOp::Kind::kRange ||
      resp.responses[0].range.kvs.empty()) {
    return NotFoundError("etcd: key " + std::string(key) + " not found");
  }
  if (current != nullptr) *current = resp.responses[0].range.kvs[0];
  return ConflictError(
      "etcd: key " + std::string(key) + " was modified at revision " +
      std::to_string(resp.responses[0].range.kvs[0].mod_revision));
}

StatusOr<std::unique_ptr<WatchStream>> Client::Watch() {
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<ClientStream> s,
                        channel_.OpenStream(kWatch));
  return std::make_unique<WatchStream>(std::move(s));
}

}  // namespace kite::rpc::etcd
