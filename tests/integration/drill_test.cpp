// `ywctl drill failover` (RB-4) on a synchronous topology under a write load through a real ywmsgd: the
// primary is killed with SIGKILL, a standby promoted, writes come back through PgBouncer, the old primary
// rejoins with pg_rewind and a controlled switchover brings it back — and not one acknowledged write is lost.
// Breaks its topology: its own binary.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <optional>

#include "pg/queries.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr pg::Query kSyncNames{"test.sync_names", "SELECT current_setting('synchronous_standby_names') AS s"};
constexpr pg::Query kInRecovery{"test.in_recovery", "SELECT pg_is_in_recovery() AS r"};
constexpr pg::Query kStandbys{
    "test.standbys", "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1"};

// `ywctl cluster up --sync` on the binary's topology: synchronous_standby_names = 'ANY 1 (replica_1,
// replica_2)'.
void make_synchronous() {
    cluster::Options options;
    options.dir = Topology::get().dir();
    options.sync = true;
    auto t = cluster::LocalTopology::open(options);
    ASSERT_TRUE(t.ok()) << t.error().message;
    auto up = t->up();
    ASSERT_TRUE(up.ok()) << up.error().message;
}

TEST(Drill, FailoverUnderLoadLosesNoAcknowledgedWriteWithSynchronousReplication) {
    make_synchronous();
    auto primary = Topology::get().superuser("primary");
    auto names = primary.query(kSyncNames);
    ASSERT_TRUE(names.ok());
    ASSERT_EQ(names->text(0, "s"), "ANY 1 (replica_1, replica_2)");

    int port = free_port();
    Child server("ywmsgd", {"--config", Topology::get().env_file().string()},
                 {fmt::format("YW_HTTP_PORT={}", port)});
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();

    auto r = run_built("ywctl",
                       {"drill", "failover", "--yes", "--json", "--kill", "--switch-back", "--api",
                        fmt::format("http://127.0.0.1:{}", port), "--dir", Topology::get().dir().string(),
                        "--config", Topology::get().env_file().string()},
                       {}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << server.log();
    auto doc = json::parse(r.output.substr(r.output.find("{\"ok\""))).as_object();
    EXPECT_TRUE(doc.at("ok").as_bool()) << r.output;
    EXPECT_TRUE(doc.at("synchronous").as_bool());
    EXPECT_EQ(doc.at("old_primary").as_string(), "primary");
    // The standby that received the most WAL (after a SIGKILL under ANY 1 quorum either may be ahead).
    std::string promoted(doc.at("new_primary").as_string());
    ASSERT_TRUE(promoted == "replica-1" || promoted == "replica-2") << promoted;
    EXPECT_EQ(doc.at("final_primary").as_string(), "primary");
    EXPECT_EQ(doc.at("rejoin_method").as_string(), "pg_rewind");
    EXPECT_GT(doc.at("writes_acknowledged").as_int64(), 0);
    EXPECT_EQ(doc.at("writes_lost").as_int64(), 0) << r.output;

    // The timings (src/ops/drill.cpp). Every step ran, one after the other, inside the drill.
    long long steps_ms = 0;
    std::optional<long long> load_ms, prechecks_ms;
    for (const auto& step : doc.at("steps").as_array()) {
        EXPECT_TRUE(step.at("ok").as_bool()) << json::serialize(step);
        long long ms = step.at("ms").as_int64();
        steps_ms += ms;
        if (step.at("step").as_string() == "write load through the API") load_ms = ms;
        if (step.at("step").as_string() == "pre-checks (RB-2)") prechecks_ms = ms;
    }
    ASSERT_TRUE(load_ms && prechecks_ms) << r.output;
    const long long total = doc.at("total_ms").as_int64();
    const long long recover = doc.at("time_to_recover_ms").as_int64();   // primary stopped → first ack
    const long long promote = doc.at("promote_to_write_ms").as_int64();  // promotion done → that ack
    const long long reroute = doc.at("reroute_to_write_ms").as_int64();  // PgBouncer repointed → that ack
    // The load ran for its warm-up (DrillRequest::warmup, 2 s) before the primary was stopped.
    EXPECT_GE(*load_ms, 2000) << r.output;
    // The drill also waits between its steps (settle), so its total is at least their sum.
    EXPECT_GE(total, steps_ms) << r.output;
    // Measured (-1 means not): no write is acknowledged while there is no primary, and the pre-checks ran
    // wholly inside that outage; the outage is part of the drill.
    EXPECT_GE(recover, *prechecks_ms) << r.output;
    EXPECT_GT(recover, 0) << r.output;
    EXPECT_LE(recover, total) << r.output;
    // In order: stopped, promoted, PgBouncer repointed (the last two clamped at 0: a write PgBouncer held
    // paused is acknowledged as it resumes, before the repointing is recorded).
    EXPECT_GE(reroute, 0) << r.output;
    EXPECT_GE(promote, reroute) << r.output;
    EXPECT_GE(recover, promote) << r.output;

    // Back where it started: the original primary leads, both standbys stream, and the synchronous quorum
    // names the standbys it has now.
    auto back = Topology::get().superuser("primary");
    auto rec = back.query(kInRecovery);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->text(0, "r"), "f");
    auto standbys = back.query(kStandbys);
    ASSERT_TRUE(standbys.ok());
    ASSERT_EQ(standbys->size(), 2u);
    EXPECT_EQ(standbys->text(0, "application_name"), "replica_1");
    EXPECT_EQ(standbys->text(1, "application_name"), "replica_2");
    EXPECT_EQ(standbys->text(0, "sync_state"), "quorum");
    auto after = back.query(kSyncNames);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->text(0, "s"), "ANY 1 (replica_1, replica_2)");
    // While it led, the promoted standby listed the remaining standbys by application_name.
    auto led = Topology::get().superuser(promoted).query(kSyncNames);
    ASSERT_TRUE(led.ok());
    EXPECT_EQ(led->text(0, "s"),
              promoted == "replica-1" ? "ANY 1 (primary, replica_2)" : "ANY 1 (primary, replica_1)");
    EXPECT_EQ(server.terminate(), 0) << server.log();
}

}  // namespace
}  // namespace yw::test
