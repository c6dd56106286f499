// Time-ordered UUIDs (RFC 9562 version 7).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace yw {

// Ids sort by creation time, so keyset pagination and B-tree inserts stay cheap.
using Uuid = std::array<std::uint8_t, 16>;

// A new UUIDv7 from the system clock and OpenSSL's CSPRNG; monotonic within a process.
Uuid uuid7();
Uuid uuid7_at(std::chrono::system_clock::time_point when);

std::string to_string(const Uuid& id);
// Accepts the canonical 8-4-4-4-12 hex form (either case); false otherwise.
bool parse_uuid(std::string_view text, Uuid& out);

}  // namespace yw
