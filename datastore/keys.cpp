#include "datastore/keys.h"

#include "datastore/backend.h"

namespace kite::datastore {

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c != 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgumentError("empty key");
  return Status::Ok();
}

Status ValidateWrite(std::string_view key, std::string_view value,
                     int64_t ttl_seconds) {
  KITE_RETURN_IF_ERROR(ValidateKey(key));
  if (value.size() > kMaxValueBytes) {
    return ResourceExhaustedError(
        "value of " + std::string(key) + " is " + std::to_string(value.size()) +
        " bytes, over the limit of " + std::to_string(kMaxValueBytes));
  }
  if (ttl_seconds < 0) {
    return InvalidArgumentError("negative TTL for " + std::string(key));
  }
  return Status::Ok();
}

}  // namespace kite::datastore
