// `ywctl emergency db-down|pool-exhausted|replica-failure` (RB-20 … RB-22): each diagnosis on a healthy
// topology, then with the failing part made silent (a DSN that never answers) or stuck (a transaction left
// open), and the recommended next command. Acting flags are tested where they cannot break the topology.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>

#include "pg/queries.hpp"
#include "support/ops_helpers.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;

constexpr pg::Query kBegin{"test.begin", "BEGIN"};
constexpr pg::Query kSelectOne{"test.select_one", "SELECT 1 AS one"};
constexpr pg::Query kCreateSlot{"test.create_slot",
                                "SELECT pg_create_physical_replication_slot('orphan_slot')"};
constexpr pg::Query kDropSlot{"test.drop_slot", "SELECT pg_drop_replication_slot('orphan_slot')"};

TEST(EmergencyDbDown, AHealthyDatabaseNeedsNoFailover) {
    auto r = ywctl({"--json", "emergency", "db-down"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_TRUE(doc.at("data").at("failover_to").is_null());
    EXPECT_EQ(check_status(doc, "DATABASE_URL SELECT 1"), "ok");
    EXPECT_TRUE(next_steps(doc).empty());
    auto act = ywctl({"emergency", "db-down", "--failover", "--yes"});
    EXPECT_EQ(act.exit_code, 0) << act.output;
    EXPECT_NE(act.output.find("recommends no failover; nothing done"), std::string::npos) << act.output;
}

TEST(EmergencyDbDown, APrimaryOnlyUnreachableFromHereIsNotFailedOver) {
    // The primary's DSN never answers, but the replicas still stream from it: it is alive.
    SilentPort silent;
    auto r = ywctl({"--json", "emergency", "db-down", "--timeout", "2"},
                   {admin_urls_with("primary", silent.url())});
    EXPECT_FALSE(r.timed_out);
    ASSERT_EQ(r.exit_code, 2) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "node primary"), "critical");
    EXPECT_EQ(check_status(doc, "node replica-1"), "ok");
    EXPECT_EQ(check_status(doc, "primary"), "critical");
    EXPECT_EQ(check_status(doc, "replicas still streaming from the primary"), "critical");
    EXPECT_TRUE(doc.at("data").at("failover_to").is_null());
    EXPECT_TRUE(any_contains(next_steps(doc), "do NOT fail over")) << r.output;
    EXPECT_FALSE(any_contains(next_steps(doc), "ywctl failover"));
    auto act = ywctl({"emergency", "db-down", "--timeout", "2", "--failover", "--yes"},
                     {admin_urls_with("primary", silent.url())});
    EXPECT_EQ(act.exit_code, 2) << act.output;
    EXPECT_NE(act.output.find("recommends no failover; nothing done"), std::string::npos) << act.output;
}

TEST(EmergencyDbDown, NothingAnsweringRecommendsRecoveryOfThePrimary) {
    SilentPort a, b, c;
    std::string urls =
        fmt::format("DATABASE_ADMIN_URLS=primary={},replica-1={},replica-2={}", a.url(), b.url(), c.url());
    auto r = ywctl({"--json", "emergency", "db-down", "--timeout", "2"}, {urls});
    ASSERT_EQ(r.exit_code, 2) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "failover candidate"), "critical");
    EXPECT_TRUE(any_contains(next_steps(doc), "on the primary's host")) << r.output;
    EXPECT_TRUE(any_contains(next_steps(doc), "df -h"));
}

TEST(EmergencyPoolExhausted, FindsTheStuckSessionAndTerminatesItOnRequest) {
    auto healthy = ywctl({"--json", "emergency", "pool-exhausted"});
    ASSERT_EQ(healthy.exit_code, 0) << healthy.output;
    auto stuck = Topology::get().app();
    ASSERT_TRUE(stuck.query(kBegin).ok());
    ASSERT_TRUE(stuck.query(kSelectOne).ok());
    std::this_thread::sleep_for(1100ms);
    auto r = ywctl({"--json", "emergency", "pool-exhausted", "--min-duration", "1"});
    ASSERT_EQ(r.exit_code, 1) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "idle in transaction"), "warning");
    EXPECT_TRUE(
        any_contains(next_steps(doc), "ywctl emergency pool-exhausted --terminate-long --min-duration 1"))
        << r.output;
    EXPECT_EQ(ywctl({"emergency", "pool-exhausted", "--min-duration", "1", "--terminate-long"}).exit_code,
              64);
    EXPECT_TRUE(stuck.query(kSelectOne).ok());  // refused: still alive
    auto act =
        ywctl({"--json", "emergency", "pool-exhausted", "--min-duration", "1", "--terminate-long", "--yes"});
    ASSERT_EQ(act.exit_code, 0) << act.output;
    auto done = json_of(act).at("terminated").as_array();
    ASSERT_EQ(done.size(), 1u);
    EXPECT_TRUE(done[0].at("terminated").as_bool());
    EXPECT_FALSE(stuck.query(kSelectOne).ok());
    EXPECT_EQ(ywctl({"emergency", "pool-exhausted", "--min-duration", "1"}).exit_code, 0);
}

TEST(EmergencyPoolExhausted, ASilentPgBouncerIsCritical) {
    SilentPort silent;
    auto url = fmt::format("postgresql://pgbouncer@127.0.0.1:{}/pgbouncer", silent.port());
    auto r =
        ywctl({"--json", "emergency", "pool-exhausted", "--timeout", "2"}, {"PGBOUNCER_ADMIN_URL=" + url});
    ASSERT_EQ(r.exit_code, 2) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "pgbouncer reachable"), "critical");
    EXPECT_TRUE(any_contains(next_steps(doc), "restart PgBouncer"));
}

TEST(EmergencyReplicaFailure, HealthyReplicasAndAnOrphanSlot) {
    auto r = ywctl({"--json", "emergency", "replica-failure"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "replica-1 slot replica_1_slot"), "ok");
    EXPECT_EQ(check_status(doc, "replica-2 replay lag"), "ok");
    auto act = ywctl({"emergency", "replica-failure", "--rebuild", "--yes"});
    EXPECT_EQ(act.exit_code, 0);
    EXPECT_NE(act.output.find("no single replica needs a rebuild"), std::string::npos) << act.output;

    // A slot nobody streams from pins WAL on the primary: reported, not dropped.
    auto primary = Topology::get().superuser("primary");
    ASSERT_TRUE(primary.query(kCreateSlot).ok());
    auto orphan = ywctl({"--json", "emergency", "replica-failure"});
    EXPECT_EQ(orphan.exit_code, 1) << orphan.output;
    EXPECT_EQ(check_status(json_of(orphan), "slot orphan_slot"), "warning");
    ASSERT_TRUE(primary.query(kDropSlot).ok());
}

TEST(EmergencyReplicaFailure, AReplicaOnlyUnreachableFromHereIsAWarning) {
    SilentPort silent;
    auto r = ywctl({"--json", "emergency", "replica-failure", "--timeout", "2"},
                   {admin_urls_with("replica-1", silent.url())});
    ASSERT_EQ(r.exit_code, 1) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "replica-1"), "warning");
    EXPECT_EQ(check_status(doc, "replica-2 replay lag"), "ok");
    EXPECT_FALSE(any_contains(next_steps(doc), "rebuild")) << r.output;
}

}  // namespace
}  // namespace yw::test
