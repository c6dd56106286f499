// API keys: `key_<env>_<32 base62 chars>` (about 190 random bits).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/hex.hpp"

namespace yw::messaging {

// Only the SHA-256 of a key is stored; the display prefix identifies it to humans, logs and the audit log.
using KeyHash = std::array<std::uint8_t, 32>;

struct GeneratedKey {
    std::string secret;  // shown once, never stored
    std::string prefix;  // "key_prod_AbCdEfGh"
    KeyHash hash{};
};

// env: lowercase letters and digits, 1..12 chars ("prod", "test", "dev").
GeneratedKey generate_api_key(std::string_view env);

// Syntax only: key_<env>_<32 base62>.
bool looks_like_api_key(std::string_view text);

// The display prefix of a well-formed key: "key_<env>_" and the first 8 random characters.
std::string key_prefix(std::string_view key);

KeyHash sha256(std::string_view data);

// Comparison whose time does not depend on where the inputs differ.
bool constant_time_equal(const KeyHash& a, const KeyHash& b);

}  // namespace yw::messaging
