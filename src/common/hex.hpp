// Hexadecimal: lowercase encoding of bytes (hashes, ids, secrets) and the value of one digit.
#pragma once

#include <span>
#include <string>

namespace yw {

// 0–15 for a hex digit of either case; -1 for anything else.
int hex_value(char c);

// Two lowercase digits per byte.
void append_hex(std::string& out, unsigned char byte);
std::string to_hex(std::span<const unsigned char> bytes);

}  // namespace yw
