// Redis's INFO reply: the text parsed into fields, and the few numbers ywmsgd and ywctl read from it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace yw::redis {

using Info = std::map<std::string, std::string, std::less<>>;

// INFO's text ("# Section" headers, "key:value" lines) as a map.
Info parse_info(std::string_view text);

// A field as an unsigned number; nullopt when it is missing or not a number.
std::optional<std::uint64_t> info_u64(const Info& info, std::string_view field);

// The keys of every database, from the Keyspace section's "dbN:keys=K,expires=E,…" lines.
std::uint64_t keyspace_keys(const Info& info);

}  // namespace yw::redis
