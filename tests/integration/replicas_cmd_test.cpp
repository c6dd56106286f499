// `ywctl replicas check` (RB-1) and the refusals of `ywctl replicas rebuild` (RB-3) against a real topology:
// healthy, idle, a node that never answers, wrong names, the primary, a dry run. Nothing here breaks the
// topology (the destructive rebuilds are in replicas_rebuild_test).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "pg/queries.hpp"
#include "pg/topology.hpp"
#include "support/ops_helpers.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;

constexpr pg::Query kCreateProbe{
    "test.create_probe", "CREATE TABLE IF NOT EXISTS replicas_probe (id serial PRIMARY KEY, at timestamptz)"};
constexpr pg::Query kInsertProbe{"test.insert_probe", "INSERT INTO replicas_probe (at) VALUES (now())"};
constexpr pg::Query kReceivedLsn{"test.received_lsn", "SELECT pg_last_wal_receive_lsn()::text AS lsn"};
// About 20 MB of WAL: more than one 16 MiB segment, the warning threshold of bytes behind.
constexpr pg::Query kWriteWal{"test.write_wal",
                              "CREATE TABLE replicas_wal_burst AS"
                              " SELECT repeat('x', 1000) AS filler FROM generate_series(1, 20000)"};
constexpr pg::Query kDropWal{"test.drop_wal", "DROP TABLE IF EXISTS replicas_wal_burst"};

std::uint64_t lsn_of(Result<pg::Rows> rows) {
    if (!rows || rows->empty() || !rows->rows[0][0]) return 0;
    return pg::parse_lsn(*rows->rows[0][0]).value_or(0);
}

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

TEST(ReplicasCheck, APausedReplicaIsCriticalAtOnceNotWhenTheLagColumnsCatchUp) {
    // Regression: with replay paused and 12.8 MB written, pg_stat_replication's replay_lag still showed 35 ms
    // three seconds later and the check passed; it must fail as soon as the replica has the WAL unreplayed.
    auto primary = Topology::get().superuser("primary");
    auto replica = Topology::get().superuser("replica-1");
    ASSERT_TRUE(primary.query(kDropWal).ok());
    struct Dropper {  // the scratch table goes even when an assertion returns early
        pg::SyncConnection& conn;
        ~Dropper() { (void)conn.query(kDropWal); }
    } dropper{primary};
    PausedReplay pause("replica-1");
    ASSERT_TRUE(pause.paused());
    ASSERT_TRUE(primary.query(kWriteWal).ok());
    std::uint64_t written = lsn_of(primary.query(pg::queries::kCurrentWalLsn));
    ASSERT_GT(written, 0u);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (lsn_of(replica.query(kReceivedLsn)) < written && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    ASSERT_GE(lsn_of(replica.query(kReceivedLsn)), written) << "replica-1 did not receive the WAL in 20 s";

    auto r = ywctl({"--json", "replicas", "check"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "replica-1 replay paused"), "critical") << r.output;
    EXPECT_EQ(check_status(doc, "replica-1 bytes behind"), "warning") << r.output;  // ~20 MB: one segment
    EXPECT_EQ(check_status(doc, "replica-2 replay paused"), "ok") << r.output;
    EXPECT_TRUE(any_contains(next_steps(doc), "pg_wal_replay_resume()")) << r.output;
    bool reported = false;
    for (const auto& n : doc.at("data").at("nodes").as_array()) {
        if (n.at("name").as_string() != "replica-1") continue;
        const auto& node = n.as_object();
        reported = node.contains("replay_paused") && node.contains("bytes_behind");
        ASSERT_TRUE(reported) << r.output;
        EXPECT_TRUE(node.at("replay_paused").as_bool()) << r.output;
        ASSERT_TRUE(node.at("bytes_behind").is_number()) << r.output;
        EXPECT_GE(node.at("bytes_behind").to_number<std::uint64_t>(), 16ull << 20) << r.output;
    }
    EXPECT_TRUE(reported) << r.output;
    auto human = ywctl({"replicas", "check"});
    EXPECT_EQ(human.exit_code, 2) << human.output;
    EXPECT_NE(human.output.find("replica-1 replay paused"), std::string::npos) << human.output;
    EXPECT_NE(human.output.find("replica-1 bytes behind"), std::string::npos) << human.output;
    // Thresholds of one's own, in bytes: the ~20 MB are now past the critical one.
    auto strict = json_of(
        ywctl({"--json", "replicas", "check", "--warn-lag-bytes", "1024", "--max-lag-bytes", "1048576"}));
    EXPECT_EQ(check_status(strict, "replica-1 bytes behind"), "critical");

    // Resumed: the replica replays the backlog and the check is OK again.
    ASSERT_TRUE(pause.resume());
    RunResult again;
    deadline = std::chrono::steady_clock::now() + 20s;
    do {
        std::this_thread::sleep_for(250ms);
        again = ywctl({"--json", "replicas", "check"});
    } while (again.exit_code != 0 && std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(again.exit_code, 0) << again.output;
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
    auto inverted = ywctl({"replicas", "check", "--warn-lag-bytes", "200", "--max-lag-bytes", "100"});
    EXPECT_EQ(inverted.exit_code, 64) << inverted.output;
    EXPECT_NE(inverted.output.find("--warn-lag-bytes 200 is above --max-lag-bytes 100"), std::string::npos)
        << inverted.output;
    EXPECT_EQ(ywctl({"replicas", "check", "--max-lag-bytes", "0"}).exit_code, 64);
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
