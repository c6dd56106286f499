// RB-23's GET /health/detailed: one probe round of every dependency (each with its own deadline), shared by
// all callers for a moment, and the pure rules that grade it.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/prometheus.hpp"
#include "common/single_flight.hpp"
#include "common/verdict.hpp"
#include "partitions/maintainer.hpp"
#include "pg/monitor.hpp"
#include "pg/topology.hpp"
#include "redis/commands.hpp"

namespace yw::health {

// --- what one round measured (facts, no grades) ---

// A PostgreSQL node as the round saw it.
struct NodeReading {
    std::string name;                  // "primary", "replica-1", … (configuration names, not roles)
    bool connected = false;            // answered its probe within the deadline
    std::optional<double> latency_ms;  // the probe's round trip (connecting included when it had to)
    std::optional<long long> lag_ms;   // replicas: how far behind the primary, in time
    bool fenced = false;               // writable but not the primary (an old primary back): no traffic
    bool replay_paused = false;
    std::string error;  // why it did not answer, or what is wrong with it
};

struct RedisReading {
    bool configured = false;  // REDIS_URL set
    bool ok = false;          // INFO answered within the deadline
    std::string error;
    std::uint64_t used_memory = 0;  // bytes
    std::uint64_t keys = 0;         // every database's keys
    std::uint64_t evicted_keys = 0;
};

struct PoolerReading {
    bool configured = false;  // PGBOUNCER_ADMIN_URL set
    bool ok = false;          // SHOW POOLS answered within the deadline
    std::string error;
    long long active_connections = 0;  // Σ cl_active: clients linked to a server connection now
    long long waiting_clients = 0;     // Σ cl_waiting: clients queued for one
};

struct QueriesReading {
    bool available = false;  // this process runs a query monitor (ywmsgd; not ywctl)
    pg::QuerySummary summary;
};

struct SlotReading {
    std::string name;
    bool active = false;
    std::optional<long long> retained_bytes;  // WAL kept for it on the primary
};

// The primary's DBA view (pg/health_queries.hpp), read on its probe connection.
struct DbaReading {
    bool ok = false;  // read within the deadline
    std::string error;
    std::string xid_database;  // the database with the oldest datfrozenxid
    long long xid_age = 0;     // age(datfrozenxid) of that database
    double longest_transaction_s = 0;
    double longest_idle_in_transaction_s = 0;
    std::vector<SlotReading> slots;
    // WAL archiving on the primary (backups, docs/backup.md).
    std::string archive_mode;      // on | always | off
    bool archive_failing = false;  // the last archive_command attempt failed
    long long archive_failed_count = 0;
    std::optional<long long> archived_s_ago;
};

struct PartitionsReading {
    bool available = false;  // this process runs the partition maintainer
    std::optional<int> months_ahead;
    std::optional<long long> last_success_s_ago;
    bool stale = false;  // no success (by any instance) for kMaintainerStaleIntervals intervals
    std::string last_error;
};

struct Reading {
    std::chrono::system_clock::time_point taken{};
    std::optional<NodeReading> primary;  // nullopt: no node answered as the primary
    std::vector<NodeReading> replicas;   // every other node, in configuration order
    RedisReading redis;
    PoolerReading pgbouncer;
    QueriesReading queries;
    DbaReading dba;
    PartitionsReading partitions;
    double round_ms = 0;  // how long the round took
};

// --- the rules (pure; thresholds in common/verdict.hpp) ---

// Fewer statements than this in the query monitor's window are no evidence: queries.* is then healthy
// whatever they measured (a fresh instance's only statement is the partition maintainer's DDL, 100 % "slow").
inline constexpr std::uint64_t kQueriesGradedFrom = 20;

Verdict grade_replica(const NodeReading& replica);
// The primary unreachable (or none) is unhealthy; any replica not healthy makes the database degraded (reads
// move to the primary; a replica's own grade never makes the database unhealthy by itself).
Verdict grade_database(const Reading& reading);
Verdict grade_redis_memory(std::uint64_t used_memory_bytes);
Verdict grade_evictions(std::uint64_t evicted_keys);
Verdict grade_redis(const RedisReading& redis);
Verdict grade_pgbouncer(const PoolerReading& pgbouncer);
Verdict grade_queries(const QueriesReading& queries);
Verdict grade_slot(const SlotReading& slot);
Verdict grade_xid_age(long long age);
// Failing WAL archiving is degraded, not unhealthy: the service answers, but point-in-time recovery stops at
// the last archived segment and WAL piles up on the primary (`ywctl backup check`). Off: not graded.
std::optional<Verdict> grade_archiving(const DbaReading& d);
Verdict grade_transaction(double seconds);
Verdict grade_idle_in_transaction(double seconds);
Verdict grade_partitions(const PartitionsReading& partitions);

// "45MB" and "12345 keys", as RB-23 prints them.
std::string memory_text(std::uint64_t bytes);
std::string keyspace_text(std::uint64_t keys);

// A replica's lag from a single round, when the rules have no history yet (ywctl's one-shot round, or the
// first request after start): 0 while less than 1 MiB of WAL is left to replay (an idle primary's few bytes
// of checkpoint records are not lag, however old the last replayed commit), else the last replayed commit's
// age.
std::optional<long long> single_round_lag_ms(std::optional<std::uint64_t> primary_lsn,
                                             std::optional<std::uint64_t> replay_lsn,
                                             std::optional<long long> replay_age_ms);

// The whole document: {"status","timestamp","services":{"database","redis","pgbouncer","queries",
// "replication_slots","transaction_ids","sessions"[,"partitions"]}}. docs/api.md lists every field.
boost::json::object detailed_report(const Reading& reading);
// What callers without the admin token get: {"status","timestamp"}.
boost::json::object summary_report(const Reading& reading);
// The overall grade of a report's "status" (the worst service).
Verdict overall(const Reading& reading);

// RFC 3339 UTC with milliseconds: "2024-12-02T16:30:00.123Z".
std::string rfc3339(std::chrono::system_clock::time_point t);

// --- the probes ---

struct DetailedOptions {
    std::vector<NodeEndpoint> nodes;           // direct DSNs: "primary", "replica-1", … (Config::nodes())
    std::string pgbouncer_admin_url;           // PGBOUNCER_ADMIN_URL; empty: not configured
    bool redis_configured = false;             // REDIS_URL set (the client comes with reading())
    std::chrono::milliseconds deadline{1000};  // YW_HEALTH_TIMEOUT_MS: every probe's own deadline
    std::chrono::milliseconds ttl{1000};       // YW_HEALTH_DETAILED_TTL_MS: how long a round is shared
    std::chrono::seconds maintainer_interval{3600};
};

// The options ywmsgd and ywctl derive from the configuration (admin DSNs for the nodes when `admin` and
// DATABASE_ADMIN_URLS is set: ywctl sees every session; otherwise the application's).
DetailedOptions detailed_options(const Config& config, bool admin = false);

// Runs probe rounds: the primary and every replica (kTopologyProbe, then the DBA queries on the node that is
// the primary), Redis INFO and PgBouncer's SHOW POOLS, all at once, each bounded by the deadline; the query
// monitor and the partition maintainer are read in process. A round is shared by every caller for `ttl`, and
// concurrent callers wait for the round in flight (single-flight): a storm of requests costs one round.
//
// Thread-safe. Keeps one connection per node and PgBouncer between rounds; close() drops them (shutdown,
// before the io_context goes).
class DetailedProber {
  public:
    // `redis` (may be null: not configured or not connected yet), `monitor` and `maintainer` (may be null)
    // must outlive the prober.
    DetailedProber(DetailedOptions options, redis::Commands* redis, const pg::QueryMonitor* monitor,
                   const partitions::Maintainer* maintainer);
    ~DetailedProber();

