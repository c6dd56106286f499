// RB-23 thresholds as pure functions: a measured value -> healthy, degraded or unhealthy.
#pragma once

#include <string_view>

namespace yw {

// They live in common/, below every layer that grades.
enum class Verdict {
    kHealthy,    // no action needed
    kDegraded,   // RB-23 "warning": monitor closely, investigate the trend
    kUnhealthy,  // RB-23 "critical": page on-call
};

// "healthy" | "degraded" | "unhealthy": the words of /health/detailed and /metrics/queries.
std::string_view to_string(Verdict verdict);

// The more severe of the two.
constexpr Verdict worse(Verdict a, Verdict b) { return a > b ? a : b; }

// RB-23's table reads "< degraded_at: healthy, degraded_at … unhealthy_above: degraded, > unhealthy_above:
// unhealthy"; both bounds themselves are degraded.
Verdict grade(double value, double degraded_at, double unhealthy_above);

inline constexpr double kP95DegradedMs = 300;
inline constexpr double kP95UnhealthyMs = 600;
inline constexpr double kSlowQueryDegradedPercent = 5;
inline constexpr double kSlowQueryUnhealthyPercent = 10;

// queries.p95_latency and queries.slow_query_percentage (0 … 100) together: the worse of the two.
Verdict query_health(double p95_ms, double slow_query_percent);

// The rest of RB-23's table (RB-1, RB-5 and RB-11 agree), as grade() reads it: "> 0 degraded" is 1.
inline constexpr double kReplicaLagDegradedMs = 1000;   // database.replicas[].lag: < 1 s healthy
inline constexpr double kReplicaLagUnhealthyMs = 5000;  // > 5 s unhealthy
inline constexpr double kRedisMemoryDegradedMb = 100;   // redis.memory: < 100 MB healthy
inline constexpr double kRedisMemoryUnhealthyMb = 500;  // > 500 MB unhealthy
inline constexpr double kEvictionsDegraded = 1;         // redis.evictions: 0 healthy
inline constexpr double kEvictionsUnhealthy = 10000;    // > 10000 unhealthy
inline constexpr double kWaitingClientsDegraded = 1;    // pgbouncer.waiting_clients: 0 healthy
inline constexpr double kWaitingClientsUnhealthy = 10;  // > 10 unhealthy
// RB-11's cache hit rate: ≥ 70 % healthy, 50–70 % acceptable (investigate), < 50 % poor.
inline constexpr double kHitRateHealthyPercent = 70;
inline constexpr double kHitRatePoorPercent = 50;

// What a DBA also reads on /health/detailed (ours, not the runbook's; docs/api.md):
// - transaction-ID age of the oldest database, age(datfrozenxid): from autovacuum_freeze_max_age's default
//   (200 M) anti-wraparound vacuums run and should bring it back, so at least that is degraded; above 1 G
//   (half the 2^31 space: PostgreSQL stops assigning XIDs 3 M short of it) page someone.
inline constexpr double kXidAgeDegraded = 200'000'000;
inline constexpr double kXidAgeUnhealthy = 1'000'000'000;
// - WAL a replication slot keeps (restart_lsn behind the current position): 1 GiB degraded, > 10 GiB
//   unhealthy (the primary's disk fills while a replica is away); an inactive slot is degraded by itself.
inline constexpr double kSlotRetainedDegradedBytes = 1024.0 * 1024 * 1024;
inline constexpr double kSlotRetainedUnhealthyBytes = 10 * 1024.0 * 1024 * 1024;
// - the longest open transaction (active or not): RB-7's 5 minutes is stuck, 30 minutes unhealthy (it holds
//   back vacuum everywhere);
inline constexpr double kTransactionDegradedS = 300;
inline constexpr double kTransactionUnhealthyS = 1800;
// - the longest idle-in-transaction session: it holds a server connection of PgBouncer's pool and its locks
//   while doing nothing: 1 minute degraded, 5 minutes (RB-7) unhealthy.
inline constexpr double kIdleInTransactionDegradedS = 60;
inline constexpr double kIdleInTransactionUnhealthyS = 300;
// - partitions: fewer than one month ahead is degraded (next month's writes will fail), none for the current
//   month unhealthy (writes fail now); the maintainer without success for two intervals is degraded.
inline constexpr int kPartitionsAheadDegraded = 1;  // months_ahead below this: degraded; below 0: unhealthy
inline constexpr int kMaintainerStaleIntervals = 2;
// - one month's partition (RB-17): over 800 MB warning, over 1 GB critical ("consider smaller partitions").
inline constexpr long long kPartitionDegradedBytes = 800ll << 20;
inline constexpr long long kPartitionUnhealthyBytes = 1ll << 30;

}  // namespace yw
