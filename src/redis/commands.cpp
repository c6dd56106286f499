// The parts of the command interface that are plain data: script identity and the TIME reply.
#include "redis/commands.hpp"

#include <openssl/sha.h>

#include <cstdlib>

#include "common/hex.hpp"

namespace yw::redis {

Script::Script(std::string source) : source_(std::move(source)) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(source_.data()), source_.size(), digest);
    sha1_ = to_hex(digest);
}

std::optional<std::int64_t> time_us(const Reply& reply) {
    if (!reply.is_array() || reply.elements.size() != 2) return std::nullopt;
    const auto& seconds = reply.elements[0];
    const auto& micros = reply.elements[1];
    if (!seconds.is_string() || !micros.is_string()) return std::nullopt;
    return std::strtoll(seconds.str.c_str(), nullptr, 10) * 1'000'000 +
           std::strtoll(micros.str.c_str(), nullptr, 10);
}

}  // namespace yw::redis