    // The latest round when it is younger than the TTL, else the one in flight, else a new one.
    boost::asio::awaitable<std::shared_ptr<const Reading>> reading();

    // The Redis client, when it is created after the prober (ywmsgd's routes come before its io_context):
    // before the server's threads start.
    void attach_redis(redis::Commands* redis) { redis_ = redis; }

    void close();

    // Probe rounds run since start: yw_health_probe_rounds_total; how long the last took.
    std::uint64_t rounds() const { return rounds_.load(); }
    // yw_health_probe_rounds_total, yw_health_probe_round_seconds (the last round).
    void dump_metrics(prometheus::Writer& out) const;

  private:
    struct Probes;
    boost::asio::awaitable<std::shared_ptr<const Reading>> run_round();

    const DetailedOptions options_;
    redis::Commands* redis_;
    const pg::QueryMonitor* monitor_;
    const partitions::Maintainer* maintainer_;
    std::unique_ptr<Probes> probes_;
    SingleFlight<std::shared_ptr<const Reading>> flight_;
    mutable std::mutex mutex_;
    std::shared_ptr<const Reading> last_;  // guarded by mutex_
    std::chrono::steady_clock::time_point last_at_{};
    std::atomic<std::uint64_t> rounds_{0};
    std::atomic<double> last_round_s_{0};
};

}  // namespace yw::health
