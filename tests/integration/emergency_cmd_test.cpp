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

// The report's "next_steps", which must be there and be an array of strings: next_steps() alone would make a
// report without the key look like one that recommends nothing. Use as ASSERT_NO_FATAL_FAILURE(steps_of(…)).
void steps_of(const boost::json::object& report, std::vector<std::string>& out) {
    ASSERT_TRUE(report.contains("next_steps")) << "no next_steps in " << boost::json::serialize(report);
    ASSERT_TRUE(report.at("next_steps").is_array()) << boost::json::serialize(report);
    for (const auto& s : report.at("next_steps").as_array()) {
        ASSERT_TRUE(s.is_string()) << boost::json::serialize(report);
    }
    out = next_steps(report);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(EmergencyDbDown, AHealthyDatabaseNeedsNoFailover) {
    auto r = ywctl({"--json", "emergency", "db-down"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_TRUE(doc.at("data").at("failover_to").is_null());
    EXPECT_EQ(check_status(doc, "DATABASE_URL SELECT 1"), "ok");
    std::vector<std::string> steps;
    ASSERT_NO_FATAL_FAILURE(steps_of(doc, steps));
    EXPECT_EQ(steps, std::vector<std::string>{}) << r.output;  // nothing to do, said explicitly
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
    // One step: do not fail over, naming the replicas that still stream, and where to look instead.
    std::vector<std::string> steps;
    ASSERT_NO_FATAL_FAILURE(steps_of(doc, steps));
    ASSERT_EQ(steps.size(), 1u) << r.output;
    EXPECT_TRUE(
        starts_with(steps[0], "do NOT fail over: replica-1 replica-2 still stream(s) from the primary"))
        << steps[0];
    EXPECT_NE(steps[0].find("DATABASE_ADMIN_URLS"), std::string::npos) << steps[0];
    EXPECT_FALSE(any_contains(steps, "ywctl failover"));
    auto act = ywctl({"emergency", "db-down", "--timeout", "2", "--failover", "--yes"},
                     {admin_urls_with("primary", silent.url())});
    EXPECT_EQ(act.exit_code, 2) << act.output;
    EXPECT_NE(act.output.find("recommends no failover; nothing done"), std::string::npos) << act.output;
}

TEST(EmergencyDbDown, NothingAnsweringRecommendsRecoveryOfThePrimary) {
    // A backup exists: RB-20's last resort names it and the command that restores it.
    auto backup = ywctl({"--json", "backup", "run", "--type", "full"});
    ASSERT_EQ(backup.exit_code, 0) << backup.output;
    std::string label(json_of(backup).at("backup").at("label").as_string());
    SilentPort a, b, c;
    std::string urls =
        fmt::format("DATABASE_ADMIN_URLS=primary={},replica-1={},replica-2={}", a.url(), b.url(), c.url());
    auto r = ywctl({"--json", "emergency", "db-down", "--timeout", "2"}, {urls});
    ASSERT_EQ(r.exit_code, 2) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "failover candidate"), "critical");
    // RB-20 in order: start the primary, check its disk, restore from backup.
    std::vector<std::string> steps;
    ASSERT_NO_FATAL_FAILURE(steps_of(doc, steps));
    ASSERT_EQ(steps.size(), 4u) << r.output;
    EXPECT_TRUE(starts_with(steps[0], "on the primary's host: pg_ctl -D <data> start")) << steps[0];
    EXPECT_TRUE(starts_with(steps[1], "check the disk of the data directory: df -h <data>")) << steps[1];
    EXPECT_TRUE(starts_with(steps[2], "if it cannot start within 15 minutes: restore from backup"))
        << steps[2];
    EXPECT_TRUE(starts_with(steps[3], "ywctl backup restore --to <new data directory>   # backup " + label))
        << steps[3];
    EXPECT_EQ(check_status(doc, "newest backup"), "ok");
    EXPECT_EQ(doc.at("data").at("newest_backup").as_string(), label);
    EXPECT_FALSE(any_contains(steps, "ywctl failover"));
}

TEST(EmergencyPoolExhausted, FindsTheStuckSessionAndTerminatesItOnRequest) {
    auto healthy = ywctl({"--json", "emergency", "pool-exhausted"});
    ASSERT_EQ(healthy.exit_code, 0) << healthy.output;
    std::vector<std::string> none;
    ASSERT_NO_FATAL_FAILURE(steps_of(json_of(healthy), none));
    EXPECT_EQ(none, std::vector<std::string>{}) << healthy.output;
    auto stuck = Topology::get().app();
    ASSERT_TRUE(stuck.query(kBegin).ok());
    ASSERT_TRUE(stuck.query(kSelectOne).ok());
    std::this_thread::sleep_for(1100ms);
    auto r = ywctl({"--json", "emergency", "pool-exhausted", "--min-duration", "1"});
    ASSERT_EQ(r.exit_code, 1) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "idle in transaction"), "warning");
    // The command that ends every stuck session, then the one that ends just ours (by its pid).
    std::vector<std::string> steps;
    ASSERT_NO_FATAL_FAILURE(steps_of(doc, steps));
    ASSERT_EQ(steps.size(), 2u) << r.output;
    EXPECT_TRUE(starts_with(steps[0],
                            "ywctl emergency pool-exhausted --terminate-long --min-duration 1   # ends the 1 "
                            "session(s) listed"))
        << steps[0];
    EXPECT_TRUE(starts_with(steps[1], "ywctl pool leaks --terminate ")) << steps[1];
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
    std::vector<std::string> steps;
    ASSERT_NO_FATAL_FAILURE(steps_of(doc, steps));
    ASSERT_EQ(steps.size(), 1u) << r.output;
    EXPECT_TRUE(starts_with(steps[0], "restart PgBouncer on its host")) << steps[0];
}

TEST(EmergencyReplicaFailure, HealthyReplicasAndAnOrphanSlot) {
    auto r = ywctl({"--json", "emergency", "replica-failure"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "replica-1 slot replica_1_slot"), "ok");
    EXPECT_EQ(check_status(doc, "replica-2 replay lag"), "ok");
    std::vector<std::string> steps;
    ASSERT_NO_FATAL_FAILURE(steps_of(doc, steps));
    EXPECT_EQ(steps, std::vector<std::string>{}) << r.output;
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
    // Not a replication failure: nothing to rebuild, nothing to do on the replica.
    std::vector<std::string> steps;
    ASSERT_NO_FATAL_FAILURE(steps_of(doc, steps));
    EXPECT_EQ(steps, std::vector<std::string>{}) << r.output;
}

}  // namespace
}  // namespace yw::test
