// RB-9's CREATE INDEX CONCURRENTLY done safely (`ywctl index create`) and the indexes worth a look
// (`ywctl index check`).
//
// A concurrent build that fails or is interrupted leaves an INVALID index behind: no read uses it, every
// write still maintains it. The build here goes partition by partition (a partitioned table's index is the
// parent's ON ONLY, then each partition's built concurrently and attached), bounded by lock_timeout, reports
// its progress from pg_stat_progress_create_index, and when anything stops it — an error, a lock it cannot
// get, SIGINT, its backend killed — drops what it left, from a fresh connection, and says so.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "ops/index_advise.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {

struct BuildOptions {
    std::string name;
    std::string table;
    std::vector<std::string> columns;
    std::string where;  // a partial index's predicate (SQL), or empty
    std::chrono::milliseconds lock_timeout{5000};
};

// "conversation_message(conversation_id, created_at)" → table and columns; kInvalidArgument otherwise.
Result<std::pair<std::string, std::vector<std::string>>> parse_index_target(const std::string& text);

// Checks the options against the database (the table exists, every column does, the name is free) and returns
// the statements the build will run. Nothing is changed.
Result<IndexPlan> plan_build(pg::SyncConnection& conn, const BuildOptions& options);

struct BuildProgress {
    size_t step = 0, steps = 0;  // 1-based partition (or table) being built, of how many
    std::string relation;        // the partition (or table)
    std::string phase;           // pg_stat_progress_create_index's phase
    long long blocks_done = 0, blocks_total = 0, tuples_done = 0, tuples_total = 0;
};

struct BuildReport {
    bool ok = false;
    bool interrupted = false;
    std::vector<std::string> built;    // indexes built and valid
    std::vector<std::string> dropped;  // what a failed build left and was dropped
    std::string error;                 // why it stopped
    std::string cleanup_error;         // when dropping what it left failed too (the operator must)
    double seconds = 0;
};

// Runs the plan on `dsn` (the primary, as the table's owner). `progress` is called from a monitoring thread
// about every 200 ms while a build runs. `cancel` (set from a signal handler) stops it: the running statement
// is cancelled on the server.
BuildReport build_index(const std::string& dsn, const BuildOptions& options, const IndexPlan& plan,
                        const std::function<void(const BuildProgress&)>& progress,
                        const std::atomic<bool>& cancel);

// SIGINT and SIGTERM set the returned flag (instead of ending the process) while the guard lives.
class InterruptGuard {
  public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
    const std::atomic<bool>& flag() const;
};

// --- ywctl index check ---

struct IndexFinding {
    std::string kind;  // invalid, duplicate, unused
    std::string index;
    std::string table;
    long long bytes = 0;  // with its partitions' indexes
    int partitions = 0;   // partition indexes under it (a partitioned index)
    long long scans = 0;  // on every node that answered, since their statistics were reset
    std::string detail;
};

// Reads every index on the primary (validity, identity, size) and the scans of each on every node in `nodes`
// (reads run on the replicas: an index the primary never scans may serve them). `nodes[0]` is the primary.
Result<std::vector<IndexFinding>> check_indexes(std::vector<pg::SyncConnection*> nodes);
boost::json::object to_json(const IndexFinding& f);

}  // namespace yw::ops
