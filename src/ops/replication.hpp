// RB-1 and the facts behind RB-3, RB-20, RB-22: replication as every node sees it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "ops/check.hpp"
#include "pg/topology.hpp"

namespace yw::ops {

// Every node's own view (role, received and replayed WAL) and the primary's pg_stat_replication, gathered
// with a bounded connect timeout, then judged by pure rules.

// RB-1: write, flush and replay lag under 1000 ms; RB-23: 1–5 s degraded, above 5 s unhealthy.
inline constexpr long long kLagWarningMs = static_cast<long long>(yw::kReplicaLagDegradedMs);
inline constexpr long long kLagCriticalMs = static_cast<long long>(yw::kReplicaLagUnhealthyMs);

// WAL a replica may have left to replay. PostgreSQL's lag columns trail what the standby reports (a paused
// replica shows its last measured lag for seconds), bytes do not: one 16 MiB WAL segment behind is a warning,
// eight are critical (Patroni's /replica?lag= judges in bytes too).
inline constexpr std::uint64_t kBehindWarningBytes = 16ull << 20;
inline constexpr std::uint64_t kBehindCriticalBytes = 128ull << 20;
// The age of the last replayed transaction is judged only when at least this much WAL waits: a few KB in
// flight after a quiet spell (a checkpoint record, hint-bit page images, one long transaction) would make an
// idle primary's hour-old last commit look like an hour of lag.
inline constexpr std::uint64_t kAgeJudgedFromBytes = 1ull << 20;

struct ReplicationThresholds {
    std::uint64_t behind_warning_bytes = kBehindWarningBytes;
    std::uint64_t behind_critical_bytes = kBehindCriticalBytes;
};

// pg_lsn text ↔ byte positions: the server's topology probe's functions.
using pg::format_lsn;
using pg::parse_lsn;

// What one node says about itself: node::probe's record.
using pg::NodeProbe;

// One row of the primary's pg_stat_replication.
struct Walsender {
    std::string application_name;
    std::string state;  // streaming, catchup, startup, backup, stopping
    std::string sync_state;
    std::string slot_name;
    std::optional<std::uint64_t> sent_lsn, write_lsn, flush_lsn, replay_lsn;
    std::optional<long long> write_lag_ms, flush_lag_ms, replay_lag_ms;
};

struct Slot {
    std::string name;
    bool active = false;
    std::string wal_status;  // reserved, extended, unreserved, lost
};

struct ReplicationSnapshot {
    std::vector<NodeProbe> nodes;         // in configuration order
    std::optional<size_t> primary;        // index of the node chosen as primary (not in recovery)
    std::vector<size_t> extra_primaries;  // other nodes not in recovery: split brain
    std::optional<std::uint64_t> primary_lsn;
    std::vector<Walsender> walsenders;  // from the primary
    std::vector<Slot> slots;            // from the primary
    std::string primary_error;          // why the primary's views could not be read
};

// Connects to every node at once (each bounded by connect_timeout), then reads the primary's walsenders and
// slots. Never fails: an unreachable node is a fact of the snapshot.
ReplicationSnapshot collect_replication(const std::vector<NodeEndpoint>& nodes,
                                        std::chrono::seconds connect_timeout);

// The lag of one stage (write, flush or replay): 0 when that stage has reached the primary's position (an
// idle primary is not lag, however old the last replayed transaction), else PostgreSQL's measured lag, else
// 0 when no lag is measured and the stage has reached everything sent to the standby (`sent_lsn`:
// PostgreSQL clears the lag columns of a standby that caught up; WAL written since and not yet sent is
// judged by bytes behind), else unknown.
std::optional<long long> effective_lag_ms(std::optional<std::uint64_t> primary_lsn,
                                          std::optional<std::uint64_t> stage_lsn,
                                          std::optional<long long> measured_ms,
                                          std::optional<std::uint64_t> sent_lsn = std::nullopt);
Level lag_level(long long lag_ms);
// Warning from `warning` bytes on, critical from `critical` bytes on.
Level behind_level(std::uint64_t bytes, const ReplicationThresholds& t = {});

// How many bytes of WAL the replica at `node` (an index into s.nodes) has yet to replay: the primary's LSN
// minus the replica's own pg_last_wal_replay_lsn(), both from the probe round that read them at the same
// moment (the walsender's replay_lsn trails by up to wal_receiver_status_interval); when the replica does not
// answer, the walsender's replay_lsn against the primary's LSN of the same query. 0 when caught up; nullopt
// when unknown.
std::optional<std::uint64_t> bytes_behind(const ReplicationSnapshot& s, size_t node);

// The replica's row in the primary's pg_stat_replication, by application_name or slot; nullptr when none.
const Walsender* walsender_of(const ReplicationSnapshot& s, const std::string& node);
const Slot* slot_of(const ReplicationSnapshot& s, const std::string& node);

// RB-1: each node answers; one primary; every other node streams with write/flush/replay lag < 1000 ms, is
// less than a WAL segment behind, does not have its replay paused, and (when behind) last replayed a
// transaction less than 1000 ms ago.
Report assess_replication(const ReplicationSnapshot& s, const ReplicationThresholds& t = {});

// The replica to promote when the primary is gone: reachable, in recovery, furthest replayed (then received)
// WAL, ties by configuration order. nullopt when none.
std::optional<size_t> best_failover_candidate(const ReplicationSnapshot& s);

// The facts as JSON (nodes, walsenders, slots).
boost::json::object to_json(const ReplicationSnapshot& s);

}  // namespace yw::ops
