// RB-23's /health/detailed: see detailed.hpp.
#include "health/detailed.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

#include "pg/connection.hpp"
#include "pg/health_queries.hpp"
#include "pg/pgbouncer_admin.hpp"
#include "pg/row.hpp"
#include "redis/info.hpp"

namespace yw::health {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
// Less WAL than this left to replay is "caught up" for a single round (the router's TopologyRules judge
// the same few bytes by their history instead).
constexpr std::uint64_t kSingleRoundCaughtUpBytes = kMiB;
// The XID space PostgreSQL can use before it stops: half of 2^32.
constexpr double kXidSpace = 2147483648.0;

double round2(double v) { return std::round(v * 100) / 100; }

json::value or_null(const std::optional<long long>& v) { return v ? json::value(*v) : json::value(nullptr); }

// nullopt: not measured ("unknown"), which does not count towards the overall status.
std::string_view word(std::optional<Verdict> v) { return v ? to_string(*v) : std::string_view("unknown"); }

std::optional<Verdict> queries_verdict(const QueriesReading& q) {
    if (!q.available) return std::nullopt;
    return grade_queries(q);
}

std::optional<Verdict> slots_verdict(const DbaReading& d) {
    if (!d.ok) return std::nullopt;
    Verdict v = Verdict::kHealthy;
    for (const auto& s : d.slots) v = worse(v, grade_slot(s));
    return v;
}

std::optional<Verdict> xid_verdict(const DbaReading& d) {
    if (!d.ok) return std::nullopt;
    return grade_xid_age(d.xid_age);
}

std::optional<Verdict> archiving_verdict(const DbaReading& d) {
    if (!d.ok) return std::nullopt;
    return grade_archiving(d);
}

std::optional<Verdict> sessions_verdict(const DbaReading& d) {
    if (!d.ok) return std::nullopt;
    return worse(grade_transaction(d.longest_transaction_s),
                 grade_idle_in_transaction(d.longest_idle_in_transaction_s));
}

}  // namespace

// --- rules ---

Verdict grade_replica(const NodeReading& r) {
    // A replica that is down or fenced costs the reads it served (they go to the primary): degraded.
    if (!r.connected || r.fenced) return Verdict::kDegraded;
    Verdict v = r.lag_ms
                    ? grade(static_cast<double>(*r.lag_ms), kReplicaLagDegradedMs, kReplicaLagUnhealthyMs)
                    : Verdict::kDegraded;  // connected, but its lag could not be told
    if (r.replay_paused) v = worse(v, Verdict::kDegraded);
    return v;
}

Verdict grade_database(const Reading& reading) {
    if (!reading.primary || !reading.primary->connected) return Verdict::kUnhealthy;
    Verdict v = Verdict::kHealthy;
    for (const auto& r : reading.replicas) v = worse(v, grade_replica(r));
    return v;
}

Verdict grade_redis_memory(std::uint64_t used_memory_bytes) {
    return grade(static_cast<double>(used_memory_bytes) / static_cast<double>(kMiB), kRedisMemoryDegradedMb,
                 kRedisMemoryUnhealthyMb);
}

Verdict grade_evictions(std::uint64_t evicted_keys) {
    return grade(static_cast<double>(evicted_keys), kEvictionsDegraded, kEvictionsUnhealthy);
}

Verdict grade_redis(const RedisReading& redis) {
    if (!redis.configured) return Verdict::kHealthy;  // a deployment without Redis: nothing to grade
    if (!redis.ok) return Verdict::kUnhealthy;
    return worse(grade_redis_memory(redis.used_memory), grade_evictions(redis.evicted_keys));
}

Verdict grade_pgbouncer(const PoolerReading& b) {
    if (!b.configured) return Verdict::kHealthy;
    if (!b.ok) return Verdict::kUnhealthy;
    return grade(static_cast<double>(b.waiting_clients), kWaitingClientsDegraded, kWaitingClientsUnhealthy);
}

Verdict grade_queries(const QueriesReading& q) {
    if (!q.available || q.summary.total < kQueriesGradedFrom) return Verdict::kHealthy;
    return query_health(q.summary.p95_ms, q.summary.slow_percent);
}

