// RB-10 done right (`ywctl query compare`): two statements timed on one persistent connection, interleaved
// after a warm-up so that the machine's drift hits both, with the statistics that say whether the difference
// is real (ops/stats.hpp), their buffers and plans, and whether they even return the same rows.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "ops/stats.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {

struct CompareOptions {
    std::string before, after;  // SQL; parameters as $1, $2, … (the same for both)
    std::vector<pg::Param> params;
    int runs = 30;                          // timed runs of each, unless `duration` is set
    std::chrono::milliseconds duration{0};  // instead: alternate until this much time went by
    int warmup = 3;                         // untimed runs of each first (caches, plans)
    // Otherwise the session is read-only: a write is refused by the server itself. With it, each run is
    // rolled back.
    bool allow_writes = false;
    std::chrono::milliseconds statement_timeout{30000};
    // --around: `before` is measured, then this runs (e.g. an index build), then `before` again as the
    // "after" side. Not interleaved: drift of the machine between the two phases is not cancelled out.
    std::function<Status()> between;
    double alpha = 0.01;            // Mann–Whitney's p must be below this…
    double min_effect_percent = 5;  // …and the median change at least this large, for "significant"
};

struct SideResult {
    std::vector<double> ms;  // every timed run, in order
    stats::Summary summary;
    std::size_t rows = 0;
    std::string digest;  // SHA-256 of the rows, sorted (order-insensitive), hex
    // One EXPLAIN (ANALYZE, BUFFERS) after the timed runs: a warm cache is then visible as hits, not read.
    std::string plan;  // the top node, e.g. "Index Scan using users_pkey on users"
    std::string plan_text;
    long long shared_hit = 0, shared_read = 0;
    double planning_ms = 0, execution_ms = 0;
};

struct Comparison {
    SideResult before, after;
    stats::Change change;  // of the median, after against before
    stats::RankTest test;  // before against after
    bool significant = false;
    bool same_rows = false;
    std::string verdict;  // one line
};

// The plan's spine from EXPLAIN's JSON "Plan", down the first child to the first node that reads a relation:
// "Limit → Sort → Seq Scan on cmp_slow", "Limit → Index Scan using cmp_fast_latest on cmp_fast".
std::string plan_path(const boost::json::object& plan);

// The first element of EXPLAIN (FORMAT JSON)'s one-cell answer; kInternal when it is not what PostgreSQL
// writes.
Result<boost::json::object> explain_document(const pg::Rows& rows);

// The session every advisor command measures in: statement_timeout, and read-only unless writes are allowed.
Status prepare_session(pg::SyncConnection& conn, std::chrono::milliseconds statement_timeout,
                       bool allow_writes);
// One statement; with `allow_writes` inside a transaction that is rolled back.
Result<pg::Rows> run_statement(pg::SyncConnection& conn, const pg::Query& q,
                               const std::vector<pg::Param>& params, bool allow_writes);

// kInvalidArgument when a statement fails (which one and why), nothing half-measured.
Result<Comparison> compare_queries(pg::SyncConnection& conn, const CompareOptions& options);

// The --json document, and RB-10's report in Markdown (before, after, plans, improvement).
boost::json::object to_json(const Comparison& c, const CompareOptions& options);
std::string markdown(const Comparison& c, const CompareOptions& options);

// The verdict's rule (pure): significant when p < alpha, |change| ≥ min_effect and the change's interval does
// not straddle 0.
bool is_significant(const stats::Change& change, const stats::RankTest& test, double alpha,
                    double min_effect_percent);

}  // namespace yw::ops
