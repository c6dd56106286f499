// ywmsgd: the messaging API server.
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cache.hpp"
#include "cache/metrics.hpp"
#include "common/config.hpp"
#include "common/logging.hpp"
#include "health/checker.hpp"
#include "health/history.hpp"
#include "health/metrics_routes.hpp"
#include "health/routes.hpp"
#include "http/metrics.hpp"
#include "http/openapi.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "messaging/api_key.hpp"
#include "messaging/audit_log.hpp"
#include "messaging/cache_warming.hpp"
#include "messaging/ratelimit_admin.hpp"
#include "messaging/routes.hpp"
#include "messaging/services.hpp"
#include "messaging/write_positions.hpp"
#include "partitions/maintainer.hpp"
#include "pg/cluster.hpp"
#include "pg/metrics.hpp"
#include "pg/migrator.hpp"
#include "pg/monitor.hpp"
#include "pg/topology.hpp"
#include "ratelimit/limiter.hpp"
#include "redis/client.hpp"

namespace {

// sysexits.h: command line usage error, configuration error.
constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;

constexpr std::string_view kUsage =
    "usage: ywmsgd [--config FILE]\n"
    "\n"
    "Serves the ywmessaging API. Configuration comes from the environment, over the KEY=VALUE file given\n"
    "by --config or YW_CONFIG_FILE (names in docs/configuration.md).\n"
    "\n"
    "  --config FILE  read configuration from FILE; the environment still wins\n"
    "  --help         print this help\n";

struct Args {
    std::string config_file;
    bool help = false;
};

// Returns false, after saying why on stderr, for anything but --help and --config FILE|--config=FILE.
bool parse_args(int argc, char** argv, Args& args) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            args.help = true;
        } else if (arg == "--config" && i + 1 < argc) {
            args.config_file = argv[++i];
        } else if (arg.starts_with("--config=") && arg.size() > 9) {
            args.config_file = arg.substr(9);
        } else {
            std::cerr << "ywmsgd: "
                      << (arg == "--config" ? "--config needs a FILE"
                                            : "unknown argument " + std::string(arg))
                      << "\n\n";
            return false;
        }
    }
    return true;
}

// Cursors must verify on every instance: without YW_CURSOR_SECRET the key derives from settings they share.
std::string cursor_secret(const yw::Config& config) {
    if (!config.cursor_secret.empty()) return config.cursor_secret;
    auto hash =
        yw::messaging::sha256("ywmessaging cursors\n" + config.admin_token + "\n" + config.database_url);
    return std::string(hash.begin(), hash.end());
}

std::string url_of(const std::string& host, std::uint16_t port) {
    if (host.find(':') != std::string::npos) return fmt::format("http://[{}]:{}", host, port);  // IPv6
    return fmt::format("http://{}:{}", host, port);
}

// Pools: DATABASE_URL, plus one per node (direct) when replicas are configured and reads are routed.
yw::pg::ClusterOptions cluster_options(const yw::Config& config) {
    auto pool = [&config](std::string name, std::string url, bool prepare) {
        return yw::pg::PoolOptions{std::move(name),           url,
                                   config.db_pool_size,       config.db_acquire_timeout,
                                   config.db_connect_timeout, prepare};
    };
    yw::pg::ClusterOptions options;
    const bool bouncer = config.database_url != config.primary_url;
    options.primary =
        pool(bouncer ? "pgbouncer" : "primary", config.database_url, config.db_prepare && !bouncer);
    if (!config.read_replicas.empty()) {
        for (const auto& node : config.nodes())
            options.nodes.push_back(pool(node.name, node.url, config.db_prepare));
    }
    options.query_timeout = config.query_timeout;
    return options;
}

// Topology discovery runs when there is something to route between: replicas.
std::unique_ptr<yw::pg::TopologyMonitor> topology_monitor(const yw::Config& config) {
    if (config.read_replicas.empty()) return nullptr;
    yw::pg::TopologyOptions options;
    options.nodes = config.nodes();
    if (config.database_url != config.primary_url) options.pgbouncer_url = config.database_url;
    options.interval = config.probe_interval;
    options.timeout = config.probe_timeout;
    options.max_lag = config.max_replica_lag;
    return std::make_unique<yw::pg::TopologyMonitor>(std::move(options));
}

// What the status page's charts count: HTTP answers (429s among them) and cached reads.
yw::health::Counters status_counters(const yw::http::Metrics& metrics, const yw::cache::Cache& cache) {
    yw::health::Counters c;
    for (const auto& series : metrics.snapshot()) {
        std::uint64_t n = 0;
        for (auto k : series.latency.counts) n += k;
        c.requests += n;
        if (series.status == 429) c.limited += n;
    }
    for (const auto& ns : cache.stats()) {
        c.cache_hits += ns.hits;
        c.cache_lookups += ns.hits + ns.misses;
    }
    return c;
}

}  // namespace

