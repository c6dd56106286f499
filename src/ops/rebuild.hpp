// RB-3 as one node-local action: rebuild a replica from the primary.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/error.hpp"
#include "ops/replication.hpp"

namespace yw::ops {

struct RebuildOptions {
    std::string node;                // "replica-1"
    std::filesystem::path data_dir;  // the node's data directory on this host
    std::filesystem::path log_file;  // pg_ctl -l; empty: beside the data directory
    std::string source;              // copy from this node; empty: the one primary
    std::chrono::seconds connect_timeout{3};
    std::chrono::seconds basebackup_timeout{3600};
    std::chrono::seconds wait{300};                    // for streaming with lag < 1 s after the start
    bool show_progress = false;                        // pg_basebackup -P onto our stderr
    std::function<void(const std::string&)> progress;  // step messages; may be empty
};

struct RebuildPlan {
    RebuildOptions options;
    std::string source;      // the primary's node name
    std::string source_url;  // its admin DSN (secret: never printed)
    std::string slot;
    std::string application_name;
    int port = 0;                       // where the rebuilt node listens (from its DSN)
    bool stop_first = false;            // a server runs from data_dir now
    bool data_exists = false;           // data_dir exists and goes aside
    std::filesystem::path old_dir;      // where it goes
    bool drop_slot = false;             // the slot exists on the primary and is recreated
    std::vector<std::string> steps;     // what run_rebuild will do, for the confirmation
    std::vector<std::string> warnings;  // things the operator should know before saying yes
};

struct RebuildOutcome {
    std::filesystem::path old_dir;  // empty when there was no old data directory
    double seconds = 0;
    long long replay_lag_ms = 0;
};

// Checks everything that can be checked without acting: the node is known and is not the only primary, a
// source primary answers, the data directory belongs to this host's server. kInvalidArgument: unknown node;
// kConflict: refusing (the message says why).
Result<RebuildPlan> plan_rebuild(const std::vector<NodeEndpoint>& nodes, RebuildOptions options);

// Rebuilds with pg_basebackup on the replica's slot, keeping the old data directory aside, then waits until
// it streams with lag under 1 s. Runs on the replica's host, as repmgr's `standby clone` does; PostgreSQL
// programs run as the postgres user when we are root.
Result<RebuildOutcome> run_rebuild(const RebuildPlan& plan);

// A DSN without its password, for plans and logs: "host=… port=… user=… dbname=…".
std::string describe_dsn(const std::string& dsn);
// The port a DSN names (5432 when it names none); nullopt when it does not parse.
std::optional<int> dsn_port(const std::string& dsn);

}  // namespace yw::ops
