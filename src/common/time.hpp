// Timestamps as the API shows them: RFC 3339 UTC with microseconds, from Unix microseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace yw {

// 1732519800123456 → "2024-11-25T07:30:00.123456Z"
std::string rfc3339_from_us(std::int64_t unix_us);
// Unix microseconds now.
std::int64_t unix_us_now();
// Parses an integer of Unix microseconds as PostgreSQL prints it; false when it is not one.
bool parse_int64(std::string_view text, std::int64_t& out);

}  // namespace yw