// Reads the configuration, migrates when asked, serves until SIGTERM/SIGINT.
int main(int argc, char** argv) {
    Args args;
    if (!parse_args(argc, argv, args)) {
        std::cerr << kUsage;
        return kExitUsage;
    }
    if (args.help) {
        std::cout << kUsage;
        return 0;
    }
    auto loaded = yw::load_config(args.config_file);
    if (!loaded) {
        std::cerr << "ywmsgd: " << loaded.error().message << '\n';
        return kExitConfig;
    }
    const yw::Config& config = *loaded;
    yw::log::init(config.log_level, config.log_format);
    for (const auto& warning : config.warnings) yw::log::warn(warning);

    if (config.auto_migrate) {
        auto report = yw::pg::migrate(config.database_url, config.migrations_dir);
        if (!report) {
            yw::log::error("migration failed", {{"error", report.error().message.c_str()}});
            return 1;
        }
        yw::log::info("migrations applied",
                      {{"applied", report->applied.size()}, {"version", report->current_version}});
    }

    // Installed before the server starts so that a signal arriving during startup still drains.
    boost::asio::io_context signals_io;
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM);
    signals.async_wait([](const boost::system::error_code& ec, int signal) {
        if (!ec) yw::log::info("stopping", {{"signal", signal}});
    });

    yw::pg::QueryMonitor monitor({config.query_window, config.slow_query_threshold_ms});
    auto topology = topology_monitor(config);
    yw::pg::Cluster db(cluster_options(config), &monitor, topology.get());

    namespace msg = yw::messaging;
    msg::CursorCodec cursors(cursor_secret(config));
    msg::Authenticator auth(db, config.key_cache_ttl, config.auth_failure_limit);
    msg::AdminService admin(db);
    yw::cache::CacheOptions cache_options{
        config.cache_ttl,
        config.cache_messages_ttl,
        config.cache_negative_ttl,
        config.cache_ttl_jitter_pct / 100.0,
        config.cache_timeout,
        std::max({std::chrono::seconds(60), 2 * std::chrono::ceil<std::chrono::seconds>(config.query_timeout),
                  2 * std::chrono::ceil<std::chrono::seconds>(config.max_replica_lag)})};
    yw::cache::Cache cache(cache_options);
    msg::UserService users(db, cursors, cache);
    msg::ConversationService conversations(db, cursors, cache);
    msg::MessageService messages(db, cursors, cache);
    msg::AuditLog audit(db, config.database_url);
    msg::Api api{config.admin_token, auth, admin, users, conversations, messages, &audit};

    // Writes must never stop on a calendar date: every instance keeps the months ahead (docs/partitions.md).
    std::optional<yw::partitions::Maintainer> maintainer;
    if (config.partition_maintenance_interval.count() > 0) {
        maintainer.emplace(
            db, yw::partitions::MaintainerOptions{.instance = yw::partitions::default_instance_name(),
                                                  .interval = config.partition_maintenance_interval,
                                                  .months_ahead = config.partitions_ahead});
    } else {
        yw::log::warn(
            "YW_PARTITION_MAINTENANCE_INTERVAL_S=0: this instance does not create partitions ahead");
    }

    yw::health::Checker checker(config.database_url, config.health_timeout);
    yw::http::Router router;
    yw::health::add_routes(router, checker, topology.get(), maintainer ? &*maintainer : nullptr);
    // RB-23: every dependency probed at once, one round shared by all callers for YW_HEALTH_DETAILED_TTL_MS.
    yw::health::DetailedProber detailed(yw::health::detailed_options(config), nullptr, &monitor,
                                        maintainer ? &*maintainer : nullptr);
    yw::health::add_detailed_route(router, detailed, config.admin_token);
    msg::add_routes(router, api);
    yw::http::add_openapi_route(router);
    yw::http::Metrics metrics;
    yw::health::add_metrics_routes(router, monitor, db, metrics);
    // The status page (/status): RB-23's fields graded, and 15 minutes of charts sampled in fixed memory.
    yw::health::History history(yw::names_of(config.nodes()), config.status_sample_interval);
    yw::health::Sampler sampler(
        history, {[&metrics, &cache] { return status_counters(metrics, cache); }, &monitor, topology.get()});
    yw::health::add_status_routes(router, detailed, history, db, config.admin_token);
    auto options = yw::http::server_options(config);
    yw::http::raise_open_file_limit();
    // Every database pool full, Redis, the topology probes, logs: files connections must never take.
    options.reserved_files =
        static_cast<std::size_t>(config.db_pool_size) * (1 + config.nodes().size()) + 128;
    options.on_response = [&metrics](const yw::http::RequestRecord& r) { metrics.observe(r); };
    options.on_drained = [&audit] { audit.stop(); };
    yw::http::Server server(options, std::move(router));
    // Redis, the rate limiter and the cache live on the server's io_context: created after it, so destroyed
    // before it; one client for both (each call carries its own deadline). The cache is attached before the
    // server's threads start, so no request sees it change.
    std::optional<yw::redis::Client> redis;
    if (!config.redis_url.empty()) {
        yw::redis::ClientOptions redis_options;
        redis_options.url = config.redis_url;
        redis_options.connect_timeout = config.redis_connect_timeout;
        redis_options.command_timeout = config.redis_command_timeout;
        redis.emplace(server.executor(), redis_options);
        redis->start();
    } else {
        yw::log::warn("no REDIS_URL: rate limits are per instance only, and reads are not cached");
    }
    // Read-your-writes across instances: a tenant's write position, shared through Redis.
    std::optional<yw::messaging::WritePositions> write_positions;
    if (redis && topology) {
        write_positions.emplace(*redis);
        db.share_write_positions(&*write_positions);
        metrics.add_source(
            [&write_positions](yw::prometheus::Writer& out) { write_positions->dump_metrics(out); });
    }
    yw::ratelimit::LimiterOptions limiter_options;
    limiter_options.enabled = config.rate_limit_enabled;
    limiter_options.instances = config.instances;
    limiter_options.fallback = *yw::ratelimit::parse_fallback(config.rate_limit_fallback);
    limiter_options.timeout = config.rate_limit_timeout;
    limiter_options.max_lease = config.rate_limit_lease_max;
    limiter_options.lease_ttl = config.rate_limit_lease_ttl;
    yw::ratelimit::Limiter limiter(redis ? &*redis : nullptr, limiter_options);
    limiter.on_epoch_change([&auth] { auth.forget_all(); });
    std::optional<yw::messaging::RateLimitAdmin> rate_admin;
    if (redis) rate_admin.emplace(db, *redis, &limiter, [&auth] { auth.forget_all(); });
    api.limiter = &limiter;
    api.rate_admin = rate_admin ? &*rate_admin : nullptr;
    metrics.add_source([&limiter](yw::prometheus::Writer& out) { limiter.dump_metrics(out); });
    if (redis) metrics.add_source([&redis](yw::prometheus::Writer& out) { redis->dump_metrics(out); });
    detailed.attach_redis(redis ? &*redis : nullptr);
    metrics.add_source([&detailed](yw::prometheus::Writer& out) { detailed.dump_metrics(out); });
    metrics.add_source(
        [&cache](yw::prometheus::Writer& out) { yw::cache::dump_metrics(out, cache.stats()); });
    metrics.add_source(
        [](yw::prometheus::Writer& out) { yw::pg::dump_metrics(out, yw::pg::missing_partition_stats()); });
    metrics.add_source(
        [&server](yw::prometheus::Writer& out) { yw::http::dump_metrics(out, server.connection_stats()); });
    if (maintainer) {
        metrics.add_source([&maintainer](yw::prometheus::Writer& out) { maintainer->dump_metrics(out); });
    }
    limiter.start(server.executor());

    if (redis && config.cache_enabled) {
        cache.attach(&*redis);
        if (config.cache_warming_enabled) {
            msg::WarmingOptions warming{config.cache_warming_max_keys, config.cache_warming_timeout};
            boost::asio::co_spawn(server.executor(), msg::warm_cache(db, cache, warming),
                                  boost::asio::detached);
        }
    } else if (config.cache_warming_enabled) {
        yw::log::warn(
            "CACHE_WARMING_ENABLED is set but the cache is off (no REDIS_URL, or YW_CACHE_ENABLED=false)");
    }

    if (auto started = server.start(); !started) {
        yw::log::error("cannot start the HTTP server", {{"error", started.error().message.c_str()}});
        return 1;
    }
    audit.start(server.executor());
    if (topology) topology->start(server.executor());
    if (maintainer) maintainer->start(server.executor());
    sampler.start(server.executor());
    yw::log::info("listening", {{"url", url_of(config.http_host, server.port()).c_str()}});

    signals_io.run();
    if (maintainer) maintainer->stop();  // its run in flight finishes on the server's threads
    sampler.stop();
    limiter.stop();
    server.stop();
    // Sockets and timers belong to the server's io_context, which goes with `server`: close them first.
    cache.attach(nullptr);
    if (redis) redis->close();
    checker.close();
    detailed.close();
    if (topology) topology->stop();
    db.close();
    yw::log::info("stopped");
    return 0;
}
