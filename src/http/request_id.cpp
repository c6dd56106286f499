// Request id validation and generation.
#include "http/request_id.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <random>

namespace yw::http {

bool is_valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_';
    });
}

std::string generate_request_id() {
    // Ids need to be unique, not secret: a per-thread generator seeded once avoids a syscall per request.
    thread_local std::mt19937_64 engine{std::random_device{}()};
    std::uint64_t high = engine();
    std::uint64_t low = engine();
    return fmt::format("{:016x}{:016x}", high, low);
}

std::string request_id_for(std::string_view incoming) {
    return is_valid_request_id(incoming) ? std::string(incoming) : generate_request_id();
}

}  // namespace yw::http