Verdict grade_slot(const SlotReading& s) {
    Verdict v = s.active ? Verdict::kHealthy : Verdict::kDegraded;
    if (s.retained_bytes)
        v = worse(v, grade(static_cast<double>(*s.retained_bytes), kSlotRetainedDegradedBytes,
                           kSlotRetainedUnhealthyBytes));
    return v;
}

std::optional<Verdict> grade_archiving(const DbaReading& d) {
    if (d.archive_mode.empty() || d.archive_mode == "off") return std::nullopt;
    return d.archive_failing ? Verdict::kDegraded : Verdict::kHealthy;
}

Verdict grade_xid_age(long long age) {
    return grade(static_cast<double>(age), kXidAgeDegraded, kXidAgeUnhealthy);
}

Verdict grade_transaction(double seconds) {
    return grade(seconds, kTransactionDegradedS, kTransactionUnhealthyS);
}

Verdict grade_idle_in_transaction(double seconds) {
    return grade(seconds, kIdleInTransactionDegradedS, kIdleInTransactionUnhealthyS);
}

Verdict grade_partitions(const PartitionsReading& p) {
    if (!p.available) return Verdict::kHealthy;
    Verdict v = p.stale ? Verdict::kDegraded : Verdict::kHealthy;
    if (p.months_ahead) {
        if (*p.months_ahead < 0) return Verdict::kUnhealthy;  // this month has no partition: writes fail now
        if (*p.months_ahead < kPartitionsAheadDegraded) v = worse(v, Verdict::kDegraded);
    }
    return v;
}

std::string memory_text(std::uint64_t bytes) {
    return fmt::format("{}MB", static_cast<std::uint64_t>(std::llround(static_cast<double>(bytes) / kMiB)));
}

std::string keyspace_text(std::uint64_t keys) { return fmt::format("{} keys", keys); }

std::optional<long long> single_round_lag_ms(std::optional<std::uint64_t> primary_lsn,
                                             std::optional<std::uint64_t> replay_lsn,
                                             std::optional<long long> replay_age_ms) {
    if (!primary_lsn || !replay_lsn) return std::nullopt;
    if (*replay_lsn >= *primary_lsn || *primary_lsn - *replay_lsn < kSingleRoundCaughtUpBytes) return 0;
    if (!replay_age_ms) return std::nullopt;  // nothing replayed since it started: no age to tell
    return std::max(0LL, *replay_age_ms);
}

Verdict overall(const Reading& reading) {
    Verdict v = worse(grade_database(reading), grade_redis(reading.redis));
    v = worse(v, grade_pgbouncer(reading.pgbouncer));
    v = worse(v, grade_partitions(reading.partitions));
    for (auto part : {queries_verdict(reading.queries), slots_verdict(reading.dba), xid_verdict(reading.dba),
                      sessions_verdict(reading.dba), archiving_verdict(reading.dba)}) {
        if (part) v = worse(v, *part);
    }
    return v;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
    auto seconds = std::chrono::floor<std::chrono::seconds>(t);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(t - seconds).count();
    // fmt 9 prints a system_clock time_point in local time; RFC 3339 with Z needs gmtime.
    auto utc = fmt::gmtime(std::chrono::system_clock::to_time_t(seconds));
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", utc, millis);
}

json::object summary_report(const Reading& reading) {
    return {{"status", to_string(overall(reading))}, {"timestamp", rfc3339(reading.taken)}};
}

