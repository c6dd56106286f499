// `ywctl query top` (RB-8 from pg_stat_statements), `query explain` (RB-9's first step) and `query compare`
// (RB-10) on the real topology:
// the API's hottest query (the latest 50 messages of a conversation) on a copy of conversation_message's
// shape without and with its index — significantly faster, same rows; the same statement twice — no
// significant difference; different answers said as such; writes refused unless allowed (and then rolled
// back); a statement that never ends bounded; bad usage refused.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "common/files.hpp"
#include "support/ops_helpers.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* kTenant = "01a234aa-0000-7000-8000-000000000001";
constexpr const char* kConversation = "01a234aa-0000-7000-8000-000000000042";

// The RB-8 hot path's statement, on a table of the given name.
std::string latest50(const std::string& table) {
    return "SELECT id, content, created_at FROM " + table +
           " WHERE tenant_id = $1::uuid AND conversation_id = $2::uuid AND deleted_at IS NULL"
           " ORDER BY created_at DESC, id DESC LIMIT 50";
}

// Two copies of 200,000 messages over 400 conversations, shaped like conversation_message; only the second
// has the API's index. Made once on the primary, then waited for on replica-1 (where compare runs).
class QueryCompare : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        auto primary = Topology::get().superuser("primary");
        const std::string fill =
            "CREATE TABLE IF NOT EXISTS {0} (LIKE conversation_message INCLUDING DEFAULTS);"
            "TRUNCATE {0};"
            "INSERT INTO {0} (id, tenant_id, conversation_id, direction, content, created_at)"
            " SELECT gen_random_uuid(), '{1}'::uuid,"
            "  ('01a234aa-0000-7000-8000-' || lpad((g % 400)::text, 12, '0'))::uuid,"
            "  'outbound', 'message ' || g, now() - g * interval '1 second'"
            " FROM generate_series(1, 200000) g;"
            "GRANT SELECT, DELETE ON {0} TO app_user;"
            "ANALYZE {0};";
        ASSERT_TRUE(
            primary.exec_script("test.fill", fmt::format(fmt::runtime(fill), "cmp_slow", kTenant)).ok());
        // The same rows (ids included) in the indexed copy.
        ASSERT_TRUE(primary
                        .exec_script("test.copy",
                                     "CREATE TABLE IF NOT EXISTS cmp_fast (LIKE cmp_slow INCLUDING DEFAULTS);"
                                     "TRUNCATE cmp_fast; INSERT INTO cmp_fast SELECT * FROM cmp_slow;"
                                     "GRANT SELECT, DELETE ON cmp_fast TO app_user; ANALYZE cmp_fast;")
                        .ok());
        ASSERT_TRUE(primary
                        .exec_script("test.index",
                                     "CREATE INDEX IF NOT EXISTS cmp_fast_latest ON cmp_fast"
                                     " (tenant_id, conversation_id, created_at DESC, id DESC)"
                                     " WHERE deleted_at IS NULL")
                        .ok());
        ASSERT_TRUE(wait_until(30s, [] {
            auto replica = Topology::get().superuser("replica-1");
            auto r = replica.simple_query(
                "test.replayed", "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'cmp_fast_latest'");
            return r && !r->empty() && r->text(0, "n") == "1";
        }));
    }

    static RunResult compare(const std::string& before, const std::string& after,
                             std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--json", "query",   "compare", "--before", before,       "--after",
                                      after,    "--param", kTenant,   "--param",  kConversation};
        args.insert(args.end(), extra.begin(), extra.end());
        return ywctl(args);
    }
};

