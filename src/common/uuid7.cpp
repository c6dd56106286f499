// UUIDv7: 48-bit Unix milliseconds, then 74 random bits (with a counter in rand_a for same-millisecond order).
#include "common/uuid7.hpp"

#include <openssl/rand.h>

#include <atomic>
#include <cassert>
#include <mutex>

namespace yw {
namespace {

std::mutex g_mutex;
std::uint64_t g_last_ms = 0;
std::uint16_t g_counter = 0;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

Uuid uuid7_at(std::chrono::system_clock::time_point when) {
    auto ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count());
    Uuid id{};
    int ok = RAND_bytes(id.data(), static_cast<int>(id.size()));
    assert(ok == 1);
    (void)ok;
    std::uint16_t counter;
    {
        // rand_a (12 bits) holds a counter seeded randomly each millisecond: ids made in the same millisecond by
        // this process still sort in creation order (RFC 9562 method 1).
        std::lock_guard lock(g_mutex);
        if (ms > g_last_ms) {
            g_last_ms = ms;
            g_counter = static_cast<std::uint16_t>((id[6] << 8 | id[7]) & 0x7ff);
        } else {
            ms = g_last_ms;
            if (++g_counter > 0xfff) {
                ++g_last_ms;  // counter exhausted: borrow the next millisecond
                ms = g_last_ms;
                g_counter = 0;
            }
        }
        counter = g_counter;
    }
    for (int i = 0; i < 6; ++i) id[static_cast<size_t>(i)] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    id[6] = static_cast<std::uint8_t>(0x70 | ((counter >> 8) & 0x0f));
    id[7] = static_cast<std::uint8_t>(counter & 0xff);
    id[8] = static_cast<std::uint8_t>(0x80 | (id[8] & 0x3f));
    return id;
}

Uuid uuid7() { return uuid7_at(std::chrono::system_clock::now()); }

std::string to_string(const Uuid& id) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (size_t i = 0; i < id.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        out += digits[id[i] >> 4];
        out += digits[id[i] & 0x0f];
    }
    return out;
}

bool parse_uuid(std::string_view text, Uuid& out) {
    if (text.size() != 36) return false;
    size_t byte = 0;
    for (size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return false;
            ++i;
            continue;
        }
        int hi = hex_value(text[i]);
        int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[byte++] = static_cast<std::uint8_t>(hi << 4 | lo);
        i += 2;
    }
    return byte == 16;
}

}  // namespace yw
