// `ywctl query explain`'s reading of EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON), on plans written as PostgreSQL
// writes them.
#include "ops/query_explain.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace yw::ops {
namespace {

std::vector<std::string> kinds(const char* explain_json) {
    std::vector<std::string> out;
    for (const auto& s : read_signals(boost::json::parse(explain_json).as_object(), ExplainOptions{}))
        out.push_back(s.kind);
    return out;
}

using Kinds = std::vector<std::string>;

TEST(QueryExplain, ALargeSequentialScanAndNothingForASmallOne) {
    EXPECT_EQ(kinds(R"({"Plan": {"Node Type": "Seq Scan", "Relation Name": "t", "Actual Rows": 40,
                       "Actual Loops": 1, "Rows Removed by Filter": 199960}, "Planning Time": 0.1,
                       "Execution Time": 16})"),
              Kinds{"seq_scan"});
    EXPECT_EQ(kinds(R"({"Plan": {"Node Type": "Seq Scan", "Relation Name": "t", "Actual Rows": 40,
                       "Actual Loops": 1, "Rows Removed by Filter": 60}, "Planning Time": 0.1,
                       "Execution Time": 0.2})"),
              Kinds{});
}

TEST(QueryExplain, NestedSignals) {
    auto k = kinds(R"({"Plan": {"Node Type": "Sort", "Sort Space Type": "Disk", "Sort Space Used": 5000,
        "Shared Read Blocks": 128, "Plans": [
          {"Node Type": "Append", "Plans": [{"Node Type": "Index Only Scan", "Relation Name": "p1",
             "Heap Fetches": 12, "Actual Rows": 5, "Actual Loops": 1}, {"Node Type": "Seq Scan", "Relation Name": "p2"},
             {"Node Type": "Seq Scan", "Relation Name": "p3"}, {"Node Type": "Index Scan", "Relation Name": "p4",
             "Actual Rows": 2, "Actual Loops": 10, "Rows Removed by Filter": 5000}]}]},
        "Planning Time": 9, "Execution Time": 3})");
    std::sort(k.begin(), k.end());
    EXPECT_EQ(k, (Kinds{"disk_reads", "heap_fetches", "partitions_not_pruned", "planning_over_execution",
                        "rows_removed", "sort_on_disk"}));
}

}  // namespace
}  // namespace yw::ops
