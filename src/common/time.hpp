// Timestamps as the API shows them: RFC 3339 UTC with microseconds, from Unix microseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yw {

// 1732519800123456 → "2024-11-25T07:30:00.123456Z"
std::string rfc3339_from_us(std::int64_t unix_us);
// "2026-12-01T22:50:00Z", "2026-12-01 22:50:00.123+01:00": RFC 3339 with a date, a time, optional fraction
// and a required offset (a time without a zone is ambiguous) → Unix microseconds; nullopt when it is not one.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

// Milliseconds from `start` to now on the steady clock: a step's duration.
long long ms_since(std::chrono::steady_clock::time_point start);

// Unix microseconds now.
std::int64_t unix_us_now();
// Parses an integer of Unix microseconds as PostgreSQL prints it; false when it is not one.
bool parse_int64(std::string_view text, std::int64_t& out);

}  // namespace yw
