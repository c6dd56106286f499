// SHA-256 over OpenSSL's EVP interface (see sha256.hpp).
#include "common/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "common/hex.hpp"

namespace yw {

namespace {

// Fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up in its provider store (under a lock)
// on every digest, and every authenticated request hashes its API key.
const EVP_MD* sha256_md() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md ? md : EVP_sha256();
}

}  // namespace

struct Sha256::Impl {
    EVP_MD_CTX* ctx = nullptr;
    Impl() : ctx(EVP_MD_CTX_new()) {
        if (!ctx || EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1)
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
    EVP_DigestInit_ex(impl_->ctx, sha256_md(), nullptr);
    return out;
}

std::string Sha256::finish_hex() { return to_hex(finish()); }

Sha256Digest Sha256::of(std::string_view data) {
    // One call, no context to allocate: the API key of every request goes through here.
    Sha256Digest out{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, sha256_md(), nullptr) != 1 ||
        len != out.size())
        throw std::runtime_error("SHA-256 failed");
    return out;
}

std::string Sha256::hex_of(std::string_view data) { return to_hex(of(data)); }

}  // namespace yw
