// `ywctl replicas check` (RB-1) and the refusals of `ywctl replicas rebuild` (RB-3) against a real topology:
// healthy, idle, a node that never answers, wrong names, the primary, a dry run. Nothing here breaks the
// topology (the destructive rebuilds are in replicas_rebuild_test).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "pg/queries.hpp"
#include "support/ops_helpers.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;

constexpr pg::Query kCreateProbe{
    "test.create_probe", "CREATE TABLE IF NOT EXISTS replicas_probe (id serial PRIMARY KEY, at timestamptz)"};
constexpr pg::Query kInsertProbe{"test.insert_probe", "INSERT INTO replicas_probe (at) VALUES (now())"};

TEST(ReplicasCheck, HealthyTopologyIsOkWithEveryRow) {
    auto r = ywctl({"--json", "replicas", "check"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("status").as_string(), "ok");
    for (const char* row :
         {"primary", "replica-1 state", "replica-1 write lag", "replica-1 flush lag", "replica-1 replay lag",
          "replica-2 state", "replica-2 replay lag", "replicas streaming"}) {
        EXPECT_EQ(check_status(doc, row), "ok") << row << "\n" << r.output;
    }
    auto data = doc.at("data").as_object();
    EXPECT_EQ(data.at("primary").as_string(), "primary");
    EXPECT_EQ(data.at("pg_stat_replication").as_array().size(), 2u);
    auto human = ywctl({"replicas", "check"});
    EXPECT_EQ(human.exit_code, 0);
    EXPECT_NE(human.output.find("✓  replica-2 replay lag"), std::string::npos) << human.output;
}

TEST(ReplicasCheck, AnIdlePrimaryIsNotMistakenForLag) {
    // After a write and a quiet spell, now() - pg_last_xact_replay_timestamp() (RB-3's monitoring query)
    // grows past the threshold; the replicas have replayed everything, so the check must stay OK.
    auto primary = Topology::get().superuser("primary");
    ASSERT_TRUE(primary.query(kCreateProbe).ok());
    ASSERT_TRUE(primary.query(kInsertProbe).ok());
    std::this_thread::sleep_for(2500ms);
    auto r = ywctl({"--json", "replicas", "check"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    bool saw_old_replay = false;
    for (const auto& n : doc.at("data").at("nodes").as_array()) {
        if (n.at("role").as_string() != "replica") continue;
        ASSERT_TRUE(n.at("replay_age_ms").is_int64()) << r.output;
        saw_old_replay |= n.at("replay_age_ms").as_int64() >= 1000;
    }
    EXPECT_TRUE(saw_old_replay) << "the test did not create the idle condition\n" << r.output;
    EXPECT_EQ(check_status(doc, "replica-1 replay lag"), "ok");
    EXPECT_EQ(check_status(doc, "replica-2 replay lag"), "ok");
}

TEST(ReplicasCheck, ANodeThatNeverAnswersIsCriticalAndTheOthersStillReported) {
    SilentPort silent;
    auto r = ywctl({"--json", "replicas", "check", "--timeout", "2"},
                   {admin_urls_with("replica-2", silent.url())});
    EXPECT_FALSE(r.timed_out);
    ASSERT_EQ(r.exit_code, 2) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("status").as_string(), "critical");
    EXPECT_EQ(check_status(doc, "replica-2 reachable"), "critical") << r.output;
    // The primary may still stream to it (only our view of it is cut): its state row says what the primary
    // sees.
    EXPECT_NE(check_status(doc, "replica-2 state"), "");
    EXPECT_EQ(check_status(doc, "primary"), "ok");
    EXPECT_EQ(check_status(doc, "replica-1 state"), "ok");
    EXPECT_EQ(check_status(doc, "replica-1 replay lag"), "ok");
    EXPECT_TRUE(any_contains(next_steps(doc), "ywctl emergency replica-failure"));
}

TEST(ReplicasCheck, ASilentPrimaryLeavesNoPrimary) {
    SilentPort silent;
    auto r =
        ywctl({"--json", "replicas", "check", "--timeout", "2"}, {admin_urls_with("primary", silent.url())});
    ASSERT_EQ(r.exit_code, 2) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "primary reachable"), "critical");
    EXPECT_EQ(check_status(doc, "primary"), "critical");
    EXPECT_TRUE(any_contains(next_steps(doc), "ywctl emergency db-down"));
}