json::object detailed_report(const Reading& reading) {
    // database: RB-23's shape; "error" only where something failed.
    json::object primary{
        {"connected", reading.primary && reading.primary->connected},
        {"latency", reading.primary && reading.primary->latency_ms ? json::value(*reading.primary->latency_ms)
                                                                   : json::value(nullptr)}};
    if (!reading.primary) {
        primary["error"] = "no node answers as the primary";
    } else if (!reading.primary->error.empty()) {
        primary["name"] = reading.primary->name;
        primary["error"] = reading.primary->error;
    } else if (reading.primary->name != "primary") {
        primary["name"] = reading.primary->name;  // after a failover: which node it is
    }
    json::array replicas;
    for (const auto& r : reading.replicas) {
        json::object o{{"name", r.name}, {"connected", r.connected}, {"lag", or_null(r.lag_ms)}};
        if (!r.error.empty()) o["error"] = r.error;
        replicas.push_back(std::move(o));
    }
    json::object database{{"status", to_string(grade_database(reading))},
                          {"primary", std::move(primary)},
                          {"replicas", std::move(replicas)}};

    const auto& rd = reading.redis;
    json::object redis{{"status", to_string(grade_redis(rd))},
                       {"memory", rd.ok ? json::value(memory_text(rd.used_memory)) : json::value(nullptr)},
                       {"keyspace", rd.ok ? json::value(keyspace_text(rd.keys)) : json::value(nullptr)},
                       {"evictions", rd.ok ? json::value(static_cast<std::int64_t>(rd.evicted_keys))
                                           : json::value(nullptr)}};
    if (!rd.configured) {
        redis["error"] = "not configured (REDIS_URL)";
    } else if (!rd.ok) {
        redis["error"] = rd.error;
    }

    const auto& pb = reading.pgbouncer;
    json::object pgbouncer{
        {"status", to_string(grade_pgbouncer(pb))},
        {"active_connections", pb.ok ? json::value(pb.active_connections) : json::value(nullptr)},
        {"waiting_clients", pb.ok ? json::value(pb.waiting_clients) : json::value(nullptr)}};
    if (!pb.configured) {
        pgbouncer["error"] = "not configured (PGBOUNCER_ADMIN_URL)";
    } else if (!pb.ok) {
        pgbouncer["error"] = pb.error;
    }

    const auto& q = reading.queries;
    json::object queries{
        {"status", word(queries_verdict(q))},
        {"p95_latency", q.available ? json::value(round2(q.summary.p95_ms)) : json::value(nullptr)},
        {"slow_query_percentage",
         q.available ? json::value(round2(q.summary.slow_percent)) : json::value(nullptr)}};
    if (!q.available) queries["error"] = "measured by each ywmsgd instance: read its /health/detailed";

    // Ours: what a DBA reads beside the runbook's fields.
    const auto& d = reading.dba;
    json::array slot_list;
    for (const auto& s : d.slots) {
        slot_list.push_back(
            {{"name", s.name}, {"active", s.active}, {"retained_bytes", or_null(s.retained_bytes)}});
    }
    json::object slots{{"status", word(slots_verdict(d))}, {"slots", std::move(slot_list)}};
    json::object xids{
        {"status", word(xid_verdict(d))},
        {"oldest_database", d.ok ? json::value(d.xid_database) : json::value(nullptr)},
        {"xid_age", d.ok ? json::value(d.xid_age) : json::value(nullptr)},
        {"wraparound_percent", d.ok ? json::value(round2(100.0 * static_cast<double>(d.xid_age) / kXidSpace))
                                    : json::value(nullptr)}};
    json::object sessions{
        {"status", word(sessions_verdict(d))},
        {"longest_transaction_seconds",
         d.ok ? json::value(round2(d.longest_transaction_s)) : json::value(nullptr)},
        {"longest_idle_in_transaction_seconds",
         d.ok ? json::value(round2(d.longest_idle_in_transaction_s)) : json::value(nullptr)}};
    json::object archiving{
        {"status", word(archiving_verdict(d))},
        {"archive_mode", d.ok ? json::value(d.archive_mode) : json::value(nullptr)},
        {"failing", d.ok ? json::value(d.archive_failing) : json::value(nullptr)},
        {"failed_count", d.ok ? json::value(d.archive_failed_count) : json::value(nullptr)},
        {"last_archived_seconds_ago", or_null(d.archived_s_ago)}};
    if (!d.ok) {
        for (auto* o : {&slots, &xids, &sessions, &archiving}) (*o)["error"] = d.error;
    }

    json::object services{{"database", std::move(database)},       {"redis", std::move(redis)},
                          {"pgbouncer", std::move(pgbouncer)},     {"queries", std::move(queries)},
                          {"replication_slots", std::move(slots)}, {"transaction_ids", std::move(xids)},
                          {"sessions", std::move(sessions)},       {"wal_archiving", std::move(archiving)}};
    if (const auto& p = reading.partitions; p.available) {
        json::object parts{
            {"status", to_string(grade_partitions(p))},
            {"months_ahead", p.months_ahead ? json::value(*p.months_ahead) : json::value(nullptr)},
            {"maintainer_last_success_seconds_ago", or_null(p.last_success_s_ago)},
            {"maintainer_stale", p.stale}};
        if (!p.last_error.empty()) parts["maintainer_last_error"] = p.last_error;
        services["partitions"] = std::move(parts);
    }
    return {{"status", to_string(overall(reading))},
            {"timestamp", rfc3339(reading.taken)},
            {"services", std::move(services)}};
}