TEST_F(QueryCompare, TheIndexMakesTheHotQuerySignificantlyFasterWithTheSameRows) {
    auto markdown = std::filesystem::temp_directory_path() / "yw-rb10-report.md";
    auto r = compare(latest50("cmp_slow"), latest50("cmp_fast"), {"--markdown", markdown.string()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("significant"), true) << r.output;
    EXPECT_EQ(doc.at("same_rows"), true) << r.output;
    EXPECT_LT(doc.at("change_percent").as_double(), -50) << r.output;
    EXPECT_LT(doc.at("change_ci95_percent").as_array().at(1).as_double(), 0);
    EXPECT_LT(doc.at("mann_whitney").at("p").as_double(), 0.01);
    const auto& before = doc.at("before").as_object();
    const auto& after = doc.at("after").as_object();
    EXPECT_EQ(before.at("runs").to_number<int>(), 30);
    EXPECT_EQ(after.at("latencies_ms").as_array().size(), 30u);
    EXPECT_EQ(before.at("rows").to_number<int>(), 50);
    EXPECT_NE(std::string(before.at("plan").as_string()).find("cmp_slow"), std::string::npos);
    EXPECT_NE(std::string(after.at("plan").as_string()).find("Index Scan using cmp_fast_latest"),
              std::string::npos)
        << after.at("plan");
    EXPECT_GT(before.at("shared_hit_blocks").as_int64() + before.at("shared_read_blocks").as_int64(),
              after.at("shared_hit_blocks").as_int64() + after.at("shared_read_blocks").as_int64());
    auto report = read_text(markdown);
    for (const char* part : {"## Before", "## After", "## Improvement", "cmp_fast_latest", "Mann"})
        EXPECT_NE(report.find(part), std::string::npos) << part << " in\n" << report;
    std::filesystem::remove(markdown);
}

TEST_F(QueryCompare, TheSameStatementTwiceIsNoSignificantDifference) {
    auto r = compare(latest50("cmp_fast"), latest50("cmp_fast"), {"--runs", "60"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("significant"), false) << r.output;
    EXPECT_EQ(doc.at("same_rows"), true);
    EXPECT_NE(std::string(doc.at("verdict").as_string()).find("no significant difference"),
              std::string::npos);
}

TEST_F(QueryCompare, DifferentAnswersAreSaidAndExitOne) {
    // The runbook's own example changes the query: it is told, not reported as an improvement.
    auto r = compare(latest50("cmp_fast"),
                     "SELECT id, content, created_at FROM cmp_fast WHERE tenant_id = $1::uuid"
                     " AND conversation_id = $2::uuid ORDER BY created_at LIMIT 50",
                     {"--runs", "5"});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("same_rows"), false) << r.output;
    EXPECT_NE(std::string(doc.at("verdict").as_string()).find("different rows"), std::string::npos);
}

TEST_F(QueryCompare, WritesAreRefusedUnlessAllowedAndThenRolledBack) {
    const std::string del = "DELETE FROM cmp_fast WHERE tenant_id = $1::uuid AND conversation_id = $2::uuid";
    auto refused = compare(del, del, {"--node", "primary", "--runs", "3"});
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    EXPECT_NE(refused.output.find("read-only"), std::string::npos) << refused.output;
    EXPECT_NE(refused.output.find("--allow-writes"), std::string::npos) << refused.output;
    auto allowed = compare(del, del, {"--node", "primary", "--runs", "3", "--allow-writes"});
    EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
    auto primary = Topology::get().superuser("primary");
    auto n = primary.simple_query("test.count", fmt::format("SELECT count(*) AS n FROM cmp_fast WHERE "
                                                            "conversation_id = '{}'",
                                                            kConversation));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->text(0, "n"), "500");  // every run rolled back
}

