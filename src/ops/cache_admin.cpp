// RB-11/12/13 on a blocking Redis connection.
#include "ops/cache_admin.hpp"

#include <fmt/format.h>

#include <charconv>

namespace yw::ops {
namespace {

constexpr size_t kScanCount = 1000;  // the COUNT hint of each SCAN step

bool to_u64(std::string_view text, std::uint64_t& out) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && ptr == text.data() + text.size();
}

Result<redis::Reply> checked(SyncRedis& redis, const std::vector<std::string>& args) {
    auto reply = redis.command(args);
    if (!reply) return reply.error();
    if (reply->is_error()) {
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("Redis refused {}: {}", args.front(), reply->str));
    }
    return reply;
}

// One SCAN step: the next cursor ("0" when the iteration is complete) and the keys it returned.
Result<std::pair<std::string, std::vector<std::string>>> scan_step(SyncRedis& redis,
                                                                   const std::string& cursor,
                                                                   const std::string& pattern) {
    auto reply = checked(redis, {"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(kScanCount)});
    if (!reply) return reply.error();
    if (!reply->is_array() || reply->elements.size() != 2 || !reply->elements[1].is_array()) {
        return make_error(ErrorCode::kInternal, "unexpected SCAN reply");
    }
    std::vector<std::string> keys;
    for (auto& k : reply->elements[1].elements) keys.push_back(std::move(k.str));
    return std::pair{reply->elements[0].str, std::move(keys)};
}

}  // namespace

yw::Verdict hit_rate_verdict(double percent) {
    if (percent >= kHitRateHealthyPercent) return yw::Verdict::kHealthy;
    if (percent >= kHitRatePoorPercent) return yw::Verdict::kDegraded;
    return yw::Verdict::kUnhealthy;
}

std::optional<double> RedisCacheStats::hit_rate_percent() const {
    std::uint64_t lookups = keyspace_hits + keyspace_misses;
    if (lookups == 0) return std::nullopt;
    return 100.0 * static_cast<double>(keyspace_hits) / static_cast<double>(lookups);
}

std::optional<double> RedisCacheStats::expiration_rate_percent() const {
    if (total_commands == 0) return std::nullopt;
    return 100.0 * static_cast<double>(expired_keys) / static_cast<double>(total_commands);
}

Result<RedisCacheStats> cache_stats_from_info(const std::map<std::string, std::string, std::less<>>& info) {
    RedisCacheStats s;
    const std::pair<const char*, std::uint64_t*> fields[] = {
        {"keyspace_hits", &s.keyspace_hits},
        {"keyspace_misses", &s.keyspace_misses},
        {"expired_keys", &s.expired_keys},
        {"evicted_keys", &s.evicted_keys},
        {"total_commands_processed", &s.total_commands},
        {"used_memory", &s.used_memory},
    };
    for (const auto& [name, out] : fields) {
        auto it = info.find(name);
        if (it == info.end() || !to_u64(it->second, *out)) {
            return make_error(ErrorCode::kInternal, fmt::format("INFO has no numeric {}", name));
        }
    }
    if (auto it = info.find("maxmemory_policy"); it != info.end()) s.maxmemory_policy = it->second;
    return s;
}

Result<RedisCacheStats> read_cache_stats(SyncRedis& redis) {
    auto reply = checked(redis, {"INFO", "all"});
    if (!reply) return reply.error();
    if (!reply->is_string()) return make_error(ErrorCode::kInternal, "unexpected INFO reply");
    return cache_stats_from_info(parse_info(reply->str));
}

Result<KeyInfo> inspect_key(SyncRedis& redis, const std::string& key) {
    KeyInfo info{key};
    auto ttl = checked(redis, {"TTL", key});
    if (!ttl) return ttl.error();
    info.ttl_s = ttl->integer;
    info.exists = info.ttl_s != -2;
    if (!info.exists) return info;
    auto usage = checked(redis, {"MEMORY", "USAGE", key});
    if (!usage) return usage.error();
    info.bytes = usage->is_integer() ? usage->integer : 0;  // nil: gone since the TTL
    return info;
}

Result<ScanSummary> scan_keys(SyncRedis& redis, const std::string& pattern, size_t sample) {
    ScanSummary summary;
    std::string cursor = "0";
    do {
        auto step = scan_step(redis, cursor, pattern);
        if (!step) return step.error();
        cursor = step->first;
        summary.count += step->second.size();
        for (auto& k : step->second) {
            if (summary.sample.size() < sample) summary.sample.push_back(std::move(k));
        }
    } while (cursor != "0");
    return summary;
}

Result<std::uint64_t> unlink_matching(SyncRedis& redis, const std::string& pattern, size_t batch,
                                      const std::function<void(std::uint64_t)>& progress) {
    std::uint64_t deleted = 0;
    std::string cursor = "0";
    do {
        auto step = scan_step(redis, cursor, pattern);
        if (!step) return step.error();
        cursor = step->first;
        const auto& keys = step->second;
        for (size_t from = 0; from < keys.size(); from += batch) {
            std::vector<std::string> unlink{"UNLINK"};
            unlink.insert(unlink.end(), keys.begin() + static_cast<std::ptrdiff_t>(from),
                          keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), from + batch)));
            auto reply = checked(redis, unlink);
            if (!reply) return reply.error();
            deleted += static_cast<std::uint64_t>(reply->integer);
            if (progress) progress(deleted);
        }
    } while (cursor != "0");
    return deleted;
}

}  // namespace yw::ops
