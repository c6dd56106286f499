// See hex.hpp.
#include "common/hex.hpp"

#include <charconv>

namespace yw {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_hex(std::string& out, unsigned char byte) {
    static constexpr char kDigits[] = "0123456789abcdef";
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0x0f];
}

std::string to_hex(std::span<const unsigned char> bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) append_hex(out, b);
    return out;
}

std::optional<std::uint64_t> parse_hex_u64(std::string_view text) {
    std::uint64_t value = 0;
    const char* last = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), last, value, 16);
    if (text.empty() || ec != std::errc{} || ptr != last) return std::nullopt;
    return value;
}

}  // namespace yw
