// ywctl cache stats|inspect|clear: the Redis cache runbooks RB-11, RB-12 and RB-13.
#include <fmt/format.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <iostream>

#include "cache/keys.hpp"
#include "commands.hpp"
#include "common/logging.hpp"
#include "ops/cache_admin.hpp"
#include "output.hpp"

namespace ywctl {
namespace {

using yw::ops::SyncRedis;

Level level_of(yw::Verdict v) {
    switch (v) {
        case yw::Verdict::kHealthy:
            return Level::kOk;
        case yw::Verdict::kDegraded:
            return Level::kWarning;
        case yw::Verdict::kUnhealthy:
            return Level::kCritical;
    }
    return Level::kUnknown;
}

std::string megabytes(std::uint64_t bytes) {
    return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

std::string ttl_text(long long ttl) {
    if (ttl == -1) return "none (persistent)";
    if (ttl == -2) return "-";
    return fmt::format("{} s", ttl);
}

// Loads the configuration and connects to REDIS_URL, printing the problem and returning the exit code when
// it cannot: 78 without a usable configuration or REDIS_URL, 2 when Redis does not answer.
int with_redis(const Globals& g, const std::function<int(SyncRedis&)>& body) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    if (config->redis_url.empty()) {
        print_error(g.json, "REDIS_URL is not set");
        return kConfig;
    }
    auto redis = SyncRedis::open(config->redis_url);
    if (!redis) {
        print_error(g.json, redis.error().message);
        return kCritical;
    }
    return body(*redis);
}

// RB-11: hit rate, memory, evictions, expirations.
int stats(const Globals& g) {
    return with_redis(g, [&](SyncRedis& redis) {
        auto s = yw::ops::read_cache_stats(redis);
        if (!s) {
            print_error(g.json, s.error().message);
            return int(kUnknown);
        }
        CheckReport report;
        report.title = "Redis cache (RB-11)";
        auto hit_rate = s->hit_rate_percent();
        CheckRow hits{"hit rate", Level::kUnknown, "-",
                      fmt::format(">= {:.0f} % (< {:.0f} % poor)", yw::ops::kHitRateHealthyPercent,
                                  yw::ops::kHitRatePoorPercent),
                      fmt::format("{} hits, {} misses", s->keyspace_hits, s->keyspace_misses)};
        if (hit_rate) {
            hits.level = level_of(yw::ops::hit_rate_verdict(*hit_rate));
            hits.value = fmt::format("{:.1f} %", *hit_rate);
        } else {
            hits.detail = "no lookups since Redis started: nothing to judge yet";
        }
        report.add(hits);
        double mb = static_cast<double>(s->used_memory) / 1e6;
        report.add({"memory used",
                    level_of(yw::grade(mb, yw::ops::kMemoryDegradedMb, yw::ops::kMemoryUnhealthyMb)),
                    megabytes(s->used_memory),
                    fmt::format("< {:.0f} MB (> {:.0f} MB critical)", yw::ops::kMemoryDegradedMb,
                                yw::ops::kMemoryUnhealthyMb),
                    "maxmemory-policy " + s->maxmemory_policy});
        report.add(
            {"evictions",
             level_of(yw::grade(static_cast<double>(s->evicted_keys), 1, yw::ops::kEvictionsUnhealthy)),
             std::to_string(s->evicted_keys),
             fmt::format("0 (> {:.0f} critical)", yw::ops::kEvictionsUnhealthy),
             s->evicted_keys > 0 ? "memory is full: keys are being pushed out" : ""});
        auto expiration = s->expiration_rate_percent();
        report.add(
            {"expirations",
             expiration && *expiration >= yw::ops::kExpirationsDegradedPercent ? Level::kWarning : Level::kOk,
             fmt::format("{} ({:.2f} % of commands)", s->expired_keys, expiration.value_or(0)),
             fmt::format("< {:.0f} % of commands", yw::ops::kExpirationsDegradedPercent),
             fmt::format("{} commands processed", s->total_commands)});
        report.data = {{"keyspace_hits", s->keyspace_hits},
                       {"keyspace_misses", s->keyspace_misses},
                       {"hit_rate_percent", hit_rate ? boost::json::value(*hit_rate) : nullptr},
                       {"used_memory_bytes", s->used_memory},
                       {"evicted_keys", s->evicted_keys},
                       {"expired_keys", s->expired_keys},
                       {"total_commands_processed", s->total_commands},
                       {"maxmemory_policy", s->maxmemory_policy},
                       {"redis", redis.address()}};
        if (hits.level == Level::kWarning || hits.level == Level::kCritical) {
            report.next_steps = {
                "ywctl cache inspect --pattern 'users:*'   # is anything cached? (RB-12)",
                "grep 'Cache warming' in ywmsgd's log; set CACHE_WARMING_ENABLED=true",
                "curl -s $YW_URL/metrics | grep yw_cache_   # per-namespace hits and misses"};
        }
        report.print(g.json);
        return report.exit_code();
    });
}

// RB-12 (with inspect_pattern below): a key or a pattern: exists, TTL, size.
int inspect_one(const Globals& g, SyncRedis& redis, const std::string& key) {
    auto info = yw::ops::inspect_key(redis, key);
    if (!info) {
        print_error(g.json, info.error().message);
        return int(kUnknown);
    }
    CheckReport report;
    report.title = fmt::format("Cache key {} (RB-12)", key);
    report.add({"exists", info->exists ? Level::kOk : Level::kWarning, info->exists ? "yes" : "no", "yes",
                info->exists ? "" : "not cached: the next read loads it from the database"});
    if (info->exists) {
        bool persistent = info->ttl_s == -1;
        report.add(
            {"ttl", persistent ? Level::kWarning : Level::kOk, ttl_text(info->ttl_s), "> 0 s",
             persistent ? "never expires: volatile-lru cannot evict it and no TTL bounds staleness" : ""});
        report.add({"size", Level::kOk, fmt::format("{} B", info->bytes), "", "MEMORY USAGE"});
    }
    if (!yw::cache::namespace_of(key)) {
        report.next_steps.push_back("the server caches only users:*, conversations:* and messages:* keys");
    }
    report.data = {
        {"key", key}, {"exists", info->exists}, {"ttl_seconds", info->ttl_s}, {"bytes", info->bytes}};
    report.print(g.json);
    return report.exit_code();
}

int inspect_pattern(const Globals& g, SyncRedis& redis, const std::string& pattern, size_t limit) {
    auto scan = yw::ops::scan_keys(redis, pattern, limit);
    if (!scan) {
        print_error(g.json, scan.error().message);
        return int(kUnknown);
    }
    CheckReport report;
    report.title = fmt::format("Cache keys matching {} (RB-12)", pattern);
    report.add({"matching keys", scan->count > 0 ? Level::kOk : Level::kWarning, std::to_string(scan->count),
                "> 0", scan->count > 0 ? "" : "nothing cached: is the server reading through the cache?"});
    boost::json::array keys;
    for (const auto& key : scan->sample) {
        auto info = yw::ops::inspect_key(redis, key);
        if (!info) {
            print_error(g.json, info.error().message);
            return int(kUnknown);
        }
        if (!info->exists) continue;  // expired between SCAN and TTL
        bool persistent = info->ttl_s == -1;
        report.add({key, persistent ? Level::kWarning : Level::kOk,
                    fmt::format("ttl {}, {} B", ttl_text(info->ttl_s), info->bytes), "ttl > 0 s",
                    persistent ? "never expires" : ""});
        keys.push_back({{"key", key}, {"ttl_seconds", info->ttl_s}, {"bytes", info->bytes}});
    }
    if (scan->count > scan->sample.size()) {
        report.next_steps.push_back(
            fmt::format("{} more not shown (--limit)", scan->count - scan->sample.size()));
    }
    report.data = {{"pattern", pattern}, {"count", scan->count}, {"keys", std::move(keys)}};
    report.print(g.json);
    return report.exit_code();
}

// RB-13: count, then SCAN + UNLINK in batches, behind --yes.
struct ClearArgs {
    std::string pattern;
    bool all = false;
    bool yes = false;
    bool dry_run = false;
    size_t batch = 500;
};

int clear(const Globals& g, const ClearArgs& args) {
    std::vector<std::string> patterns;
    if (args.all) {
        for (const auto& p : yw::cache::cache_patterns()) patterns.push_back(p);
    } else {
        patterns.push_back(args.pattern);
    }
    return with_redis(g, [&](SyncRedis& redis) {
        // 1. Count first (RB-13: know what you clear).
        std::uint64_t total = 0;
        boost::json::array counted;
        std::vector<std::string> plan;
        for (const auto& p : patterns) {
            auto scan = yw::ops::scan_keys(redis, p, 0);
            if (!scan) {
                print_error(g.json, scan.error().message);
                return int(kCritical);
            }
            total += scan->count;
            counted.push_back({{"pattern", p}, {"matched", scan->count}});
            plan.push_back(
                fmt::format("delete the {} keys matching {} on {} (SCAN + UNLINK, {} keys per UNLINK)",
                            scan->count, p, redis.address(), args.batch));
        }
        plan.push_back(
            "the database serves these reads until the cache refills: watch /metrics/queries p95 "
            "(RB-13 step 2)");
        if (total == 0 || args.dry_run) {
            if (g.json) {
                print_json(
                    {{"patterns", counted}, {"matched", total}, {"deleted", 0}, {"dry_run", args.dry_run}});
            } else {
                for (const auto& line : plan) std::cout << (args.dry_run ? "would " : "") << line << "\n";
                if (total == 0) std::cout << "✓ nothing to clear\n";
            }
            return int(kOk);
        }
        if (!confirm(plan, args.yes, g.json)) return int(kUsage);
        // 2. Delete in batches; progress on a terminal.
        std::uint64_t deleted = 0;
        bool tty = !g.json && isatty(STDOUT_FILENO);
        for (const auto& p : patterns) {
            std::uint64_t before = deleted;
            auto done = yw::ops::unlink_matching(redis, p, args.batch, [&](std::uint64_t n) {
                if (tty) std::cout << "\r  deleted " << before + n << " / " << total << std::flush;
            });
            if (!done) {
                if (tty) std::cout << "\n";
                print_error(g.json,
                            fmt::format("stopped after deleting {} keys: {}", deleted, done.error().message));
                return int(kCritical);
            }
            deleted += *done;
        }
        if (tty) std::cout << "\n";
        yw::log::info("cache cleared",
                      {{"patterns", boost::json::value_from(patterns)}, {"deleted", deleted}});
        if (g.json) {
            print_json({{"patterns", counted}, {"matched", total}, {"deleted", deleted}, {"dry_run", false}});
        } else {
            std::cout << "✓ deleted " << deleted << " keys\n";
        }
        return int(kOk);
    });
}

}  // namespace

void add_cache_commands(CLI::App& app, const Globals& g, Action& action) {
    auto* cache = app.add_subcommand("cache", "The Redis cache (RB-11, RB-12, RB-13)");
    cache->require_subcommand(1);
    cache->add_subcommand("stats", "Hit rate, memory, evictions, expirations from INFO (RB-11)")
        ->callback([&g, &action] { action = [&g] { return stats(g); }; });

    struct InspectArgs {
        std::string key;
        std::string pattern;
        size_t limit = 20;
    };
    auto inspect_args = std::make_shared<InspectArgs>();
    auto* inspect =
        cache->add_subcommand("inspect", "A key (exists, TTL, size) or the keys of a pattern (RB-12)");
    auto* key = inspect->add_option("key", inspect_args->key, "The key, e.g. users:TENANT:ID");
    auto* pattern =
        inspect->add_option("--pattern", inspect_args->pattern, "A SCAN MATCH pattern, e.g. 'users:*'");
    key->excludes(pattern);
    inspect->add_option("--limit", inspect_args->limit, "Keys of the pattern shown")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    inspect->callback([&g, &action, inspect_args] {
        action = [&g, inspect_args] {
            if (inspect_args->key.empty() && inspect_args->pattern.empty()) {
                print_error(g.json, "cache inspect needs a KEY or --pattern P");
                return int(kUsage);
            }
            return with_redis(g, [&](SyncRedis& redis) {
                return inspect_args->key.empty()
                           ? inspect_pattern(g, redis, inspect_args->pattern, inspect_args->limit)
                           : inspect_one(g, redis, inspect_args->key);
            });
        };
    });

    auto clear_args = std::make_shared<ClearArgs>();
    auto* clear_cmd = cache->add_subcommand(
        "clear", "Delete cache keys by SCAN + UNLINK in batches, never KEYS or FLUSHDB (RB-13)");
    auto* clear_pattern = clear_cmd->add_option("--pattern", clear_args->pattern, "A SCAN MATCH pattern");
    auto* clear_all = clear_cmd->add_flag(
        "--all", clear_args->all, "Every cache namespace (users:*, conversations:*, messages:*); never rl:*");
    clear_pattern->excludes(clear_all);
    clear_cmd->add_flag("--yes", clear_args->yes, "Do not ask");
    clear_cmd->add_flag("--dry-run", clear_args->dry_run, "Count and show the plan; delete nothing");
    clear_cmd->add_option("--batch", clear_args->batch, "Keys per UNLINK")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    clear_cmd->callback([&g, &action, clear_args] {
        action = [&g, clear_args] {
            if (clear_args->pattern.empty() && !clear_args->all) {
                print_error(g.json, "cache clear needs --pattern P or --all");
                return int(kUsage);
            }
            return clear(g, *clear_args);
        };
    });
}

}  // namespace ywctl
