// HMAC-signed cursors; verification compares in constant time.
#include "messaging/cursor.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace yw::messaging {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMacBytes = 16;
constexpr size_t kMaxCursor = 512;

Error bad_cursor() { return make_error(ErrorCode::kInvalidArgument, "invalid cursor"); }

}  // namespace

std::string base64url_encode(std::string_view data) {
    std::string out;
    size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        unsigned v = static_cast<unsigned char>(data[i]) << 16 |
                     static_cast<unsigned char>(data[i + 1]) << 8 | static_cast<unsigned char>(data[i + 2]);
        out += kAlphabet[v >> 18];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (i + 1 == data.size()) {
        unsigned v = static_cast<unsigned char>(data[i]) << 16;
        out += kAlphabet[v >> 18];
        out += kAlphabet[(v >> 12) & 63];
    } else if (i + 2 == data.size()) {
        unsigned v = static_cast<unsigned char>(data[i]) << 16 | static_cast<unsigned char>(data[i + 1]) << 8;
        out += kAlphabet[v >> 18];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
    }
    return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
    out.clear();
    if (text.size() % 4 == 1) return false;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        auto pos = kAlphabet.find(c);
        if (pos == std::string_view::npos) return false;
        buffer = (buffer << 6) | static_cast<unsigned>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    // Leftover bits must be zero, so every cursor has exactly one spelling.
    return (buffer & ((1u << bits) - 1)) == 0;
}

CursorCodec::CursorCodec(std::string secret) : secret_(std::move(secret)) {}

std::string CursorCodec::sign(std::string_view payload) const {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
         reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
    return std::string(reinterpret_cast<const char*>(mac), kMacBytes);
}

std::string CursorCodec::encode(const std::vector<std::string>& fields) const {
    std::string payload;
    for (size_t i = 0; i < fields.size(); ++i) payload += (i ? "|" : "") + fields[i];
    return base64url_encode(payload) + "." + base64url_encode(sign(payload));
}

Result<std::vector<std::string>> CursorCodec::decode(std::string_view cursor,
                                                     const std::vector<std::string>& scope) const {
    if (cursor.empty() || cursor.size() > kMaxCursor) return bad_cursor();
    auto dot = cursor.find('.');
    if (dot == std::string_view::npos) return bad_cursor();
    std::string payload, mac;
    if (!base64url_decode(cursor.substr(0, dot), payload) || !base64url_decode(cursor.substr(dot + 1), mac)) {
        return bad_cursor();
    }
    std::string expected = sign(payload);
    if (mac.size() != expected.size() || CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) != 0) {
        return bad_cursor();
    }
    std::vector<std::string> fields;
    size_t start = 0;
    for (;;) {
        auto bar = payload.find('|', start);
        fields.push_back(payload.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
        if (bar == std::string::npos) break;
        start = bar + 1;
    }
    if (fields.size() < scope.size()) return bad_cursor();
    for (size_t i = 0; i < scope.size(); ++i) {
        if (fields[i] != scope[i]) return bad_cursor();
    }
    return fields;
}

}  // namespace yw::messaging
