// Per-API-key rate limiting shared by every ywmsgd instance.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/prometheus.hpp"
#include "ratelimit/policy.hpp"
#include "redis/commands.hpp"

namespace yw::ratelimit {

// What happens to requests while Redis cannot answer.
enum class Fallback {
    kLocal,   // each instance limits alone to limit ÷ instances (the default)
    kOpen,    // admit everything (availability over protection)
    kClosed,  // refuse everything with 503 (protection over availability)
};
Result<Fallback> parse_fallback(std::string_view text);

struct LimiterOptions {
    bool enabled = true;
    int instances = 1;  // ywmsgd instances behind the load balancer: the local fallback's divisor
    Fallback fallback = Fallback::kLocal;
    std::chrono::milliseconds timeout{50};       // the script call's deadline; slower counts as unavailable
    std::chrono::milliseconds epoch_poll{1000};  // how often rl:epoch (resets, admin changes) is checked
    size_t max_remembered = 100000;              // local entries (denied keys, fallback state) before reset
    // Leases: the most requests one script call may take for this instance (1: every request asks Redis),
    // and how long an unused remainder stays usable (then it is given back with the key's next call).
    std::int64_t max_lease = 128;
    std::chrono::milliseconds lease_ttl{250};
};

// Whose request: the API key's identity and settings as authentication found them.
struct Subject {
    std::string key_id;  // api_keys.id: the Redis key is rl:{<id>}, never the secret
    std::string tier;
    std::optional<int> burst_size;
    const std::vector<std::string>* whitelist_ips = nullptr;
};

// Where a decision came from.
enum class Source {
    kDisabled,    // rate limiting is off
    kWhitelist,   // the client IP is whitelisted for the key
    kRedis,       // the shared script decided
    kLease,       // admitted from this instance's lease: room the script granted moments ago
    kRemembered,  // denied from the local memory of an over-limit key, without asking Redis
    kLocal,       // Redis unavailable: the local fallback decided
    kFailOpen,    // Redis unavailable, fallback open
    kFailClosed,  // Redis unavailable, fallback closed: answer 503
};

struct Decision {
    bool allowed = true;
    Source source = Source::kDisabled;
    Policy policy;  // the key's global policy (headers show it, also under the local fallback)
    std::int64_t remaining = 0;
    std::int64_t retry_after_ms = 0;  // denied: when to come back
    std::int64_t reset_after_ms = 0;  // when the key is back to a full burst
    std::int64_t granted = 0;         // kRedis: requests the script admitted at once (> 1: a lease)
    bool has_headers() const {
        return source == Source::kRedis || source == Source::kLease || source == Source::kRemembered ||
               source == Source::kLocal;
    }
};

struct LimiterStats {
    std::uint64_t redis_allowed = 0, redis_denied = 0, lease_allowed = 0, remembered_denied = 0,
                  local_allowed = 0, local_denied = 0, whitelisted = 0, fail_open = 0, fail_closed = 0,
                  redis_errors = 0, epoch_changes = 0;
};

// The Redis names (also used by the admin service).
std::string state_key(std::string_view key_id);  // rl:{<id>}: GCRA state and usage counters (a hash)
inline constexpr std::string_view kEpochKey = "rl:epoch";  // bumped by resets and admin changes
std::string blocks_key(std::int64_t unix_hour);  // rl:blocks:<hour>: denials per key id (a sorted set)
const redis::Script& limiter_script();

// The limiter: one EVALSHA of a small GCRA script under rl: per request, or per lease for busy keys (a few
// requests' worth of room taken at once and spent locally for a moment: see lease_grant in policy.hpp), keys
// known to be over the limit remembered locally until their retry time, and a per-instance fallback (limit ÷
// instances, or open, or closed) while Redis is unavailable.
class Limiter {
  public:
    // `redis` (ywmsgd: the redis::Client) may be null (no REDIS_URL): the local fallback always decides.
    Limiter(redis::Commands* redis, LimiterOptions options);
    ~Limiter();

