// Rate-limit administration (RB-14/15/16) shared by the admin endpoints and ywctl.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "messaging/services.hpp"
#include "pg/cluster.hpp"
#include "ratelimit/limiter.hpp"
#include "redis/commands.hpp"

namespace yw::messaging {

// A key's status, a reset, the abuse analytics, and the key changes (tier, block, whitelist, burst) that take
// effect fleet-wide at once.
class RateLimitAdmin {
  public:
    // `redis` is the redis::Client in ywmsgd and ywctl; `limiter` is null outside ywmsgd (ywctl); `on_change`
    // runs after any change made here (ywmsgd: forget the authenticator's cache).
    RateLimitAdmin(pg::Cluster& db, redis::Commands& redis, ratelimit::Limiter* limiter = nullptr,
                   std::function<void()> on_change = {});

    // {key} is a full API key or its display prefix; the answers name keys by display prefix only.
    // RB-14: {"apiKey","requestsUsed","requestLimit","percentUsed","windowResetAt","hourlyAverage",
    // "blocksSinceReset"} plus "tier","burst","remaining","blocked".
    Task<Json> status(std::string_view key);
    // RB-15 step 3: the window starts afresh; every instance drops what it cached about keys. Returns status.
    Task<Json> reset(std::string_view key);
    // RB-16 step 1: most-blocked keys (Redis), keys near their limit, addresses using several keys, bursts
    // (audit log).
    Task<Json> analytics();

    // RB-15 step 2 + 3: the tier, then a reset. Returns status.
    Task<Json> set_tier(std::string_view key, std::string_view tier);
    // RB-16 step 3a / 4a / 4b. Each resets nothing but makes every instance re-read the key at once.
    Task<Json> block(std::string_view key, std::string_view reason);
    Task<Json> unblock(std::string_view key);
    Task<Json> whitelist(std::string_view key, std::string_view ip);
    Task<Json> burst(std::string_view key, int burst_size);

  private:
    struct KeyRow {
        std::string id, prefix, tier, block_reason;
        std::optional<int> burst_size;
        std::vector<std::string> whitelist_ips;
        bool blocked = false;
    };
    Task<KeyRow> find(std::string_view key);
    Task<Json> status_of(const KeyRow& row);
    Task<boost::json::array> most_blocked();
    // kApiKeyPatch with the given (flag, value) pairs after the prefix, then changed().
    Task<Json> patch(std::string_view key, pg::Params fields);
    // Bumps rl:epoch (and deletes the key's window when `reset`) so that every instance re-reads keys, then
    // runs the local hooks.
    boost::asio::awaitable<Status> changed(const KeyRow& row, bool reset);

    pg::Cluster& db_;
    redis::Commands& redis_;
    ratelimit::Limiter* limiter_;
    std::function<void()> on_change_;
};

}  // namespace yw::messaging
