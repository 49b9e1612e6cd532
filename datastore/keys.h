// Small helpers on keys and write arguments shared by the Backend
// implementations, so they validate and range-match identically.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kite::datastore {

// The smallest key greater than every key starting with `prefix`; empty when
// there is none (an empty prefix or one of only 0xff bytes).
std::string PrefixEnd(std::string_view prefix);

// InvalidArgument for an empty key or a negative TTL; ResourceExhausted for a
// value over kMaxValueBytes.
Status ValidateWrite(std::string_view key, std::string_view value,
                     int64_t ttl_seconds);
Status ValidateKey(std::string_view key);

}  // namespace kite::datastore
