#include "api/k8s_proto_schema.h"

#include <algorithm>
#include <iterator>

namespace kite::api {

#include "k8s_proto_schema_table.inc"

namespace {

constexpr bool FieldsSorted() {
  for (const ProtoMessageSchema& m : kProtoMessages) {
    for (uint16_t i = 1; i < m.field_count; ++i) {
      if (m.fields[i - 1].number >= m.fields[i].number) return false;
    }
  }
  return true;
}
static_assert(FieldsSorted(), "schema fields must be sorted by number");

constexpr bool KindsSorted() {
  for (size_t i = 1; i < std::size(kProtoKinds); ++i) {
    std::string_view a(kProtoKinds[i - 1].api_version),
        b(kProtoKinds[i].api_version);
    if (a > b || (a == b && std::string_view(kProtoKinds[i - 1].kind) >=
                                std::string_view(kProtoKinds[i].kind))) {
      return false;
    }
  }
  return true;
}
static_assert(KindsSorted(), "kinds must be sorted by (apiVersion, kind)");

constexpr bool IndexesValid() {
  for (const ProtoMessageSchema& m : kProtoMessages) {
    for (uint16_t i = 0; i < m.field_count; ++i) {
      if (m.fields[i].message >= std::size(kProtoMessages)) return false;
    }
  }
  for (const ProtoKindSchema& k : kProtoKinds) {
    if (k.message >= std::size(kProtoMessages)) return false;
  }
  return true;
}
static_assert(IndexesValid(), "message indexes must be inside the table");

}  // namespace

const ProtoMessageSchema& ProtoMessageAt(uint16_t index) {
  return kProtoMessages[index];
}

const ProtoMessageSchema* FindProtoKind(std::string_view api_version,
                                        std::string_view kind) {
  auto less = [](const ProtoKindSchema& k,
                 std::pair<std::string_view, std::string_view> key) {
    std::string_view v(k.api_version);
    return v < key.first ||
           (v == key.first && std::string_view(k.kind) < key.second);
  };
  auto it = std::lower_bound(std::begin(kProtoKinds), std::end(kProtoKinds),
                             std::pair(api_version, kind), less);
  if (it == std::end(kProtoKinds) || api_version != it->api_version ||
      kind != it->kind) {
    return nullptr;
  }
  return &kProtoMessages[it->message];
}

const ProtoFieldSchema* FindProtoField(const ProtoMessageSchema& message,
                                       uint32_t number) {
  const ProtoFieldSchema* begin = message.fields;
  const ProtoFieldSchema* end = message.fields + message.field_count;
  auto it = std::lower_bound(
      begin, end, number,
      [](const ProtoFieldSchema& f, uint32_t n) { return f.number < n; });
  if (it == end || it->number != number) return nullptr;
  return it;
}

std::span<const ProtoKindSchema> ProtoKinds() { return kProtoKinds; }

}  // namespace kite::api