// --- options ---

DetailedOptions detailed_options(const Config& config, bool admin) {
    DetailedOptions o;
    o.nodes = config.nodes();
    if (admin && !config.admin_urls.empty()) {
        for (auto& n : o.nodes) {
            for (const auto& a : config.admin_urls) {
                if (a.name == n.name) n.url = a.url;
            }
        }
    }
    o.pgbouncer_admin_url = config.pgbouncer_admin_url;
    o.redis_configured = !config.redis_url.empty();
    o.deadline = config.health_timeout;
    o.ttl = config.health_detailed_ttl;
    o.maintainer_interval = config.partition_maintenance_interval;
    return o;
}

// --- probes ---

namespace {

// One connection kept between rounds; taken out while a probe uses it, so that a probe the round gave up on
// never shares it with the next round's.
struct Slot {
    std::string name;
    std::string url;
    std::mutex mutex;
    std::unique_ptr<pg::Connection> conn;

    std::unique_ptr<pg::Connection> take() {
        std::lock_guard lock(mutex);
        return std::move(conn);
    }
    void put(std::unique_ptr<pg::Connection> c) {
        if (!c || c->broken()) return;
        std::lock_guard lock(mutex);
        if (!conn) conn = std::move(c);
    }
};

// The kept connection when it is still good, else a new one within the deadline.
// `io`: the executor of the request that started the round, not the round's strand: a kept connection
// outlives its round. Completions still resume the probe coroutines on the round's strand.
asio::awaitable<Result<std::unique_ptr<pg::Connection>>> connection_of(Slot& slot, pg::Deadline deadline,
                                                                       asio::any_io_executor io) {
    auto conn = slot.take();
    if (conn && !conn->broken() && !conn->peer_gone()) co_return std::move(conn);
    co_return co_await pg::Connection::connect(io, slot.url, deadline);
}

struct NodeResult {
    pg::NodeProbe probe;
    std::optional<double> latency_ms;
    DbaReading dba;
};

asio::awaitable<DbaReading> read_dba(pg::Connection& conn, pg::Deadline deadline) {
    DbaReading d;
    auto activity = co_await conn.exec(pg::queries::kHealthActivity, {}, deadline);
    if (!activity) {
        d.error = activity.error().message;
        co_return d;
    }
    auto slots = co_await conn.exec(pg::queries::kHealthSlots, {}, deadline);
    if (!slots) {
        d.error = slots.error().message;
        co_return d;
    }
    if (activity->rows() == 1) {
        pg::Row row(*activity, 0);
        d.xid_database = row.text("xid_database");
        d.xid_age = row.int64("xid_age");
        d.longest_transaction_s = std::strtod(row.text("longest_transaction_s").c_str(), nullptr);
        d.longest_idle_in_transaction_s =
            std::strtod(row.text("longest_idle_in_transaction_s").c_str(), nullptr);
        d.archive_mode = row.text("archive_mode");
        d.archive_failing = row.text("archive_failing") == "t";
        if (!row.is_null("archive_failed_count")) d.archive_failed_count = row.int64("archive_failed_count");
        if (!row.is_null("archived_s_ago")) d.archived_s_ago = row.int64("archived_s_ago");
    }
    for (int i = 0; i < slots->rows(); ++i) {
        pg::Row row(*slots, i);
        SlotReading s{row.text("slot_name"), row.boolean("active"), std::nullopt};
        if (!row.is_null("retained_bytes")) s.retained_bytes = row.int64("retained_bytes");
        d.slots.push_back(std::move(s));
    }
    d.ok = true;
    co_return d;
}

asio::awaitable<NodeResult> probe_node(Slot& slot, pg::Deadline deadline, asio::any_io_executor io) {
    NodeResult r;
    r.probe.name = slot.name;
    const auto started = std::chrono::steady_clock::now();
    auto conn = co_await connection_of(slot, deadline, io);
    if (!conn) {
        r.probe.error = conn.error().message;
        co_return r;
    }
    auto rows = co_await (*conn)->exec(pg::queries::kTopologyProbe, {}, deadline);
    if (!rows || rows->rows() != 1) {
        r.probe.error = rows ? "unexpected probe answer" : rows.error().message;
        co_return r;  // the connection goes with it: a failed probe says nothing good about it
    }
    r.latency_ms =
        round2(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    pg::read_topology_probe(r.probe, [&](int col) -> std::optional<std::string_view> {
        if (rows->is_null(0, col)) return std::nullopt;
        return rows->get(0, col);
    });
    // The DBA view on every writable node; the round keeps the primary's.
    if (!r.probe.in_recovery) r.dba = co_await read_dba(**conn, deadline);
    slot.put(std::move(conn.value()));
    co_return r;
}

asio::awaitable<PoolerReading> probe_pgbouncer(Slot& slot, pg::Deadline deadline, asio::any_io_executor io) {
    PoolerReading b;
    b.configured = true;
    auto conn = co_await connection_of(slot, deadline, io);
    if (!conn) {
        b.error = "PgBouncer's admin console: " + conn.error().message;
        co_return b;
    }
    auto pools = co_await (*conn)->exec_simple(pg::queries::kPgBouncerShowPools, deadline);
    if (!pools) {
        b.error = "PgBouncer's admin console: " + pools.error().message;
        co_return b;
    }
    for (const auto& p : pg::parse_pools(pg::to_rows(*pools), {}, 0)) {
        b.active_connections += p.cl_active;
        b.waiting_clients += p.cl_waiting;
    }
    b.ok = true;
    slot.put(std::move(conn.value()));
    co_return b;
}

asio::awaitable<RedisReading> probe_redis(redis::Commands* client, redis::Deadline deadline) {
    RedisReading r;
    r.configured = true;
    if (!client) {
        r.error = "no Redis client";
        co_return r;
    }
    // Just started (or reconnecting after a blip): the client gets the probe's deadline to come up, as any
    // other probe gets it to connect.
    asio::steady_timer wait(co_await asio::this_coro::executor);
    while (!client->connected() &&
           std::chrono::steady_clock::now() + std::chrono::milliseconds(10) < deadline) {
        wait.expires_after(std::chrono::milliseconds(10));
        co_await wait.async_wait(asio::use_awaitable);
    }
    redis::Command info{"INFO"};
    auto reply = co_await client->command(std::move(info), deadline);
    if (!reply) {
        r.error = reply.error().message;
        co_return r;
    }
    if (!reply->is_string()) {
        r.error = reply->is_error() ? "Redis refused INFO: " + reply->str : "unexpected INFO reply";
        co_return r;
    }
    auto fields = redis::parse_info(reply->str);
    auto memory = redis::info_u64(fields, "used_memory");
    auto evicted = redis::info_u64(fields, "evicted_keys");
    if (!memory || !evicted) {
        r.error = "INFO lacks used_memory or evicted_keys";
        co_return r;
    }
    r.used_memory = *memory;
    r.evicted_keys = *evicted;
    r.keys = redis::keyspace_keys(fields);
    r.ok = true;
    co_return r;
}

}  // namespace

struct DetailedProber::Probes {
    std::vector<std::unique_ptr<Slot>> nodes;
    std::unique_ptr<Slot> pgbouncer;
    std::mutex rules_mutex;
    pg::TopologyRules rules;

