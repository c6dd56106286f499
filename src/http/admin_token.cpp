// The admin bearer token: see admin_token.hpp.
#include "http/admin_token.hpp"

#include <openssl/crypto.h>

#include "common/sha256.hpp"

namespace yw::http {

std::string_view bearer_token(const Request& request) {
    auto it = request.find(boost::beast::http::field::authorization);
    if (it == request.end()) return {};
    std::string_view v = it->value();
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) return v.substr(7);
    return {};
}

bool admin_token_matches(std::string_view configured, std::string_view presented) {
    if (configured.empty()) return false;
    // Hashing first makes the comparison length-independent as well as constant-time.
    Sha256Digest a = Sha256::of(configured);
    Sha256Digest b = Sha256::of(presented);
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace yw::http
