// Cache-aside in Redis for the API's hot reads.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cache/keys.hpp"
#include "common/error.hpp"
#include "common/single_flight.hpp"

namespace yw::redis {
class Commands;
}

namespace yw::cache {

struct CacheOptions {
    std::chrono::seconds ttl{300};           // YW_CACHE_TTL_S: users and conversations
    std::chrono::seconds messages_ttl{60};   // YW_CACHE_MESSAGES_TTL_S: first pages change with every message
    std::chrono::seconds negative_ttl{5};    // YW_CACHE_NEGATIVE_TTL_S: "not found"
    double jitter = 0.1;                     // YW_CACHE_TTL_JITTER_PCT / 100
    std::chrono::milliseconds timeout{100};  // YW_CACHE_TIMEOUT_MS: one Redis call's budget
    // How long a write's invalidation stamp lives: longer than any load may take, so a load that began before
    // the write always sees it, and longer than a readable replica may lag, so a fill that finds no stamp
    // may read any replica (ywmsgd: the largest of 60 s, twice YW_QUERY_TIMEOUT_MS and twice
    // YW_MAX_REPLICA_LAG_MS).
    std::chrono::seconds stamp_ttl{60};
};

// Where an answer came from; the X-Cache response header.
enum class Outcome {
    kHit,     // Redis had it
    kMiss,    // loaded from the database (by this request or the one it waited for) and stored
    kBypass,  // from the database without the cache: no Redis configured, or Redis failed
};
std::string_view name_of(Outcome outcome);  // "HIT", "MISS", "BYPASS"

struct Fetched {
    std::string json;  // the resource exactly as the API answers it
    Outcome outcome = Outcome::kBypass;
};

// Counters of one namespace since the process started.
struct NamespaceStats {
    Namespace ns = Namespace::kUsers;
    std::uint64_t hits = 0;    // answered from Redis (negative entries included)
    std::uint64_t misses = 0;  // not in Redis: answered from the database
    std::uint64_t stale = 0;  // loads not stored because a write (any instance) invalidated the key meanwhile
    std::uint64_t errors = 0;  // Redis calls that failed (GET, SET, DEL): answered from the database
    std::uint64_t loads = 0;   // database loads (after single-flight: one per key per process at a time)
};

// The cache holds the JSON the API returns, under a tenant-scoped key, with a jittered TTL; one load per key
// per process at a time (single-flight); a short TTL for "not found"; writes delete keys (never set them) and
// raise the key's invalidation stamp, and a load stores what it read only if no write of the key (on any
// instance) came while it ran. Redis failing is never the client's problem: the answer comes from the
// database and the failure is counted.
class Cache {
  public:
    // What a load must read. Set when its answer will be stored for every reader: the newest WAL position
    // reported by the writes that invalidated the key within stamp_ttl (0: none; kUnknownLsn: a write whose
    // position is unknown, so only the primary is sure to show it), which the node it reads from must have
    // replayed. nullopt: the answer is not stored (no Redis, or Redis failing), read as any read is.
    using FillLsn = std::optional<std::uint64_t>;
    static constexpr std::uint64_t kUnknownLsn = UINT64_MAX;
    // Loads the resource from the database: its JSON text, kNotFound (cached for negative_ttl), or another
    // error (not cached, passed on).
    using Loader = std::function<boost::asio::awaitable<Result<std::string>>(FillLsn)>;

    // Without a Redis client every read loads (still single-flight) and answers kBypass.
    explicit Cache(CacheOptions options);
    // The client (ywmsgd: the redis::Client) lives on the server's io_context, which exists only once the
    // routes (which hold this cache) are built: attach it before serving, detach it before closing it.
    void attach(redis::Commands* redis) { redis_ = redis; }

    boost::asio::awaitable<Result<Fetched>> get(Namespace ns, const std::string& key, Loader load);

    // Deletes `keys` (UNLINK) before the write that changed them is answered, and raises their stamps with
    // `written_lsn` (the write's WAL position, pg::ResultSet::write_lsn: a fill of these keys reads a node
    // that replayed it). Failures are counted and logged, never returned: the entries then live until their
    // TTL.
    boost::asio::awaitable<void> invalidate(std::vector<std::string> keys, std::uint64_t written_lsn);

    // Redis's clock in µs: read it before a bulk load and pass it to store_if_absent.
    boost::asio::awaitable<Result<std::int64_t>> clock();
    // Stores entries loaded in bulk (warming) where the key is absent and no write of it came after `since`
    // (clock() before the load began): never over a value a request stored meanwhile, never what a write
    // made stale. Returns how many were stored.
    boost::asio::awaitable<size_t> store_if_absent(Namespace ns, std::int64_t since,
                                                   std::vector<std::pair<std::string, std::string>> entries);

    bool enabled() const { return redis_ != nullptr; }
    bool connected() const;  // enabled, and the client is connected right now
    std::vector<NamespaceStats> stats() const;

  private:
    struct Counters {
        std::atomic<std::uint64_t> hits{0}, misses{0}, stale{0}, errors{0}, loads{0};
    };
    Counters& counters(Namespace ns) { return counters_[static_cast<size_t>(ns)]; }
    std::atomic<std::uint64_t>& generation(const std::string& key);
    std::chrono::seconds ttl_for(Namespace ns, bool not_found) const;

    redis::Commands* redis_ = nullptr;
    CacheOptions options_;
    // What one flight (a lookup and perhaps a load) gives every caller of the key.
    struct Answer {
        Outcome outcome = Outcome::kBypass;
        Result<std::string> body;  // the JSON, or the loader's error
    };
    boost::asio::awaitable<Answer> lookup_or_load(Namespace ns, const std::string& key, const Loader& load);
    void redis_failed(Namespace ns, std::string_view command, const Error& error);
    void redis_worked();

    SingleFlight<Answer> flights_;
    std::atomic<bool> failing_{false};  // logs the first failure and the recovery, not every call
    std::array<Counters, kNamespaces.size()> counters_;
    // Invalidation generations, striped by key hash (fixed memory): a load that saw its stripe move did run
    // while a write deleted its key, so its result may predate the write and is not stored.
    std::array<std::atomic<std::uint64_t>, 1024> generations_{};
};

}  // namespace yw::cache
