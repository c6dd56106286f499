// Destructive, so in its own binary: a replica that died and lost its slot is diagnosed by `ywctl emergency
// replica-failure`, rebuilt through its --rebuild flag (RB-22 → RB-3), and streams again with the rows
// written meanwhile; then a running replica is rebuilt in place by `ywctl replicas rebuild`.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "cluster/local_topology.hpp"
#include "node/control.hpp"
#include "pg/queries.hpp"
#include "support/ops_helpers.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr pg::Query kCreateProbe{"test.create_probe", "CREATE TABLE IF NOT EXISTS rebuild_probe (note text)"};
constexpr pg::Query kInsertProbe{"test.insert_probe", "INSERT INTO rebuild_probe VALUES ($1)"};
constexpr pg::Query kReadProbe{"test.read_probe", "SELECT 1 FROM rebuild_probe WHERE note = $1"};
constexpr pg::Query kSlotActive{"test.slot_active",
                                "SELECT active FROM pg_replication_slots WHERE slot_name = 'replica_2_slot'"};
constexpr pg::Query kDropSlot{"test.drop_slot", "SELECT pg_drop_replication_slot('replica_2_slot')"};

bool replica_sees(const std::string& node, const std::string& note) {
    for (int i = 0; i < 100; ++i) {
        try {
            auto c = Topology::get().superuser(node);
            auto r = c.query(kReadProbe, {note});
            if (r.ok() && !r->empty()) return true;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

std::vector<fs::path> old_copies(const std::string& node) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(Topology::get().dir())) {
        if (e.path().filename().string().rfind(node + ".old-", 0) == 0) out.push_back(e.path());
    }
    return out;
}

TEST(ReplicasRebuild, ADeadReplicaWithoutItsSlotIsDiagnosedAndRebuilt) {
    auto dir = Topology::get().dir().string();
    auto primary = Topology::get().superuser("primary");
    ASSERT_TRUE(primary.query(kCreateProbe).ok());

    // replica-2 dies, and its slot is dropped while it is down (as when WAL ran out): it can never catch up.
    RunOptions opts;
    opts.as_user = running_as_root() ? "postgres" : "";
    auto stop = run_process(
        {node::postgres_bindir() + "/pg_ctl", "-D", dir + "/replica-2", "-m", "immediate", "-w", "stop"},
        opts);
    ASSERT_TRUE(stop.ok() && stop->exit_code == 0) << (stop.ok() ? stop->output : stop.error().message);
    // Down, but its slot kept the WAL: start it again is the advice, not a rebuild.
    auto down = json_of(ywctl({"--json", "emergency", "replica-failure", "--timeout", "2"}));
    EXPECT_EQ(check_status(down, "replica-2"), "critical");
    EXPECT_TRUE(any_contains(next_steps(down), "on replica-2's host: start PostgreSQL"))
        << boost::json::serialize(down);
    for (int i = 0; i < 100; ++i) {
        auto a = primary.query(kSlotActive);
        if (a.ok() && !a->empty() && a->text(0, "active") == "f") break;
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(primary.query(kDropSlot).ok());
    ASSERT_TRUE(primary.query(kInsertProbe, {"written while replica-2 was down"}).ok());

    auto check = ywctl({"--json", "replicas", "check", "--timeout", "2"});
    EXPECT_EQ(check.exit_code, 2) << check.output;
    auto doc = json_of(check);
    EXPECT_EQ(check_status(doc, "replica-2 reachable"), "critical");
    EXPECT_EQ(check_status(doc, "replica-1 replay lag"), "ok");

    auto diag = ywctl({"--json", "emergency", "replica-failure", "--timeout", "2"});
    EXPECT_EQ(diag.exit_code, 2) << diag.output;
    auto d = json_of(diag);
    EXPECT_EQ(check_status(d, "replica-2 slot replica_2_slot"), "critical");
    EXPECT_EQ(check_status(d, "replica-2"), "critical");
    EXPECT_TRUE(any_contains(next_steps(d), "ywctl replicas rebuild replica-2")) << diag.output;

    auto act = ywctl({"emergency", "replica-failure", "--rebuild", "--dir", dir, "--yes"});
    ASSERT_EQ(act.exit_code, 0) << act.output;
    EXPECT_NE(act.output.find("running: ywctl"), std::string::npos) << act.output;
    EXPECT_NE(act.output.find("replica-2 rebuilt from primary"), std::string::npos) << act.output;
    EXPECT_EQ(old_copies("replica-2").size(), 1u);

    EXPECT_TRUE(replica_sees("replica-2", "written while replica-2 was down"));
    ASSERT_TRUE(primary.query(kInsertProbe, {"written after the rebuild"}).ok());
    EXPECT_TRUE(replica_sees("replica-2", "written after the rebuild"));
    auto healthy = ywctl({"--json", "replicas", "check"});
    EXPECT_EQ(healthy.exit_code, 0) << healthy.output;
}

TEST(ReplicasRebuild, ARunningReplicaIsStoppedCopiedAndStreamsAgain) {
    auto dir = Topology::get().dir().string();
    auto r = ywctl({"--json", "replicas", "rebuild", "replica-1", "--dir", dir, "--yes"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("status").as_string(), "streaming");
    EXPECT_EQ(doc.at("source").as_string(), "primary");
    EXPECT_LT(doc.at("replay_lag_ms").as_int64(), 1000);
    std::string old(doc.at("old_data_dir").as_string());
    EXPECT_TRUE(fs::exists(fs::path(old) / "PG_VERSION")) << old;  // the old copy is kept, whole
    auto primary = Topology::get().superuser("primary");
    ASSERT_TRUE(primary.query(kInsertProbe, {"after replica-1's rebuild"}).ok());
    EXPECT_TRUE(replica_sees("replica-1", "after replica-1's rebuild"));
    EXPECT_EQ(ywctl({"replicas", "check"}).exit_code, 0);
}

// Last: it leaves the topology without a primary.
TEST(EmergencyDbDown, AStoppedPrimaryIsFailedOverToTheReplicaFurthestAhead) {
    auto dir = Topology::get().dir().string();
    RunOptions opts;
    opts.as_user = running_as_root() ? "postgres" : "";
    auto stop = run_process(
        {node::postgres_bindir() + "/pg_ctl", "-D", dir + "/primary", "-m", "immediate", "-w", "stop"}, opts);
    ASSERT_TRUE(stop.ok() && stop->exit_code == 0) << (stop.ok() ? stop->output : stop.error().message);
    constexpr pg::Query kReceiver{"test.receiver", "SELECT status FROM pg_stat_wal_receiver"};
    for (int i = 0; i < 100; ++i) {
        bool streaming = false;
        for (const char* node : {"replica-1", "replica-2"}) {
            auto r = Topology::get().superuser(node).query(kReceiver);
            streaming |= r.ok() && !r->empty() && r->text(0, "status") == "streaming";
        }
        if (!streaming) break;
        std::this_thread::sleep_for(100ms);
    }
    auto r = ywctl({"--json", "emergency", "db-down", "--timeout", "2"});
    ASSERT_EQ(r.exit_code, 2) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(check_status(doc, "node primary"), "critical");
    EXPECT_EQ(check_status(doc, "failover candidate"), "warning");
    std::string to(doc.at("data").at("failover_to").as_string());
    EXPECT_TRUE(to == "replica-1" || to == "replica-2") << r.output;
    EXPECT_TRUE(any_contains(next_steps(doc), "ywctl failover --to " + to)) << r.output;
    auto check = ywctl({"--json", "replicas", "check", "--timeout", "2"});
    EXPECT_EQ(check.exit_code, 2);
    EXPECT_EQ(check_status(json_of(check), "primary"), "critical");
}

}  // namespace
}  // namespace yw::test
