// Hexadecimal: lowercase encoding of bytes (hashes, ids, secrets) and the value of one digit.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace yw {

// 0–15 for a hex digit of either case; -1 for anything else.
int hex_value(char c);

// Two lowercase digits per byte.
void append_hex(std::string& out, unsigned char byte);
std::string to_hex(std::span<const unsigned char> bytes);

// The whole of `text` as a hexadecimal number (either case; WAL positions are kept as 16 digits, so they
// compare as strings); nullopt when empty, not all digits, or over 64 bits.
std::optional<std::uint64_t> parse_hex_u64(std::string_view text);

}  // namespace yw
