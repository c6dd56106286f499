// The cache runbooks as functions ywctl calls: RB-11 statistics, RB-12 key inspection, RB-13 clearing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/verdict.hpp"
#include "ops/redis_sync.hpp"
#include "redis/info.hpp"

namespace yw::ops {

// RB-11: hit rate ≥ 70 % healthy, 50–70 % acceptable (investigate), < 50 % poor. RB-11/RB-23: memory
// < 100 MB, 100–500 MB warning, > 500 MB critical; evictions 0, > 0 warning, > 10000 critical; expirations
// < 1 % of commands.
inline constexpr double kHitRateHealthyPercent = yw::kHitRateHealthyPercent;
inline constexpr double kHitRatePoorPercent = yw::kHitRatePoorPercent;
inline constexpr double kMemoryDegradedMb = yw::kRedisMemoryDegradedMb;
inline constexpr double kMemoryUnhealthyMb = yw::kRedisMemoryUnhealthyMb;
inline constexpr double kEvictionsUnhealthy = yw::kEvictionsUnhealthy;
inline constexpr double kExpirationsDegradedPercent = 1;

yw::Verdict hit_rate_verdict(double percent);

// INFO's text as a map (redis/info.hpp: ywmsgd's /health/detailed reads it too).
using redis::parse_info;

// What RB-11 reads from INFO (the whole server, not only the cache: the rate limiter's reads count too).
struct RedisCacheStats {
    std::uint64_t keyspace_hits = 0;
    std::uint64_t keyspace_misses = 0;
    std::uint64_t expired_keys = 0;
    std::uint64_t evicted_keys = 0;
    std::uint64_t total_commands = 0;
    std::uint64_t used_memory = 0;  // bytes
    std::string maxmemory_policy;
    std::optional<double> hit_rate_percent() const;         // nullopt before any lookup
    std::optional<double> expiration_rate_percent() const;  // of commands processed
};
// The fields from INFO's map; kInternal naming a field that is missing or not a number.
Result<RedisCacheStats> cache_stats_from_info(const std::map<std::string, std::string, std::less<>>& info);
Result<RedisCacheStats> read_cache_stats(SyncRedis& redis);

// RB-12 for one key: does it exist, its TTL (seconds; -1 persistent, -2 missing) and size (MEMORY USAGE).
struct KeyInfo {
    std::string key;
    bool exists = false;
    long long ttl_s = -2;
    long long bytes = 0;
};
Result<KeyInfo> inspect_key(SyncRedis& redis, const std::string& key);

// SCAN MATCH `pattern` over the whole keyspace: how many keys match, and the first `sample` of them.
struct ScanSummary {
    std::uint64_t count = 0;
    std::vector<std::string> sample;
};
Result<ScanSummary> scan_keys(SyncRedis& redis, const std::string& pattern, size_t sample);

// RB-13: SCAN MATCH `pattern` and UNLINK what each step returned (at most `batch` keys per UNLINK), so Redis
// never blocks on one big command; never KEYS, never FLUSHDB. `progress` gets the running total. Returns how
// many keys were deleted.
Result<std::uint64_t> unlink_matching(SyncRedis& redis, const std::string& pattern, size_t batch,
                                      const std::function<void(std::uint64_t)>& progress = {});

}  // namespace yw::ops
