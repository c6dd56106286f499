// API-key authentication with a short in-process metadata cache, and the admin token check.
#include <fmt/format.h>
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
constexpr auto kFailureWindow = std::chrono::seconds(60);
constexpr size_t kMaxTrackedAddresses = 100000;

}  // namespace

Authenticator::Authenticator(pg::Cluster& db, std::chrono::milliseconds ttl, int failure_limit)
    : db_(db), ttl_(ttl), failure_limit_(failure_limit) {}

long long Authenticator::locked_out_for(std::string_view client_ip, Clock::time_point now) {
    if (failure_limit_ <= 0) return 0;
    auto it = failures_.find(std::string(client_ip));
    if (it == failures_.end() || it->second.count < failure_limit_) return 0;
    auto left = it->second.window_start + kFailureWindow - now;
    return left <= Clock::duration::zero() ? 0 : std::chrono::ceil<std::chrono::seconds>(left).count();
}

void Authenticator::note_failure(std::string_view client_ip, Clock::time_point now) {
    if (failure_limit_ <= 0) return;
    if (failures_.size() >= kMaxTrackedAddresses) failures_.clear();  // bounded memory
    auto& f = failures_[std::string(client_ip)];
    if (f.count == 0 || now - f.window_start >= kFailureWindow) f = Failures{now, 0};
    ++f.count;
}

void Authenticator::forget_all() {
    std::lock_guard lock(mutex_);
    cache_.clear();
}

asio::awaitable<Authenticator::Lookup> Authenticator::lookup(std::string hash_hex, KeyHash hash) {
    // On a replica: key writes carry the "api_keys" read-your-writes scope (src/pg/queries.hpp), so a replica
    // is only asked once it has replayed the last key change this instance (or, through Redis, any instance)
    // made. A miss there is an answer; asking the primary again would let a flood of random keys cost the
    // primary a transaction each.
    pg::Params params{hash_hex};
    auto rows = co_await db_.exec(pg::Intent::kRead, pg::queries::kApiKeyAuthenticate, std::move(params));
    if (!rows) co_return rows.error();
    if (rows->rows() != 1) co_return remember(hash_hex, std::nullopt);
    Row r(*rows, 0);
    // The index found the row by hash; compare again in constant time so no code path depends on where two
    // hashes differ.
    KeyHash stored{};
    std::string stored_hex = r.text("key_hash");
    for (size_t i = 0; i < stored.size() && 2 * i + 1 < stored_hex.size(); ++i) {
        stored[i] = static_cast<std::uint8_t>(std::stoi(stored_hex.substr(2 * i, 2), nullptr, 16));
    }
    if (!constant_time_equal(stored, hash)) co_return remember(hash_hex, std::nullopt);
    Principal p;
    p.key_id = r.text("id");
    p.tenant_id = r.text("tenant_id");
    p.prefix = r.text("prefix");
    p.tier = r.text("tier");
    if (!r.is_null("burst_size")) p.burst_size = static_cast<int>(r.int64("burst_size"));
    p.whitelist_ips = parse_text_array(r.text("whitelist_ips"));
    p.blocked = r.boolean("blocked");
    p.block_reason = r.text("block_reason");
    co_return remember(hash_hex, std::move(p));
}

std::optional<Principal> Authenticator::remember(const std::string& hash_hex,
                                                 std::optional<Principal> principal) {
    // Cached by the lookup itself, before its single flight ends: a request arriving just after finds the
    // entry instead of starting a second lookup.
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    if (cache_.size() >= kMaxCachedKeys) cache_.clear();  // bounded memory; refills from the database
    cache_[hash_hex] = Entry{principal, now + (principal ? ttl_ : std::min(ttl_, kUnknownKeyTtl))};
    return principal;
}

Task<Principal> Authenticator::authenticate(std::string_view presented, std::string_view client_ip) {
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
        // An address that keeps presenting unknown keys stops reaching the database; a key that worked here
        // lately still does (a client behind the same NAT as the flood keeps working).
        bool worked_lately = it != cache_.end() && it->second.principal;
        if (!cached && !worked_lately) {
            if (long long wait_s = locked_out_for(client_ip, now); wait_s > 0) {
                Error refused = make_error(
                    ErrorCode::kRateLimited,
                    fmt::format("too many failed authentications from this address; retry in {} s", wait_s));
                refused.retry_after_s = static_cast<int>(wait_s);
                co_return refused;
            }
        }
    }
    if (!cached) {
        // Named, never a temporary of the co_await (tests/unit/source_rules_test.cpp).
        const SingleFlight<Lookup>::Loader load = [this, &hash_hex, &hash] { return lookup(hash_hex, hash); };
        Lookup found = co_await lookups_.run(hash_hex, load);
        if (!found) co_return found.error();
        principal = std::move(*found);
        if (!principal) {
            std::lock_guard lock(mutex_);
            note_failure(client_ip, now);
        }
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
