// RB-20, RB-21, RB-22: the emergency runbooks as diagnoses.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "ops/check.hpp"

namespace yw::ops {

// Each diagnosis gathers the facts, judges them, and names the one next command; acting is left to an
// explicit flag of ywctl.
struct Diagnosis {
    Report report;
    // The ywctl command (arguments after "ywctl") the diagnosis recommends above all; empty when none fits.
    std::vector<std::string> action;
    std::vector<long long> terminate_pids;  // RB-21: the stuck sessions to end
};

// RB-20: is the primary really down (every node probed with a bounded timeout, the application path through
// DATABASE_URL too)? If so, the replica furthest ahead is the failover target.
Diagnosis diagnose_db_down(const Config& config, std::chrono::seconds timeout);

// RB-21: PgBouncer's pools, waiting clients and the sessions holding server connections for more than
// min_duration_s.
Diagnosis diagnose_pool_exhausted(const Config& config, int min_duration_s, std::chrono::seconds timeout);

// RB-22: each replica's walsender, WAL receiver and slot: what broke, and whether it can catch up by itself
// or must be rebuilt.
Diagnosis diagnose_replica_failure(const Config& config, std::chrono::seconds timeout);

}  // namespace yw::ops