TEST_F(QueryCompare, AStatementThatNeverEndsIsBoundedByTheTimeout) {
    auto started = std::chrono::steady_clock::now();
    auto r = ywctl({"query", "compare", "--before", "SELECT pg_sleep(60)", "--after", "SELECT 1",
                    "--timeout-ms", "300"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("statement timeout"), std::string::npos) << r.output;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
}

TEST_F(QueryCompare, TopFindsTheSlowStatementOnTheNodeThatRanIt) {
    // Ten slow runs on replica-1 (compare runs there), then what pg_stat_statements says of them.
    ASSERT_EQ(compare(latest50("cmp_slow"), latest50("cmp_fast"), {"--runs", "10"}).exit_code, 0);
    auto r = ywctl({"--json", "query", "top", "--slow-min-calls", "10", "--limit", "50"});
    EXPECT_EQ(r.exit_code, 1) << r.output;  // some statement is slow
    auto doc = json_of(r);
    const auto& nodes = doc.at("nodes").as_array();
    ASSERT_EQ(nodes.size(), 3u) << r.output;
    bool found = false;
    for (const auto& n : nodes) {
        EXPECT_FALSE(n.as_object().contains("error")) << json::serialize(n);
        for (const auto& s : n.at("statements").as_array()) {
            std::string query(s.at("query").as_string());
            // The statement itself, not compare's EXPLAIN of it.
            if (query.find("FROM cmp_slow") == std::string::npos || !query.starts_with("SELECT")) continue;
            if (n.at("node") != "replica-1") continue;
            found = true;
            EXPECT_EQ(s.at("slow"), true) << json::serialize(s);
            EXPECT_GE(s.at("calls").as_int64(), 13);  // 1 check, 3 warm-up, 10 timed, EXPLAIN aside
            EXPECT_GE(s.at("mean_ms").as_double(), 20.0);
        }
    }
    EXPECT_TRUE(found) << r.output;
    // The table for people, and one node only.
    auto table = ywctl({"query", "top", "--node", "replica-1", "--slow-min-calls", "10"});
    EXPECT_EQ(table.exit_code, 1) << table.output;
    EXPECT_NE(table.output.find("✗"), std::string::npos) << table.output;
    EXPECT_EQ(ywctl({"query", "top", "--node", "replica-9"}).exit_code, 64);
}

bool has_signal(const json::object& doc, const std::string& kind, const std::string& needle = "") {
    for (const auto& s : doc.at("signals").as_array()) {
        if (s.at("kind") == kind.c_str() &&
            std::string(s.at("message").as_string()).find(needle) != std::string::npos)
            return true;
    }
    return false;
}

TEST_F(QueryCompare, ExplainSaysWhatThePlanMeansOnAReplica) {
    auto slow = ywctl(
        {"--json", "query", "explain", latest50("cmp_slow"), "--param", kTenant, "--param", kConversation});
    EXPECT_EQ(slow.exit_code, 1) << slow.output;
    auto doc = json_of(slow);
    EXPECT_TRUE(has_signal(doc, "seq_scan", "cmp_slow")) << slow.output;
    EXPECT_NE(std::string(doc.at("plan_text").as_string()).find("Seq Scan"), std::string::npos);
    auto fast = ywctl(
        {"--json", "query", "explain", latest50("cmp_fast"), "--param", kTenant, "--param", kConversation});
    // No scan to fix (a busy machine may still see planning outlast this 0.1 ms execution: not asserted).
    EXPECT_NE(fast.exit_code, 2) << fast.output;
    EXPECT_FALSE(has_signal(json_of(fast), "seq_scan")) << fast.output;
    EXPECT_FALSE(has_signal(json_of(fast), "rows_removed")) << fast.output;
    // The partitioned table without a bound on created_at: every month is scanned.
    auto unpruned =
        ywctl({"--json", "query", "explain",
               "SELECT count(*) FROM conversation_message WHERE tenant_id = $1::uuid", "--param", kTenant});
    EXPECT_EQ(unpruned.exit_code, 1) << unpruned.output;
    EXPECT_TRUE(has_signal(json_of(unpruned), "partitions_not_pruned")) << unpruned.output;
    // The table for people.
    auto table =
        ywctl({"query", "explain", latest50("cmp_slow"), "--param", kTenant, "--param", kConversation});
    EXPECT_NE(table.output.find("✗ sequential scan"), std::string::npos) << table.output;
}

TEST_F(QueryCompare, ExplainNeverRunsOnThePrimaryUnlessAskedNorWritesUnlessAllowed) {
    auto primary = ywctl({"query", "explain", "SELECT 1", "--node", "primary"});
    EXPECT_EQ(primary.exit_code, 64) << primary.output;
    EXPECT_NE(primary.output.find("--primary"), std::string::npos) << primary.output;
    EXPECT_EQ(ywctl({"query", "explain", "SELECT 1", "--primary"}).exit_code, 0);
    const std::string del = "DELETE FROM cmp_fast WHERE conversation_id = $1::uuid";
    auto refused = ywctl({"query", "explain", del, "--primary", "--param", kConversation});
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    EXPECT_NE(refused.output.find("--allow-writes"), std::string::npos) << refused.output;
    auto allowed = ywctl({"query", "explain", del, "--primary", "--allow-writes", "--param", kConversation});
    EXPECT_NE(allowed.exit_code, 2) << allowed.output;
    auto n = Topology::get().superuser("primary").simple_query(
        "test.count",
        fmt::format("SELECT count(*) AS n FROM cmp_fast WHERE conversation_id = '{}'", kConversation));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->text(0, "n"), "500");  // rolled back
}

TEST_F(QueryCompare, BadUsageIsRefusedBeforeAnythingRuns) {
    auto no_after = ywctl({"query", "compare", "--before", "SELECT 1"});
    EXPECT_EQ(no_after.exit_code, 64) << no_after.output;
    auto node =
        ywctl({"query", "compare", "--before", "SELECT 1", "--after", "SELECT 1", "--node", "replica-9"});
    EXPECT_EQ(node.exit_code, 64) << node.output;
    EXPECT_NE(node.output.find("replica-1"), std::string::npos) << node.output;  // names the known nodes
    auto both = ywctl({"query", "compare", "--before", "SELECT 1", "--before-file", "/etc/hostname",
                       "--after", "SELECT 1"});
    EXPECT_EQ(both.exit_code, 64) << both.output;
}

}  // namespace
}  // namespace yw::test
