// RB-8 from the database's side (`ywctl query top`): each node's statements with the most execution time in
// pg_stat_statements, PgHero's rule for "slow", and the registry name of ywmsgd's own statements.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pg/sync_connection.hpp"

namespace yw::ops {

struct TopOptions {
    int limit = 10;
    // PgHero's rule: slow when the mean is at least this and it ran at least this often (a rare slow report
    // is not worth an index; a frequent fast statement is not slow).
    double slow_mean_ms = 20;
    long long slow_min_calls = 100;
};

struct StatementStats {
    std::string queryid;
    std::string query;  // as pg_stat_statements normalised it
    std::string name;   // the registry's name ("messages.recent") for ywmsgd's statements, else ""
    long long calls = 0, rows = 0, shared_hit = 0, shared_read = 0;
    double total_ms = 0, mean_ms = 0;
    bool slow = false;
};

struct NodeStatements {
    std::string node;
    std::vector<StatementStats> statements;  // most total time first
    std::string error;                       // why the node could not be read
};

bool is_slow(double mean_ms, long long calls, const TopOptions& options);

// The registry name of a statement text (pg/queries.hpp's kServerQueries), "" when it is not one of them.
std::string registry_name(std::string_view sql);

NodeStatements collect_statements(pg::SyncConnection& conn, const std::string& node,
                                  const TopOptions& options);

}  // namespace yw::ops
