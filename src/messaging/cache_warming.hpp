// Cache warming at start (CACHE_WARMING_ENABLED, RB-12).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "cache/cache.hpp"
#include "pg/cluster.hpp"

namespace yw::messaging {

struct WarmingOptions {
    int max_keys = 1000;                      // YW_CACHE_WARMING_MAX_KEYS: users and conversations together
    std::chrono::milliseconds timeout{5000};  // YW_CACHE_WARMING_TIMEOUT_MS: the whole warming
};

struct WarmingReport {
    size_t conversations = 0;  // entries sent (SET NX: a value a request stored meanwhile is kept)
    size_t users = 0;
    bool complete = false;  // false: stopped by the deadline or an error (logged)
};

// The hottest conversations and their users are put in the cache before clients ask, bounded in keys and in
// time.
//
// Logs "Cache warming started for key: conversations:*" and "… users:*", then what it stored. Never fails
// the server: an error ends warming early.
boost::asio::awaitable<WarmingReport> warm_cache(pg::Cluster& db, cache::Cache& cache,
                                                 WarmingOptions options);

}  // namespace yw::messaging