    Probes(const DetailedOptions& o, std::vector<std::string> names)
        : rules(std::move(names), std::chrono::milliseconds(static_cast<long long>(kReplicaLagDegradedMs))) {
        for (const auto& n : o.nodes) {
            auto slot = std::make_unique<Slot>();
            slot->name = n.name;
            slot->url = n.url;
            nodes.push_back(std::move(slot));
        }
        if (!o.pgbouncer_admin_url.empty()) {
            pgbouncer = std::make_unique<Slot>();
            pgbouncer->name = "pgbouncer";
            pgbouncer->url = o.pgbouncer_admin_url;
        }
    }
};

DetailedProber::DetailedProber(DetailedOptions options, redis::Commands* redis,
                               const pg::QueryMonitor* monitor, const partitions::Maintainer* maintainer)
    : options_(std::move(options)),
      redis_(redis),
      monitor_(monitor),
      maintainer_(maintainer),
      probes_(std::make_unique<Probes>(options_, names_of(options_.nodes))),
      flight_([](const std::exception&) { return std::shared_ptr<const Reading>(); }) {}

DetailedProber::~DetailedProber() = default;

void DetailedProber::close() {
    for (auto& slot : probes_->nodes) slot->take().reset();
    if (probes_->pgbouncer) probes_->pgbouncer->take().reset();
}

asio::awaitable<std::shared_ptr<const Reading>> DetailedProber::reading() {
    {
        std::lock_guard lock(mutex_);
        if (last_ && std::chrono::steady_clock::now() - last_at_ < options_.ttl) co_return last_;
    }
    // Named, never a temporary of a co_await expression: see run_round().
    const SingleFlight<std::shared_ptr<const Reading>>::Loader round = [this] { return run_round(); };
    auto r = co_await flight_.run("round", round);
    co_return r;
}

asio::awaitable<std::shared_ptr<const Reading>> DetailedProber::run_round() {
    // Every probe of the round runs on one strand (they interleave on I/O), so the round's bookkeeping needs
    // no lock.
    //
    // The round's lambda is a named local, spawned in a statement of its own. GCC 12 destroys a capturing
    // lambda that is a temporary of a co_await expression twice (GCC PR 100611; Asio issue 858): its copy of
    // the strand, an any_io_executor, then dropped a reference it did not own (ASan: heap-use-after-free in
    // ~shared_target_executor under concurrent /health/detailed). tests/unit/source_rules_test.cpp keeps the
    // pattern out of the code base.
    asio::any_io_executor io = co_await asio::this_coro::executor;
    asio::any_io_executor strand = asio::make_strand(io);
    auto round_on_strand = [this, strand, io]() -> asio::awaitable<std::shared_ptr<const Reading>> {
        const auto started = std::chrono::steady_clock::now();
        const pg::Deadline deadline = started + options_.deadline;
        struct Round {
            explicit Round(asio::any_io_executor ex, size_t n)
                : done(std::move(ex)), nodes(n), remaining(n + 2) {}
            asio::steady_timer done;
            std::vector<NodeResult> nodes;
            RedisReading redis;
            PoolerReading pgbouncer;
            size_t remaining;
            void finished() {
                if (--remaining == 0) done.cancel();
            }
        };
        const size_t n = probes_->nodes.size();
        auto round = std::make_shared<Round>(strand, n);
        // Probes keep their deadlines themselves; the timer's own bound is a safety net.
        round->done.expires_at(deadline + std::chrono::milliseconds(200));
        for (size_t i = 0; i < n; ++i) {
            asio::co_spawn(
                strand,
                [this, i, deadline, round, io]() -> asio::awaitable<void> {
                    round->nodes[i] = co_await probe_node(*probes_->nodes[i], deadline, io);
                    round->finished();
                },
                asio::detached);
        }
        asio::co_spawn(
            strand,
            [this, deadline, round]() -> asio::awaitable<void> {
                if (options_.redis_configured) round->redis = co_await probe_redis(redis_, deadline);
                round->finished();
            },
            asio::detached);
        asio::co_spawn(
            strand,
            [this, deadline, round, io]() -> asio::awaitable<void> {
                if (probes_->pgbouncer)
                    round->pgbouncer = co_await probe_pgbouncer(*probes_->pgbouncer, deadline, io);
                round->finished();
            },
            asio::detached);
        boost::system::error_code ec;
        if (round->remaining > 0)
            co_await round->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));

