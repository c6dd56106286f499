// RB-2 failover, controlled switchover and the rejoin of an old primary.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/error.hpp"
#include "ops/pgbouncer_ini.hpp"
#include "pg/topology.hpp"

namespace yw::ops {

// What `ywctl failover`, `ywctl switchover`, `ywctl rejoin` and the failover drill (RB-4) do. Node roles are
// discovered (pg_is_in_recovery), never assumed from names: after one failover "replica-1" is the primary.

// What one node answered (or why it did not): node::probe_all over the configured nodes.
using pg::NodeProbe;

// One pre-check of a failover, as the plan shows it.
struct Precheck {
    std::string name;
    bool ok = false;
    bool overridable = false;  // --force may override this failure
    std::string detail;
};

// The decision of RB-2's pre-checks over the probed nodes: pure, so the rules have unit tests.
struct FailoverDecision {
    std::string target;                  // the node to promote
    std::vector<std::string> primaries;  // reachable nodes that are primaries now
    std::vector<std::string> standbys;   // every node but the target: they follow the target afterwards
    std::vector<std::string> down;  // unreachable nodes (the old primary, a dead standby): they must rejoin
    std::vector<Precheck> checks;
    bool sync = false;  // some node has synchronous_standby_names set: the cluster replicates synchronously
    bool allowed = false;  // every check passed, or --force and every failure is overridable
    std::string refusal;   // the first blocking check's detail, when not allowed
};

// Replay may trail receive by this much before promotion counts as slow ("replay LSN ≈ receive LSN").
inline constexpr long long kMaxReplayBacklogBytes = 16LL * 1024 * 1024;

// `requested` empty: the reachable standby that received the most WAL (config order on a tie). A requested
// name that is not a node → kInvalidArgument naming the nodes.
Result<FailoverDecision> decide_failover(const std::vector<NodeProbe>& probes, const std::string& requested,
                                         bool force);

// synchronous_standby_names for a new primary: every other node by application_name, quorum 1.
std::string sync_standby_names(const std::vector<std::string>& standbys);

// The step of an action and how long it took.
struct StepTiming {
    std::string name;
    long long ms = 0;
    bool ok = true;
    std::string detail;
};

using Progress = std::function<void(const std::string&)>;

struct FailoverRequest {
    std::vector<NodeEndpoint> nodes;  // DATABASE_ADMIN_URLS
    std::string target;               // --to; empty: the best standby
    bool force = false;
    bool sync = false;  // known synchronous (the drill saw the old primary's setting) even if no node says so
    std::string pgbouncer_admin_url;  // empty: PgBouncer is not repointed
    std::string pgbouncer_ini;
    std::chrono::seconds promote_timeout{60};
    std::chrono::seconds stream_timeout{30};  // how long to wait for the other standbys to follow
    Progress progress;
};

struct FailoverReport {
    bool ok = false;
    std::string error;
    std::string target;
    std::vector<StepTiming> steps;
    std::vector<NodeProbe> topology;                    // after
    std::chrono::steady_clock::time_point promoted_at;  // the target accepts writes
    std::chrono::steady_clock::time_point rerouted_at;  // PgBouncer points at the target
    long long total_ms = 0;
};

// The steps, for the plan shown before confirmation.
std::vector<std::string> failover_plan(const FailoverRequest& request, const FailoverDecision& decision);
// Promote, wait for writes, slots and synchronous_standby_names, repoint the other standbys, repoint
// PgBouncer, wait for the standbys to stream. Stops at the first failing step (the report says which).
FailoverReport execute_failover(const FailoverRequest& request, const FailoverDecision& decision);

// PgBouncer: PAUSE the databases that point at any of `from`, rewrite their [databases] entries to `to`,
// RELOAD, RESUME. Returns what changed ("" when already pointing at `to`).
Result<std::string> repoint_pgbouncer(const std::string& admin_url, const std::string& ini_path,
                                      const std::vector<Endpoint>& from, const Endpoint& to);

// host and port of a libpq DSN or URI.
Result<Endpoint> dsn_endpoint(const std::string& dsn);

// --- rejoin (node-local: runs where the old primary's data directory is) ---

struct RejoinRequest {
    std::vector<NodeEndpoint> nodes;
    std::string node;                // the node to rejoin, e.g. "primary"
    std::filesystem::path data_dir;  // its data directory
    std::filesystem::path log_file;  // pg_ctl -l
    bool force_basebackup = false;   // skip pg_rewind
    std::chrono::seconds stream_timeout{60};
    Progress progress;
};

struct RejoinReport {
    bool ok = false;
    std::string error;
    std::string primary;  // the node it follows now
    std::string method;   // "pg_rewind", "pg_basebackup", "already streaming"
    std::vector<StepTiming> steps;
    long long total_ms = 0;
};

// Plan lines, and the current primary it will follow (error when there is none, or the node itself is it).
Result<std::vector<std::string>> rejoin_plan(const RejoinRequest& request);
// Stop the node if it runs, pg_rewind from the current primary (falling back to a fresh pg_basebackup), keep
// the node's own configuration files (its port, its settings), make it a standby with its own slot and
// application_name, start it, wait until it streams.
RejoinReport rejoin(const RejoinRequest& request);

// --- switchover (a planned change of primary: never two writable primaries) ---

struct SwitchoverRequest {
    std::vector<NodeEndpoint> nodes;
    std::string target;                      // the standby to promote
    std::filesystem::path old_primary_data;  // data directory of the current primary (node-local)
    std::filesystem::path old_primary_log;
    std::string pgbouncer_admin_url;
    std::string pgbouncer_ini;
    std::chrono::seconds catch_up_timeout{60};
    Progress progress;
};

struct SwitchoverReport {
    bool ok = false;
    std::string error;
    std::string old_primary;
    std::string target;
    std::vector<StepTiming> steps;
    long long total_ms = 0;
};

Result<std::vector<std::string>> switchover_plan(const SwitchoverRequest& request);
// PAUSE PgBouncer (writes stop), stop the current primary cleanly, wait until the target received every WAL
// record up to the primary's shutdown checkpoint, promote it, repoint the others and PgBouncer, RESUME,
// restart the old primary as a standby of the target.
SwitchoverReport switchover(const SwitchoverRequest& request);

}  // namespace yw::ops
