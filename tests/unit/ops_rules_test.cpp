// The pure rules of ywctl's replica and pool runbooks: LSN arithmetic, lag and pool thresholds at their
// boundaries, the RB-1 verdict over hand-made snapshots, the failover candidate, pgbouncer.ini editing.
#include <gtest/gtest.h>

#include "node/control.hpp"
#include "ops/pgbouncer.hpp"
#include "ops/rebuild.hpp"
#include "ops/replication.hpp"

namespace yw::ops {
namespace {

TEST(OpsRules, LsnParsesAndFormats) {
    EXPECT_EQ(parse_lsn("0/0"), 0u);
    EXPECT_EQ(parse_lsn("0/4188210"), 0x4188210u);
    EXPECT_EQ(parse_lsn("1/0"), 1ull << 32);
    EXPECT_EQ(parse_lsn("A/FF"), (0xAull << 32) | 0xFF);
    EXPECT_EQ(format_lsn(*parse_lsn("16/B374D848")), "16/B374D848");
    EXPECT_FALSE(parse_lsn(""));
    EXPECT_FALSE(parse_lsn("12"));
    EXPECT_FALSE(parse_lsn("/1"));
    EXPECT_FALSE(parse_lsn("1/"));
    EXPECT_FALSE(parse_lsn("x/1"));
    EXPECT_FALSE(parse_lsn("1/1z"));
    EXPECT_FALSE(parse_lsn("100000000/0"));
}

TEST(OpsRules, AnIdlePrimaryIsNotLag) {
    // Caught up: zero, whatever PostgreSQL last measured.
    EXPECT_EQ(effective_lag_ms(100, 100, 4000), 0);
    EXPECT_EQ(effective_lag_ms(100, 100, std::nullopt), 0);
    // Behind: the measured lag.
    EXPECT_EQ(effective_lag_ms(200, 100, 1500), 1500);
    // Behind with no measurement: unknown, never a made-up zero.
    EXPECT_EQ(effective_lag_ms(200, 100, std::nullopt), std::nullopt);
    EXPECT_EQ(effective_lag_ms(std::nullopt, 100, 20), 20);
    // PostgreSQL clears the lag of a standby that replayed all it was sent, while the primary may already
    // have written a few bytes more (seen in CI: replay 0/41A2140 = sent, primary 0/41A21C8, lag NULL).
    EXPECT_EQ(effective_lag_ms(200, 100, std::nullopt, 100), 0);
    EXPECT_EQ(effective_lag_ms(200, 100, std::nullopt, 150), std::nullopt);  // sent, not replayed: unknown
    EXPECT_EQ(effective_lag_ms(200, 100, 1500, 100), 1500);                  // a measured lag wins
}

TEST(OpsRules, LagThresholdsOfRb1AndRb23) {
    EXPECT_EQ(lag_level(0), Level::kOk);
    EXPECT_EQ(lag_level(999), Level::kOk);
    EXPECT_EQ(lag_level(1000), Level::kWarning);
    EXPECT_EQ(lag_level(5000), Level::kWarning);
    EXPECT_EQ(lag_level(5001), Level::kCritical);
}

TEST(OpsRules, PoolThresholdsOfRb5AndRb23) {
    EXPECT_EQ(waiting_level(0), Level::kOk);
    EXPECT_EQ(waiting_level(1), Level::kWarning);
    EXPECT_EQ(waiting_level(10), Level::kWarning);
    EXPECT_EQ(waiting_level(11), Level::kCritical);
    EXPECT_EQ(maxwait_level(0.999), Level::kOk);
    EXPECT_EQ(maxwait_level(1), Level::kWarning);
    EXPECT_EQ(maxwait_level(5.5), Level::kCritical);
    // RB-5: 5 free of a 50 pool is the reserve.
    EXPECT_EQ(reserve_of(50), 5);
    EXPECT_EQ(reserve_of(75), 8);
    EXPECT_EQ(reserve_of(3), 1);
    EXPECT_EQ(headroom_level(45, 50), Level::kOk);
    EXPECT_EQ(headroom_level(46, 50), Level::kWarning);
    EXPECT_EQ(headroom_level(55, 50), Level::kWarning);  // the reserve pool is in use
    EXPECT_EQ(headroom_level(0, 0), Level::kUnknown);
}

TEST(OpsRules, NamesFollowTheTopologyConvention) {
    EXPECT_EQ(node::application_name("replica-1"), "replica_1");
    EXPECT_EQ(node::slot_name("replica-2"), "replica_2_slot");
    EXPECT_EQ(node::slot_name("primary"), "primary_slot");
}

NodeProbe primary_at(std::uint64_t lsn) {
    NodeProbe v;
    v.name = "primary";
    v.reachable = true;
    v.current_lsn = lsn;
    return v;
}

NodeProbe replica(const std::string& name, std::uint64_t replayed) {
    NodeProbe v;
    v.name = name;
    v.reachable = true;
    v.in_recovery = true;
    v.receive_lsn = replayed;
    v.replay_lsn = replayed;
    v.receiver_status = "streaming";
    return v;
}

Walsender sender(const std::string& app, std::uint64_t lsn, std::optional<long long> lag) {
    Walsender w;
    w.application_name = app;
    w.state = "streaming";
    w.sync_state = "async";
    w.sent_lsn = w.write_lsn = w.flush_lsn = w.replay_lsn = lsn;
    w.write_lag_ms = w.flush_lag_ms = w.replay_lag_ms = lag;
    return w;
}

const Finding* find(const Report& r, const std::string& name) {
    for (const auto& f : r.findings) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

Level worst_of(const Report& r) {
    Level l = Level::kOk;
    for (const auto& f : r.findings) l = std::max(l, f.level == Level::kUnknown ? Level::kOk : f.level);
    return l;
}

TEST(OpsRules, HealthyReplicationIsOk) {
    ReplicationSnapshot s;
    s.nodes = {primary_at(500), replica("replica-1", 500), replica("replica-2", 500)};
    s.primary = 0;
    s.primary_lsn = 500;
    s.walsenders = {sender("replica_1", 500, 3000), sender("replica_2", 500, std::nullopt)};
    auto r = assess_replication(s);
    EXPECT_EQ(worst_of(r), Level::kOk);
    ASSERT_NE(find(r, "replica-1 replay lag"), nullptr);
    EXPECT_EQ(find(r, "replica-1 replay lag")->value,
              "0 ms");  // caught up: a stale 3 s measurement is not lag
    EXPECT_EQ(find(r, "replicas streaming")->value, "2 of 2");
}

TEST(OpsRules, AnUnreachableReplicaIsCriticalAndTheOtherStillReported) {
    ReplicationSnapshot s;
    NodeProbe down;
    down.name = "replica-2";
    down.error = "timeout expired";
    s.nodes = {primary_at(900), replica("replica-1", 400), down};
    s.primary = 0;
    s.primary_lsn = 900;
    s.walsenders = {sender("replica_1", 400, 1200)};
    auto r = assess_replication(s);
    EXPECT_EQ(find(r, "replica-2 reachable")->level, Level::kCritical);
    EXPECT_EQ(find(r, "replica-2 reachable")->detail, "timeout expired");
    EXPECT_EQ(find(r, "replica-2 state")->level, Level::kCritical);
    EXPECT_EQ(find(r, "replica-1 replay lag")->level, Level::kWarning);
    EXPECT_EQ(find(r, "replica-1 replay lag")->value, "1200 ms");
    EXPECT_EQ(find(r, "replicas streaming")->value, "1 of 2");
}

TEST(OpsRules, NoPrimaryOrTwoPrimariesAreCritical) {
    ReplicationSnapshot none;
    none.nodes = {replica("replica-1", 1), replica("replica-2", 1)};
    auto r = assess_replication(none);
    EXPECT_EQ(find(r, "primary")->level, Level::kCritical);
    ASSERT_FALSE(r.next_steps.empty());
    EXPECT_EQ(r.next_steps.front(), "ywctl emergency db-down");

    ReplicationSnapshot split;
    NodeProbe other = primary_at(10);
    other.name = "replica-1";
    split.nodes = {primary_at(20), other, replica("replica-2", 20)};
    split.primary = 0;
    split.extra_primaries = {1};
    split.primary_lsn = 20;
    split.walsenders = {sender("replica_2", 20, 0)};
    auto r2 = assess_replication(split);
    EXPECT_EQ(find(r2, "replica-1 role")->level, Level::kCritical);
}

TEST(OpsRules, BytesBehindThresholdsAreOneAndEightWalSegments) {
    EXPECT_EQ(behind_level(0), Level::kOk);
    EXPECT_EQ(behind_level((16ull << 20) - 1), Level::kOk);
    EXPECT_EQ(behind_level(16ull << 20), Level::kWarning);
    EXPECT_EQ(behind_level((128ull << 20) - 1), Level::kWarning);
    EXPECT_EQ(behind_level(128ull << 20), Level::kCritical);
    EXPECT_EQ(behind_level(1000, {.behind_warning_bytes = 10, .behind_critical_bytes = 1000}),
              Level::kCritical);
}

// A past defect: the replica has 12.8 MB left to replay while pg_stat_replication, which trails
// what the standby reports, still shows the 35 ms it measured before.
constexpr std::uint64_t kPrimaryAt = 0x30000000;
constexpr std::uint64_t kBehind = 12841888;

ReplicationSnapshot behind_with_a_35ms_lag_column() {
    ReplicationSnapshot s;
    s.nodes = {primary_at(kPrimaryAt), replica("replica-1", kPrimaryAt - kBehind),
               replica("replica-2", kPrimaryAt)};
    s.nodes[1].receive_lsn = kPrimaryAt;  // received it all, replayed none of it
    s.nodes[1].replay_age_ms = 3000;
    s.nodes[2].replay_age_ms = 60000;  // caught up: old, and no lag
    s.primary = 0;
    s.primary_lsn = kPrimaryAt;
    s.walsenders = {sender("replica_1", kPrimaryAt, 35), sender("replica_2", kPrimaryAt, std::nullopt)};
    s.walsenders[0].replay_lsn = kPrimaryAt - kBehind;
    return s;
}

TEST(OpsRules, BytesBehindAndReplayAgeGradeWhatTheLagColumnsStillCallFresh) {
    auto s = behind_with_a_35ms_lag_column();
    EXPECT_EQ(bytes_behind(s, 1), kBehind);
    EXPECT_EQ(bytes_behind(s, 2), 0u);
    EXPECT_EQ(bytes_behind(s, 0), std::nullopt);  // the primary has no walsender of its own

    auto r = assess_replication(s);
    EXPECT_EQ(find(r, "replica-1 replay lag")->level, Level::kOk);  // the 35 ms of the defect
    // 12.2 MiB: less than a WAL segment, so the bytes alone do not alarm by default ...
    ASSERT_NE(find(r, "replica-1 bytes behind"), nullptr);
    EXPECT_EQ(find(r, "replica-1 bytes behind")->level, Level::kOk);
    EXPECT_EQ(find(r, "replica-1 bytes behind")->value, "12841888 bytes (12.2 MiB)");
    EXPECT_NE(find(r, "replica-1 bytes behind")->detail.find("received"), std::string::npos);
    // ... but the last transaction it replayed is 3 s old while WAL waits: lag, whatever the column says.
    ASSERT_NE(find(r, "replica-1 last replay age"), nullptr);
    EXPECT_EQ(find(r, "replica-1 last replay age")->level, Level::kWarning);
    EXPECT_EQ(find(r, "replica-1 last replay age")->value, "3000 ms");
    EXPECT_EQ(worst_of(r), Level::kWarning);
    s.nodes[1].replay_age_ms = 6000;
    EXPECT_EQ(find(assess_replication(s), "replica-1 last replay age")->level, Level::kCritical);
    // A few KB in flight after a quiet spell: an old last commit is not lag.
    auto quiet = behind_with_a_35ms_lag_column();
    quiet.nodes[1].replay_lsn = kPrimaryAt - 8192;
    quiet.walsenders[0].replay_lsn = kPrimaryAt - 8192;
    quiet.nodes[1].replay_age_ms = 3600000;
    EXPECT_EQ(find(assess_replication(quiet), "replica-1 last replay age")->level, Level::kOk);
    // Nothing replayed since the replica started: no age to judge, the bytes judge the backlog.
    s.nodes[1].replay_age_ms = std::nullopt;
    EXPECT_EQ(find(assess_replication(s), "replica-1 last replay age")->level, Level::kOk);
    EXPECT_EQ(find(assess_replication(s), "replica-1 last replay age")->value, "unknown");

    // Thresholds the 12.8 MB crosses: warning, then critical.
    s.nodes[1].replay_age_ms = 10;
    EXPECT_EQ(worst_of(assess_replication(s)), Level::kOk);
    auto warned =
        assess_replication(s, {.behind_warning_bytes = 8ull << 20, .behind_critical_bytes = 64ull << 20});
    EXPECT_EQ(find(warned, "replica-1 bytes behind")->level, Level::kWarning);
    EXPECT_EQ(worst_of(warned), Level::kWarning);
    auto paged =
        assess_replication(s, {.behind_warning_bytes = 4ull << 20, .behind_critical_bytes = 12ull << 20});
    EXPECT_EQ(find(paged, "replica-1 bytes behind")->level, Level::kCritical);
    EXPECT_EQ(worst_of(paged), Level::kCritical);

    // The facts are in the JSON too.
    const auto& nodes = r.data.at("nodes").as_array();
    EXPECT_EQ(nodes[1].at("bytes_behind").as_uint64(), kBehind);
    EXPECT_EQ(nodes[1].at("replay_age_ms").as_int64(), 3000);
    EXPECT_EQ(nodes[1].at("replay_paused").as_bool(), false);
    EXPECT_TRUE(nodes[0].at("bytes_behind").is_null());
}

TEST(OpsRules, APausedReplayIsCriticalAndSaysHowToResume) {
    auto s = behind_with_a_35ms_lag_column();
    s.nodes[1].replay_age_ms = 10;
    s.nodes[1].replay_paused = true;
    auto r = assess_replication(s);
    ASSERT_NE(find(r, "replica-1 replay paused"), nullptr);
    EXPECT_EQ(find(r, "replica-1 replay paused")->level, Level::kCritical);
    EXPECT_EQ(find(r, "replica-1 replay paused")->value, "yes");
    EXPECT_NE(find(r, "replica-1 replay paused")->detail.find("SELECT pg_wal_replay_resume()"),
              std::string::npos);
    EXPECT_EQ(find(r, "replica-2 replay paused")->level, Level::kOk);
    EXPECT_EQ(worst_of(r), Level::kCritical);
    EXPECT_TRUE(r.data.at("nodes").as_array()[1].at("replay_paused").as_bool());
    // Paused but with nothing to replay yet is still critical: the next write will wait.
    s.nodes[1].replay_lsn = s.nodes[1].receive_lsn = kPrimaryAt;
    EXPECT_EQ(find(assess_replication(s), "replica-1 replay paused")->level, Level::kCritical);
}

TEST(OpsRules, ACaughtUpReplicaOfAnIdlePrimaryIsOkHoweverOldItsLastReplay) {
    auto s = behind_with_a_35ms_lag_column();
    s.nodes[1].replay_lsn = kPrimaryAt;
    s.walsenders[0].replay_lsn = kPrimaryAt;
    s.nodes[1].replay_age_ms = 3600000;
    auto r = assess_replication(s);
    EXPECT_EQ(worst_of(r), Level::kOk);
    EXPECT_EQ(find(r, "replica-1 bytes behind")->value, "0 bytes");
    EXPECT_EQ(find(r, "replica-1 last replay age")->level, Level::kOk);
    EXPECT_EQ(find(r, "replica-1 last replay age")->value, "0 ms");
    EXPECT_EQ(find(r, "replica-2 last replay age")->level, Level::kOk);
    // A replica that read its position just after the primary wrote more is caught up, not "ahead".
    s.nodes[1].replay_lsn = kPrimaryAt + 100;
    EXPECT_EQ(bytes_behind(s, 1), 0u);
}

TEST(OpsRules, AnUnreachableReplicaIsJudgedInBytesFromItsWalsender) {
    auto s = behind_with_a_35ms_lag_column();
    s.nodes[1].reachable = false;
    s.walsenders[0].replay_lsn = kPrimaryAt - (200ull << 20);
    s.primary_lsn = kPrimaryAt;
    EXPECT_EQ(bytes_behind(s, 1), 200ull << 20);
    auto r = assess_replication(s);
    EXPECT_EQ(find(r, "replica-1 bytes behind")->level, Level::kCritical);
    EXPECT_EQ(find(r, "replica-1 replay paused"), nullptr);  // only the replica can say
}

TEST(OpsRules, TheFailoverCandidateHasReplayedTheMost) {
    ReplicationSnapshot s;
    NodeProbe down;
    down.name = "primary";
    s.nodes = {down, replica("replica-1", 100), replica("replica-2", 300)};
    EXPECT_EQ(best_failover_candidate(s), 2u);
    s.nodes[2].replay_lsn = 100;  // replayed alike: the one that received more wins
    EXPECT_EQ(best_failover_candidate(s), 2u);
    s.nodes[2].receive_lsn = 100;  // a full tie goes to the first in configuration order
    EXPECT_EQ(best_failover_candidate(s), 1u);
    s.nodes[1].reachable = false;
    EXPECT_EQ(best_failover_candidate(s), 2u);
    s.nodes[2].reachable = false;
    EXPECT_EQ(best_failover_candidate(s), std::nullopt);
}

TEST(OpsRules, IniEditingKeepsEverythingElse) {
    std::string ini =
        "; comment\n[databases]\nywmessaging = host=127.0.0.1 port=5432\n\n[pgbouncer]\nlisten_port = 6432\n"
        "default_pool_size = 50\n; default_pool_size = 10 (old)\nreserve_pool_size = 5\n";
    EXPECT_EQ(ini_value(ini, "pgbouncer", "default_pool_size"), "50");
    EXPECT_EQ(ini_value(ini, "PgBouncer", "DEFAULT_POOL_SIZE"), "50");
    EXPECT_EQ(ini_value(ini, "databases", "default_pool_size"), std::nullopt);
    std::string out = set_ini_value(ini, "pgbouncer", "default_pool_size", "75");
    EXPECT_EQ(ini_value(out, "pgbouncer", "default_pool_size"), "75");
    EXPECT_NE(out.find("; default_pool_size = 10 (old)"), std::string::npos);
    EXPECT_NE(out.find("ywmessaging = host=127.0.0.1 port=5432"), std::string::npos);
    EXPECT_EQ(ini_value(out, "pgbouncer", "reserve_pool_size"), "5");
    // Missing key: added inside its section, not after another one.
    std::string two = "[pgbouncer]\nlisten_port = 1\n\n[users]\nx = y\n";
    std::string added = set_ini_value(two, "pgbouncer", "default_pool_size", "60");
    EXPECT_EQ(ini_value(added, "pgbouncer", "default_pool_size"), "60");
    EXPECT_EQ(ini_value(added, "users", "default_pool_size"), std::nullopt);
    // Missing section: appended.
    EXPECT_EQ(
        ini_value(set_ini_value("", "pgbouncer", "default_pool_size", "5"), "pgbouncer", "default_pool_size"),
        "5");
}

TEST(OpsRules, DsnDescriptionsNeverShowThePassword) {
    std::string d = describe_dsn("postgresql://postgres:s3cret@db.internal:6543/ywmessaging");
    EXPECT_EQ(d.find("s3cret"), std::string::npos);
    EXPECT_NE(d.find("host=db.internal"), std::string::npos);
    EXPECT_EQ(dsn_port("postgresql://postgres@db.internal:6543/ywmessaging"), 6543);
    EXPECT_EQ(dsn_port("host=db.internal user=postgres"), 5432);
    EXPECT_EQ(dsn_port("host='unterminated"), std::nullopt);
}

}  // namespace
}  // namespace yw::ops