    boost::asio::awaitable<Decision> check(const Subject& subject, std::string_view client_ip);

    // Called (on a loop thread) when another instance or ywctl reset a key or changed one: drop what is
    // cached about keys (the authenticator's cache too, through this callback).
    void on_epoch_change(std::function<void()> callback) { on_epoch_change_ = std::move(callback); }
    // This instance changed or reset a key: forget local memory of it now.
    void forget(std::string_view key_id);

    // Starts the epoch poll on `executor`; stop() before the io_context goes.
    void start(boost::asio::any_io_executor executor);
    void stop();

    LimiterStats stats() const;
    // Prometheus lines (yw_ratelimit_*).
    void dump_metrics(prometheus::Writer& out) const;

  private:
    struct Remembered {
        Policy policy;  // a tier change makes the memory void
        std::chrono::steady_clock::time_point until;
        Decision decision;
    };
    // Room granted by the script and not spent yet; `want` sizes the next lease (doubles while leases are
    // used up in time, halves when one expires unused).
    struct Lease {
        Policy policy;            // a tier change makes the lease void
        std::int64_t epoch = -1;  // so does a reset or an admin change
        std::chrono::steady_clock::time_point granted_at, expires;
        std::int64_t tokens = 0;     // requests still admissible from it
        std::int64_t remaining = 0;  // the script's `remaining` after the grant
        std::int64_t reset_after_ms = 0;
        std::int64_t want = 1;
        bool refilling = false;  // a lease request of this instance is in flight
    };
    // Admits one request from the key's lease when it holds room that is still good; `refill` (when
    // `can_refill`) says how many to ask for now, before it runs dry.
    std::optional<Decision> spend_lease(const std::string& key_id, const Policy& policy, bool can_refill,
                                        std::int64_t& refill);
    // How much to ask the script for, and what to give back, when the lease could not admit the request.
    struct LeaseAsk {
        std::int64_t want = 1, giveback = 0;
        bool owner = false;  // this request's grant goes to the lease (it set `refilling`)
    };
    LeaseAsk plan_ask(const std::string& key_id, const Policy& policy);
    // Puts a lease request's grant into the key's lease; `spent`: the asking request was admitted from the
    // lease already (a refill), else it takes one of the grant.
    void absorb(const std::string& key_id, const Policy& policy, const Decision& d, bool spent);
    boost::asio::awaitable<Decision> ask_redis(const Subject& subject, const Policy& policy,
                                               std::int64_t want, std::int64_t giveback);
    Decision decide_locally(const Subject& subject, const Policy& policy);
    void observe_epoch(std::int64_t epoch);
    boost::asio::awaitable<void> poll_epoch();
    // Adds the refusals decided from local memory since the last call to the key's `blocks` and to the
    // analytics' rl:blocks:<hour> (one pipeline), so blocksSinceReset counts every 429, not only those
    // Redis decided. Called by the epoch poll; what Redis could not take is kept for the next call.
    boost::asio::awaitable<void> report_blocks();
    void clear_local();

    redis::Commands* redis_;
    LimiterOptions options_;
    std::function<void()> on_epoch_change_;
    std::unique_ptr<boost::asio::steady_timer> timer_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::int64_t> epoch_{-1};

    mutable std::mutex mutex_;
    std::unordered_map<std::string, Remembered> remembered_;   // by key id
    std::unordered_map<std::string, std::int64_t> local_tat_;  // by key id: fallback GCRA state (steady µs)
    std::unordered_map<std::string, Lease> leases_;            // by key id
    std::unordered_map<std::string, std::int64_t> unreported_blocks_;  // by key id: remembered refusals

    struct Counters {
        std::atomic<std::uint64_t> redis_allowed{0}, redis_denied{0}, lease_allowed{0}, remembered_denied{0},
            local_allowed{0}, local_denied{0}, whitelisted{0}, fail_open{0}, fail_closed{0}, redis_errors{0},
            epoch_changes{0};
    } counters_;
};

}  // namespace yw::ratelimit
