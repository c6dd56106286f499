// API-key authentication with a short in-process metadata cache, and the admin token check.
#include <openssl/crypto.h>

#include "messaging/api_key.hpp"
#include "messaging/rows.hpp"
#include "messaging/services.hpp"
#include "pg/queries.hpp"

namespace yw::messaging {
namespace asio = boost::asio;
namespace {

constexpr std::chrono::milliseconds kUnknownKeyTtl{1000};
constexpr size_t kMaxCachedKeys = 100000;

}  // namespace

bool admin_token_matches(std::string_view configured, std::string_view presented) {
    if (configured.empty()) return false;
    // Hashing first makes the comparison length-independent as well as constant-time.
    KeyHash a = sha256(configured);
    KeyHash b = sha256(presented);
    return constant_time_equal(a, b);
}

Authenticator::Authenticator(pg::Cluster& db, std::chrono::milliseconds ttl) : db_(db), ttl_(ttl) {}

void Authenticator::forget_all() {
    std::lock_guard lock(mutex_);
    cache_.clear();
}

Task<Principal> Authenticator::authenticate(std::string_view presented) {
    if (presented.empty())
        co_return make_error(ErrorCode::kUnauthenticated, "an API key is required (X-API-Key)");
    if (!looks_like_api_key(presented)) co_return make_error(ErrorCode::kUnauthenticated, "invalid API key");
    KeyHash hash = sha256(presented);
    std::string hash_hex = to_hex(hash);
    auto now = std::chrono::steady_clock::now();
    std::optional<Principal> principal;
    bool cached = false;
    {
        std::lock_guard lock(mutex_);
        auto it = cache_.find(hash_hex);
        if (it != cache_.end() && it->second.expires > now) {
            principal = it->second.principal;
            cached = true;
        }
    }
    if (!cached) {
        pg::Params params{hash_hex};
        auto rows = co_await db_.exec(pg::Intent::kRead, pg::queries::kApiKeyAuthenticate, std::move(params));
        if (rows && rows->rows() == 0) {
            // A key created a moment ago may not have reached the replica yet: ask the primary before saying
            // no.
            pg::Params again{hash_hex};
            rows = co_await db_.exec(pg::Intent::kReadAfterWrite, pg::queries::kApiKeyAuthenticate,
                                     std::move(again));
        }
        if (!rows) co_return rows.error();
        if (rows->rows() == 1) {
            Row r(*rows, 0);
            // The index found the row by hash; compare again in constant time so no code path depends on
            // where two hashes differ.
            KeyHash stored{};
            std::string stored_hex = r.text("key_hash");
            for (size_t i = 0; i < stored.size() && 2 * i + 1 < stored_hex.size(); ++i) {
                stored[i] = static_cast<std::uint8_t>(std::stoi(stored_hex.substr(2 * i, 2), nullptr, 16));
            }
            if (constant_time_equal(stored, hash)) {
                Principal p;
                p.key_id = r.text("id");
                p.tenant_id = r.text("tenant_id");
                p.prefix = r.text("prefix");
                p.tier = r.text("tier");
                if (!r.is_null("burst_size")) p.burst_size = static_cast<int>(r.int64("burst_size"));
                p.whitelist_ips = parse_text_array(r.text("whitelist_ips"));
                p.blocked = r.boolean("blocked");
                p.block_reason = r.text("block_reason");
                principal = std::move(p);
            }
        }
        std::lock_guard lock(mutex_);
        if (cache_.size() >= kMaxCachedKeys) cache_.clear();  // bounded memory; refills from the database
        cache_[hash_hex] = Entry{principal, now + (principal ? ttl_ : std::min(ttl_, kUnknownKeyTtl))};
    }
    if (!principal) co_return make_error(ErrorCode::kUnauthenticated, "invalid API key");
    if (principal->blocked) {
        co_return make_error(
            ErrorCode::kForbidden,
            "API key blocked" +
                (principal->block_reason.empty() ? std::string() : ": " + principal->block_reason));
    }
    co_return *principal;
}

}  // namespace yw::messaging
