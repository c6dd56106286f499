// UUIDv7 generation, text form and parsing.
#include "common/uuid7.hpp"

#include <openssl/rand.h>

#include <atomic>
#include <cassert>
#include <mutex>

#include "common/hex.hpp"

namespace yw {
namespace {

// UUIDv7: 48-bit Unix milliseconds, then 74 random bits (with a counter in rand_a for same-millisecond
// order).
std::mutex g_mutex;
std::uint64_t g_last_ms = 0;
std::uint16_t g_counter = 0;

// Lays out a UUIDv7 over 16 random bytes: 48-bit milliseconds, version, 12-bit rand_a, variant.
Uuid layout(std::uint64_t ms, std::uint16_t rand_a, Uuid id) {
    for (int i = 0; i < 6; ++i) id[static_cast<size_t>(i)] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    id[6] = static_cast<std::uint8_t>(0x70 | ((rand_a >> 8) & 0x0f));
    id[7] = static_cast<std::uint8_t>(rand_a & 0xff);
    id[8] = static_cast<std::uint8_t>(0x80 | (id[8] & 0x3f));
    return id;
}

Uuid random_bytes() {
    Uuid id{};
    int ok = RAND_bytes(id.data(), static_cast<int>(id.size()));
    assert(ok == 1);
    (void)ok;
    return id;
}

std::uint64_t unix_ms(std::chrono::system_clock::time_point when) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count());
}

}  // namespace

Uuid uuid7_at(std::chrono::system_clock::time_point when) {
    Uuid id = random_bytes();
    return layout(unix_ms(when), static_cast<std::uint16_t>(id[6] << 8 | id[7]), id);
}

Uuid uuid7() {
    Uuid id = random_bytes();
    std::uint64_t ms = unix_ms(std::chrono::system_clock::now());
    std::uint16_t counter;
    {
        // rand_a holds a counter seeded randomly each millisecond, so ids made in the same millisecond by
        // this process still sort in creation order, and a clock stepping back never reorders them (RFC 9562
        // method 1).
        std::lock_guard lock(g_mutex);
        if (ms > g_last_ms) {
            g_last_ms = ms;
            g_counter = static_cast<std::uint16_t>((id[6] << 8 | id[7]) & 0x7ff);
        } else if (++g_counter > 0xfff) {
            ++g_last_ms;  // counter exhausted: borrow the next millisecond
            g_counter = 0;
        }
        ms = g_last_ms;
        counter = g_counter;
    }
    return layout(ms, counter, id);
}

std::string to_string(const Uuid& id) {
    std::string out;
    out.reserve(36);
    for (size_t i = 0; i < id.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        append_hex(out, id[i]);
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
