// RB-9's first step (`ywctl query explain`): EXPLAIN (ANALYZE, BUFFERS) of one statement, with what the plan
// says in plain words — the runbook's "look for Seq Scan" and the signals a DBA reads next to it.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {

struct ExplainOptions {
    std::string sql;
    std::vector<pg::Param> params;
    bool allow_writes = false;  // else read-only: a write is refused by the server; with it, rolled back
    std::chrono::milliseconds statement_timeout{30000};
    long long seq_scan_rows = 10000;  // a sequential scan reading more rows than this is worth an index
};

struct Signal {
    std::string kind;  // seq_scan, partitions_not_pruned, planning_over_execution, rows_removed,
                       // heap_fetches, disk_reads, sort_on_disk
    std::string node;  // the plan node it is about
    std::string message;
};

struct Explanation {
    std::string plan_text;  // EXPLAIN's text form
    std::string spine;      // plan_path
    double planning_ms = 0, execution_ms = 0;
    long long shared_hit = 0, shared_read = 0;
    std::vector<Signal> signals;
};

// The signals of EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)'s first element (pure).
std::vector<Signal> read_signals(const boost::json::object& explain, const ExplainOptions& options);

Result<Explanation> explain_query(pg::SyncConnection& conn, const ExplainOptions& options);
boost::json::object to_json(const Explanation& e);

}  // namespace yw::ops