TEST(ReplicasCheck, BadInputIsAUsageError) {
    EXPECT_EQ(ywctl({"replicas", "check", "--timeout", "0"}).exit_code, 64);
    EXPECT_EQ(ywctl({"replicas", "frobnicate"}).exit_code, 64);
    auto no_nodes = ywctl({"--json", "replicas", "check"}, {"DATABASE_ADMIN_URLS="});
    EXPECT_EQ(no_nodes.exit_code, 78) << no_nodes.output;
}

TEST(ReplicasRebuild, AWrongNodeNameExits64ListingTheNames) {
    auto r = ywctl({"replicas", "rebuild", "replica-9", "--dir", Topology::get().dir().string(), "--yes"});
    EXPECT_EQ(r.exit_code, 64) << r.output;
    EXPECT_NE(r.output.find("no node named 'replica-9'"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("primary, replica-1, replica-2"), std::string::npos) << r.output;
    auto from = ywctl({"replicas", "rebuild", "replica-1", "--from", "nowhere", "--dir",
                       Topology::get().dir().string(), "--dry-run"});
    EXPECT_EQ(from.exit_code, 64) << from.output;
}

TEST(ReplicasRebuild, RefusesThePrimaryAndAForeignDataDirectory) {
    auto dir = Topology::get().dir().string();
    auto primary = ywctl({"replicas", "rebuild", "primary", "--dir", dir, "--yes"});
    EXPECT_EQ(primary.exit_code, 2) << primary.output;
    EXPECT_NE(primary.output.find("is the primary"), std::string::npos) << primary.output;
    // replica-1 answers, but no server runs from this directory: not its host.
    auto elsewhere = ywctl({"replicas", "rebuild", "replica-1", "--data-dir", dir + "/not-here", "--yes"});
    EXPECT_EQ(elsewhere.exit_code, 2) << elsewhere.output;
    EXPECT_NE(elsewhere.output.find("run this on replica-1's host"), std::string::npos) << elsewhere.output;
    EXPECT_FALSE(std::filesystem::exists(dir + "/not-here"));
}

TEST(ReplicasRebuild, DryRunAndNoConfirmationTouchNothing) {
    auto dir = Topology::get().dir().string();
    auto dry = ywctl({"--json", "replicas", "rebuild", "replica-1", "--dir", dir, "--dry-run"});
    ASSERT_EQ(dry.exit_code, 0) << dry.output;
    auto doc = json_of(dry);
    EXPECT_EQ(doc.at("source").as_string(), "primary");
    std::string plan = boost::json::serialize(doc.at("plan"));
    EXPECT_NE(plan.find("pg_basebackup"), std::string::npos) << plan;
    EXPECT_NE(plan.find("-S replica_1_slot"), std::string::npos) << plan;
    EXPECT_NE(plan.find(".old-"), std::string::npos) << plan;
    // Without --yes and without a terminal: refused, exit 64.
    auto refused = ywctl({"replicas", "rebuild", "replica-1", "--dir", dir});
    EXPECT_EQ(refused.exit_code, 64) << refused.output;
    EXPECT_NE(refused.output.find("refusing to act without --yes"), std::string::npos) << refused.output;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        EXPECT_EQ(entry.path().filename().string().find("replica-1.old-"), std::string::npos) << entry.path();
    }
    EXPECT_EQ(ywctl({"replicas", "check"}).exit_code, 0);
}

}  // namespace
}  // namespace yw::test
