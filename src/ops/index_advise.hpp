// RB-9's index, found instead of guessed (`ywctl index advise`): the columns a statement filters and sorts
// on, read from its plan; candidate indexes built from them, each costed by the planner as a hypothetical
// index (HypoPG) so nothing is built to find out; the cheapest that at least halves the estimated cost,
// unless an index already covers it; and the exact statements that build it without blocking writes — on a
// partitioned table per partition, then attached to the parent's index.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {

struct AdviseOptions {
    std::string sql;  // $1… from params
    std::vector<pg::Param> params;
    std::chrono::milliseconds statement_timeout{30000};
    // A statement as pg_stat_statements keeps it: $1… without values. It is prepared and planned generically
    // (plan_cache_mode = force_generic_plan), so no value is needed to cost an index.
    bool generic = false;
    double max_cost_ratio = 0.5;  // suggest only what brings the estimated cost to at most this share
    int max_columns = 3;
};

// How a statement uses a column of a table, as its plan says.
struct ColumnUse {
    enum class Kind { kEquality, kRange, kSort };
    std::string table;  // the root of its partition tree
    std::string column;
    Kind kind = Kind::kEquality;
};

struct Candidate {
    std::string table;
    std::vector<std::string> columns;
    double cost = 0;    // the plan's estimated total cost with it (0: not costed)
    bool used = false;  // the plan chose it
};

struct ExistingIndex {
    std::string name;
    std::vector<std::string> columns;
    bool valid = true;
    bool partial = false;
    std::string definition;
};

struct Advice {
    bool costed = false;  // HypoPG was there: candidates carry the planner's estimates
    double baseline_cost = 0;
    std::string plan;  // the plan's spine without any hypothetical index
    std::vector<ColumnUse> uses;
    std::vector<Candidate> candidates;
    std::optional<Candidate> best;  // at most max_cost_ratio of the baseline, and used by the plan
    std::string covered_by;         // an existing valid index that already leads with best's columns
    std::vector<std::string> invalid_indexes;  // on the statement's tables: they slow writes, help no read
    std::string index_name;                    // the suggested index's name
    std::vector<std::string> statements;       // CREATE INDEX CONCURRENTLY … (per partition, then attach)
    std::vector<std::string> notes;
};

// --- pure parts ---

// The columns the plan's scans filter on (Filter, Index Cond, Recheck Cond) and its sorts order by, mapped to
// their table's partition root. `root_of` maps a scanned relation (a partition) to its root, nullopt when
// unknown; `columns_of` holds each root's columns.
std::vector<ColumnUse> column_uses(
    const boost::json::object& plan,
    const std::function<std::optional<std::string>(const std::string&)>& root_of,
    const std::map<std::string, std::set<std::string>>& columns_of);

// Candidate column lists for one table, most promising first: equality columns, then with a range or the sort
// order after them, then single range or sort columns; at most max_columns each, no duplicates.
std::vector<std::vector<std::string>> candidate_columns(const std::vector<ColumnUse>& uses,
                                                        const std::string& table, int max_columns);

// An index name PostgreSQL keeps whole (63 bytes): <table>_<columns>_idx, shortened with a hash when longer.
std::string index_name(const std::string& table, const std::vector<std::string>& columns);

// The statements that build the index without blocking writes. A plain table: CREATE INDEX CONCURRENTLY. A
// partitioned one: the parent's index ON ONLY (no build, invalid until every partition has one), then per
// partition CREATE INDEX CONCURRENTLY and ALTER INDEX … ATTACH PARTITION. `quote` quotes an identifier;
// `where` is an optional predicate (partial index), already SQL.
struct IndexPlan {
    std::string parent_statement;  // empty for a plain table
    struct Step {
        std::string partition, index, create, attach;  // attach empty for a plain table
    };
    std::vector<Step> steps;
    std::vector<std::string> all() const;
};
IndexPlan index_plan(const std::string& name, const std::string& table,
                     const std::vector<std::string>& partitions, const std::vector<std::string>& columns,
                     const std::string& where, const std::function<std::string(const std::string&)>& quote);

// Whether an index with these columns makes a candidate redundant: it leads with all of them, in order.
bool covers(const std::vector<std::string>& index_columns, const std::vector<std::string>& candidate);

// The highest $n of a statement outside its string literals (0: none).
int parameter_count(const std::string& sql);

// --- against a database ---

// The table's root, its leaf partitions and its indexes, as the index commands need them.
struct TableInfo {
    std::string name;  // as PostgreSQL names the table asked about
    std::string root;
    bool partitioned = false;
    std::vector<std::string> partitions;
    std::set<std::string> columns;
    std::vector<ExistingIndex> indexes;
};
Result<TableInfo> table_info(pg::SyncConnection& conn, const std::string& table);

// kInvalidArgument when the statement fails to plan. Runs EXPLAIN only (never the statement); hypothetical
// indexes live in this session and are reset before it returns.
Result<Advice> advise_index(pg::SyncConnection& conn, const AdviseOptions& options);
boost::json::object to_json(const Advice& a);

}  // namespace yw::ops
