// The topology rules: LSN parsing, roles, fencing, lag (LSNs first), and PgBouncer's direction.
#include "pg/topology.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "pg/queries.hpp"

namespace yw::pg {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

NodeProbe writable(std::uint64_t lsn, std::uint32_t timeline = 1) {
    NodeProbe p;
    p.reachable = true;
    p.current_lsn = lsn;
    p.timeline = timeline;
    return p;
}

NodeProbe replica(std::uint64_t replay, std::optional<std::int64_t> age_ms = std::nullopt,
                  bool paused = false) {
    NodeProbe p;
    p.reachable = true;
    p.in_recovery = true;
    p.receive_lsn = replay;
    p.replay_lsn = replay;
    p.replay_age_ms = age_ms;
    p.replay_paused = paused;
    return p;
}

NodeProbe down() {
    NodeProbe p;
    p.error = "connection refused";
    return p;
}

TopologyRules rules() { return TopologyRules({"primary", "replica-1", "replica-2"}, 1000ms); }

TEST(Lsn, ParsesAndFormats) {
    EXPECT_EQ(parse_lsn("0/0"), 0u);
    EXPECT_EQ(parse_lsn("16/B374D848"), (0x16ull << 32) | 0xB374D848ull);
    EXPECT_EQ(format_lsn((0x16ull << 32) | 0xB374D848ull), "16/B374D848");
    for (const char* bad : {"", "/", "1/", "/1", "G/1", "1/1/1", "123456789/0", "1 /2", "-1/2"}) {
        EXPECT_FALSE(parse_lsn(bad).has_value()) << bad;
    }
}

TEST(TopologyRules, InitialGuessesThePrimaryByName) {
    Snapshot s = rules().initial();
    ASSERT_EQ(s.nodes.size(), 3u);
    EXPECT_EQ(s.primary, 0);
    EXPECT_EQ(s.round, 0u);
    EXPECT_FALSE(s.nodes[1].readable);  // replicas take reads only once probed
}

TEST(TopologyRules, IdlePrimaryIsNotLag) {
    auto r = rules();
    auto t = Clock::now();
    // The last commit was an hour ago, but the replica has replayed everything the primary wrote.
    Snapshot s = r.assess({writable(1000), replica(1000, 3600000), replica(1000, 3600000)}, std::nullopt, t);
    EXPECT_EQ(s.primary, 0);
    EXPECT_EQ(s.nodes[1].role, Role::kReplica);
    EXPECT_EQ(s.nodes[1].lag_ms, 0);
    EXPECT_TRUE(s.nodes[1].readable);
}

TEST(TopologyRules, AWriteAfterAnIdleHourIsNotAnHourOfLag) {
    auto r = rules();
    auto t = Clock::now();
    r.assess({writable(1000), replica(1000, 3600000), replica(1000, 3600000)}, std::nullopt, t);
    // The primary wrote; the replicas have not replayed it yet at the next probe.
    Snapshot s =
        r.assess({writable(2000), replica(1000, 3600000), replica(1000, 3600000)}, std::nullopt, t + 1s);
    EXPECT_EQ(s.nodes[1].lag_ms, 0);  // behind since this very probe
    EXPECT_TRUE(s.nodes[1].readable);
}

TEST(TopologyRules, AReplicaThatStopsReplayingBecomesUnreadable) {
    auto r = rules();
    auto t = Clock::now();
    r.assess({writable(1000), replica(1000, 5), replica(1000, 5)}, std::nullopt, t);
    r.assess({writable(2000), replica(1000, 500), replica(2000, 5)}, std::nullopt, t + 500ms);
    Snapshot s = r.assess({writable(3000), replica(1000, 1600), replica(3000, 5)}, std::nullopt, t + 1600ms);
    EXPECT_EQ(s.nodes[1].lag_ms, 1100);  // behind since the primary passed 1000, at t+500ms
    EXPECT_FALSE(s.nodes[1].readable);
    EXPECT_TRUE(s.nodes[2].readable);
    EXPECT_EQ(s.nodes[2].lag_ms, 0);
}

TEST(TopologyRules, PausedReplayLeavesReadsAtOnce) {
    auto r = rules();
    Snapshot s =
        r.assess({writable(1000), replica(1000, 5, true), replica(1000)}, std::nullopt, Clock::now());
    EXPECT_FALSE(s.nodes[1].readable);
    EXPECT_TRUE(s.nodes[1].replay_paused);
    EXPECT_EQ(s.nodes[1].error, "WAL replay is paused");
}

TEST(TopologyRules, PromotionMovesThePrimaryAndFencesTheOldOneWhenItReturns) {
    auto r = rules();
    auto t = Clock::now();
    r.assess({writable(1000), replica(1000), replica(1000)}, std::nullopt, t);
    // The primary dies: it keeps its place (writes fail fast) until someone is promoted.
    Snapshot s = r.assess({down(), replica(1000), replica(1000)}, std::nullopt, t + 1s);
    EXPECT_EQ(s.primary, 0);
    EXPECT_FALSE(s.nodes[0].healthy);
    // replica-1 is promoted onto timeline 2.
    s = r.assess({down(), writable(1100, 2), replica(1000)}, std::nullopt, t + 2s);
    EXPECT_EQ(s.primary, 1);
    EXPECT_EQ(s.nodes[1].role, Role::kPrimary);
    EXPECT_EQ(s.nodes[0].role, Role::kFenced);
    // The old primary restarts writable on timeline 1: fenced, not a second primary.
    s = r.assess({writable(1050, 1), writable(1200, 2), replica(1000)}, std::nullopt, t + 3s);
    EXPECT_EQ(s.primary, 1);
    EXPECT_EQ(s.nodes[0].role, Role::kFenced);
    EXPECT_NE(s.nodes[0].error.find("fenced"), std::string::npos);
    // Still fenced when the new primary is briefly unreachable: never fall back to the old timeline.
    s = r.assess({writable(1050, 1), down(), replica(1000)}, std::nullopt, t + 4s);
    EXPECT_EQ(s.primary, 1);
    EXPECT_EQ(s.nodes[0].role, Role::kFenced);
    // Rejoined as a replica (pg_rewind): unfenced.
    s = r.assess({replica(1200), writable(1300, 2), replica(1300)}, std::nullopt, t + 5s);
    EXPECT_EQ(s.nodes[0].role, Role::kReplica);
    EXPECT_EQ(s.primary, 1);
}

TEST(TopologyRules, NoWritableNodeMeansNoPrimary) {
    auto r = rules();
    Snapshot s = r.assess({replica(1000), replica(1000), replica(1000)}, std::nullopt, Clock::now());
    EXPECT_EQ(s.primary, -1);
}

TEST(TopologyRules, PgBouncerMustLeadToThePrimary) {
    auto r = rules();
    auto t = Clock::now();
    Snapshot s = r.assess({writable(1000), replica(1000), replica(1000)}, writable(1000), t);
    EXPECT_TRUE(s.pgbouncer_configured);
    EXPECT_TRUE(s.pgbouncer_ok);
    // After a promotion PgBouncer still leads to the old (fenced) primary on timeline 1.
    s = r.assess({writable(1000, 1), writable(1100, 2), replica(1000)}, writable(1000, 1), t + 1s);
    EXPECT_FALSE(s.pgbouncer_ok);
    EXPECT_NE(s.pgbouncer_error.find("timeline 1"), std::string::npos);
    s = r.assess({writable(1000, 1), writable(1100, 2), replica(1000)}, replica(1000), t + 2s);
    EXPECT_FALSE(s.pgbouncer_ok);
    s = r.assess({writable(1000, 1), writable(1100, 2), replica(1000)}, down(), t + 3s);
    EXPECT_FALSE(s.pgbouncer_ok);
    s = r.assess({writable(1000, 1), writable(1100, 2), replica(1000)}, writable(1100, 2), t + 4s);
    EXPECT_TRUE(s.pgbouncer_ok);
}

// Every statement that filters on tenant_id = $N declares N as its tenant parameter: routing depends on it
// for read-your-writes.
TEST(QueryRegistry, TenantParameterMatchesTheSql) {
    const Query all[] = {
        queries::kUserCreate,         queries::kUserGet,          queries::kUserList,
        queries::kUserPatch,          queries::kUserDelete,       queries::kConversationCreate,
        queries::kConversationGet,    queries::kConversationList, queries::kConversationPatch,
        queries::kMessageCreate,      queries::kMessagesRecent,   queries::kMessagesBefore,
        queries::kConversationExists, queries::kMessageDelete};
    std::regex tenant(R"(tenant_id = \$(\d+))");
    for (const Query& q : all) {
        std::string sql(q.sql);
        std::smatch m;
        if (std::regex_search(sql, m, tenant)) {
            EXPECT_EQ(q.tenant_param, std::stoi(m[1]) - 1) << q.name;
        } else {
            // An INSERT … (id, tenant_id, …) VALUES ($1, $2, …): the tenant is the second value.
            ASSERT_NE(sql.find("(id, tenant_id,"), std::string::npos) << q.name;
            EXPECT_EQ(q.tenant_param, 1) << q.name;
        }
    }
}

}  // namespace
}  // namespace yw::pg