        auto out = std::make_shared<Reading>();
        out->taken = std::chrono::system_clock::now();
        // A probe still running past the safety net counts as not answered; its result is dropped.
        const bool late = round->remaining > 0;
        std::vector<pg::NodeProbe> probes;
        for (size_t i = 0; i < n; ++i) {
            auto p = round->nodes[i].probe;
            p.name = probes_->nodes[i]->name;
            if (late && !p.reachable && p.error.empty()) p.error = "probe timed out";
            probes.push_back(std::move(p));
        }
        pg::Snapshot snap;
        {
            std::lock_guard lock(probes_->rules_mutex);
            snap = probes_->rules.assess(probes, std::nullopt, std::chrono::steady_clock::now());
        }
        const auto* primary_probe = snap.primary >= 0 ? &probes[snap.primary] : nullptr;
        for (size_t i = 0; i < n; ++i) {
            const auto& state = snap.nodes[i];
            const auto& probe = probes[i];
            NodeReading r{.name = state.name,
                          .connected = state.healthy,
                          .latency_ms = round->nodes[i].latency_ms,
                          .replay_paused = probe.replay_paused,
                          .error = state.healthy ? std::string() : probe.error};
            if (static_cast<int>(i) == snap.primary) {
                if (r.error.empty() && !state.healthy) r.error = state.error;
                out->primary = std::move(r);
                out->dba = round->nodes[i].dba;
                if (!state.healthy && out->dba.error.empty()) out->dba.error = "the primary does not answer";
                continue;
            }
            r.latency_ms.reset();
            if (state.role == pg::Role::kFenced) {
                r.fenced = true;
                r.error = state.error.empty() ? "writable, but not the primary: fenced" : state.error;
            } else if (state.healthy) {
                // The rules' lag needs a history of the primary's positions; a single round falls back to
                // the bytes left to replay. The larger of the two.
                auto single = single_round_lag_ms(primary_probe ? primary_probe->current_lsn : std::nullopt,
                                                  probe.replay_lsn, probe.replay_age_ms);
                long long lag = state.lag_ms;
                if (single) lag = std::max(lag, *single);
                r.lag_ms = lag;
                if (probe.replay_paused) r.error = "WAL replay is paused";
            }
            out->replicas.push_back(std::move(r));
        }
        if (!out->primary) out->dba.error = "no node answers as the primary";
        out->redis = round->redis;
        out->redis.configured = options_.redis_configured;
        if (late && options_.redis_configured && !out->redis.ok && out->redis.error.empty())
            out->redis.error = "probe timed out";
        out->pgbouncer = round->pgbouncer;
        out->pgbouncer.configured = probes_->pgbouncer != nullptr;
        if (late && out->pgbouncer.configured && !out->pgbouncer.ok && out->pgbouncer.error.empty())
            out->pgbouncer.error = "probe timed out";
        if (monitor_) out->queries = {true, monitor_->summary()};
        if (maintainer_) {
            auto m = maintainer_->status();
            auto& p = out->partitions;
            p.available = true;
            p.months_ahead = m.months_ahead;
            const auto now_s =
                std::chrono::duration_cast<std::chrono::seconds>(out->taken.time_since_epoch()).count();
            if (m.last_success_unix) p.last_success_s_ago = now_s - *m.last_success_unix;
            const auto since = m.last_success_unix ? m.last_success_unix : m.failing_since_unix;
            p.stale =
                since && now_s - *since > kMaintainerStaleIntervals * options_.maintainer_interval.count();
            p.last_error = m.last_error;
        }
        out->round_ms = round2(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        co_return out;
    };
    auto spawned = asio::co_spawn(strand, std::move(round_on_strand), asio::use_awaitable);
    auto reading = co_await std::move(spawned);
    rounds_.fetch_add(1);
    last_round_s_.store(reading->round_ms / 1000.0);
    {
        std::lock_guard lock(mutex_);
        last_ = reading;
        last_at_ = std::chrono::steady_clock::now();
    }
    co_return reading;
}

void DetailedProber::dump_metrics(prometheus::Writer& out) const {
    out.family("yw_health_probe_rounds_total", "counter",
               "Probe rounds of GET /health/detailed (shared by every request within the TTL)");
    out.sample("yw_health_probe_rounds_total", "", rounds_.load());
    out.family("yw_health_probe_round_seconds", "gauge",
               "How long the last probe round of /health/detailed took");
    out.sample_real("yw_health_probe_round_seconds", "", last_round_s_.load());
}

}  // namespace yw::health
