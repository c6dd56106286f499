// RB-4, the monthly failover test, automated.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "ops/failover.hpp"

namespace yw::ops {

struct DrillRequest {
    std::vector<NodeEndpoint> nodes;  // DATABASE_ADMIN_URLS
    std::string pgbouncer_admin_url;
    std::string pgbouncer_ini;
    std::string api;           // ywmsgd base URL, e.g. http://127.0.0.1:8080
    std::string admin_token;   // YW_ADMIN_TOKEN: the drill makes its own tenant, key, users, conversations
    std::string target;        // empty: the standby with the most WAL (replica-1 on a tie)
    bool kill = false;         // SIGKILL the primary (a crash) instead of a clean stop
    bool switch_back = false;  // end with a switchover back to the original primary
    // Node-local paths (data directory, server log) of a node by name.
    std::function<std::filesystem::path(const std::string&)> data_dir;
    std::function<std::filesystem::path(const std::string&)> log_file;
    int clients = 4;  // concurrent writers
    std::chrono::milliseconds warmup{2000};
    std::chrono::milliseconds settle{2000};
    Progress progress;
};

struct DrillReport {
    bool ok = false;
    std::string error;
    std::string old_primary;
    std::string new_primary;
    std::string final_primary;
    bool sync = false;  // synchronous replication was on
    std::vector<StepTiming> steps;
    long long writes_attempted = 0;
    long long writes_acknowledged = 0;
    long long writes_failed = 0;  // not acknowledged (5xx, timeouts during the outage): allowed to be missing
    long long writes_lost = -1;   // acknowledged but missing on the final primary; -1 when not verified
    std::vector<std::string> lost_ids;   // the first of them
    long long time_to_recover_ms = -1;   // primary stopped → first acknowledged write sent after that
    long long promote_to_write_ms = -1;  // promotion done → that write (target < 2000)
    long long reroute_to_write_ms = -1;  // PgBouncer repointed → that write
    std::string rejoin_method;
    long long total_ms = 0;
};

// A write load through the API records every acknowledged message; the primary is stopped (or killed); a
// standby is promoted and PgBouncer repointed; the old primary rejoins with pg_rewind; optionally a
// controlled switchover brings the original primary back. The report says how long each step took, how long
// writes were unavailable, and exactly which acknowledged writes the new primary does not hold.
DrillReport run_failover_drill(const DrillRequest& request);

}  // namespace yw::ops
