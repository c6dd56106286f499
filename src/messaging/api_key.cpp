// Generation, hashing and syntax checks of API keys.
#include "messaging/api_key.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cassert>
#include <stdexcept>

#include "common/sha256.hpp"

namespace yw::messaging {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kRandomChars = 32;
constexpr size_t kPrefixRandomChars = 8;

bool is_base62(char c) { return kAlphabet.find(c) != std::string_view::npos; }

}  // namespace

GeneratedKey generate_api_key(std::string_view env) {
    assert(!env.empty() && env.size() <= 12);
    std::string secret = "key_" + std::string(env) + "_";
    // Rejection sampling keeps every character uniform (256 is not a multiple of 62).
    while (secret.size() < 5 + env.size() + kRandomChars) {
        unsigned char buf[64];
        if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("RAND_bytes failed");
        for (unsigned char b : buf) {
            if (b >= 248) continue;
            secret += kAlphabet[b % 62];
            if (secret.size() == 5 + env.size() + kRandomChars) break;
        }
    }
    GeneratedKey key;
    key.prefix = key_prefix(secret);
    key.hash = sha256(secret);
    key.secret = std::move(secret);
    return key;
}

bool looks_like_api_key(std::string_view text) {
    if (text.substr(0, 4) != "key_") return false;
    auto sep = text.find('_', 4);
    if (sep == std::string_view::npos || sep == 4 || sep - 4 > 12) return false;
    for (char c : text.substr(4, sep - 4)) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    std::string_view random = text.substr(sep + 1);
    if (random.size() != kRandomChars) return false;
    for (char c : random) {
        if (!is_base62(c)) return false;
    }
    return true;
}

std::string key_prefix(std::string_view key) {
    auto sep = key.find('_', 4);
    if (sep == std::string_view::npos) return std::string(key.substr(0, 12));
    return std::string(key.substr(0, sep + 1 + kPrefixRandomChars));
}

KeyHash sha256(std::string_view data) { return Sha256::of(data); }

bool constant_time_equal(const KeyHash& a, const KeyHash& b) {
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace yw::messaging
