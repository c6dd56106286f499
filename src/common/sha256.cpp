// SHA-256 over OpenSSL's EVP interface (see sha256.hpp).
#include "common/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "common/hex.hpp"

namespace yw {

struct Sha256::Impl {
    EVP_MD_CTX* ctx = nullptr;
    Impl() : ctx(EVP_MD_CTX_new()) {
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
            throw std::runtime_error("SHA-256 is not available");
    }
    ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::string_view data) { EVP_DigestUpdate(impl_->ctx, data.data(), data.size()); }

Sha256Digest Sha256::finish() {
    Sha256Digest out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(impl_->ctx, out.data(), &len);
    EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
    return out;
}

std::string Sha256::finish_hex() { return to_hex(finish()); }

Sha256Digest Sha256::of(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.finish();
}

std::string Sha256::hex_of(std::string_view data) { return to_hex(of(data)); }

}  // namespace yw
