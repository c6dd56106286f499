// The pure rules of failover: RB-2's pre-checks over probed nodes, the synchronous quorum a new primary gets,
// PgBouncer's [databases] rewrite, the drill's --api parsing.
#include "ops/failover.hpp"

#include <gtest/gtest.h>

#include "cluster/local_topology.hpp"
#include "node/control.hpp"
#include "ops/http_client.hpp"
#include "ops/pgbouncer_ini.hpp"

namespace yw::ops {
namespace {

NodeProbe down(const std::string& name) {
    NodeProbe p;
    p.name = name;
    p.error = "connection refused";
    return p;
}

NodeProbe node(const std::string& name, bool standby, long long received, long long replayed = -1) {
    NodeProbe p;
    p.name = name;
    p.reachable = true;
    p.in_recovery = standby;
    if (standby) {
        p.receive_lsn = received;
        p.replay_lsn = replayed < 0 ? received : replayed;
    } else {
        p.current_lsn = received;
    }
    return p;
}

const Precheck& check(const FailoverDecision& d, const std::string& name) {
    for (const auto& c : d.checks)
        if (c.name == name) return c;
    throw std::runtime_error("no check " + name);
}

TEST(FailoverDecision, PromotesTheStandbyWithTheMostWalWhenNoneIsNamed) {
    auto d = decide_failover({down("primary"), node("replica-1", true, 100), node("replica-2", true, 200)},
                             "", false);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->allowed) << d->refusal;
    EXPECT_EQ(d->target, "replica-2");
    EXPECT_EQ(d->standbys, (std::vector<std::string>{"primary", "replica-1"}));
}

TEST(FailoverDecision, ATieGoesToTheFirstStandbyInConfigOrder) {
    auto d = decide_failover({down("primary"), node("replica-1", true, 100), node("replica-2", true, 100)},
                             "", false);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->target, "replica-1");
    EXPECT_TRUE(d->allowed);
}

TEST(FailoverDecision, AnUnknownNameIsAUsageErrorListingTheNodes) {
    auto d = decide_failover({down("primary"), node("replica-1", true, 1)}, "replica-9", false);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(d.error().message.find("primary, replica-1"), std::string::npos);
}

TEST(FailoverDecision, AReachablePrimaryBlocksUnlessForced) {
    std::vector<NodeProbe> probes{node("primary", false, 300), node("replica-1", true, 300),
                                  node("replica-2", true, 300)};
    auto d = decide_failover(probes, "replica-1", false);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->allowed);
    EXPECT_FALSE(check(*d, "primary unreachable").ok);
    EXPECT_NE(d->refusal.find("primary still answers"), std::string::npos);
    auto forced = decide_failover(probes, "replica-1", true);
    ASSERT_TRUE(forced.ok());
    EXPECT_TRUE(forced->allowed);
}

TEST(FailoverDecision, ATargetThatIsDownIsRefusedEvenWithForce) {
    auto d =
        decide_failover({down("primary"), node("replica-1", true, 1), down("replica-2")}, "replica-2", true);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->allowed);
    EXPECT_NE(d->refusal.find("replica-2 is down"), std::string::npos) << d->refusal;
}

TEST(FailoverDecision, APrimaryIsNotATarget) {
    auto d = decide_failover({node("primary", false, 1), node("replica-1", true, 1)}, "primary", true);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->allowed);
    EXPECT_NE(d->refusal.find("already a primary"), std::string::npos);
}

TEST(FailoverDecision, NoStandbyAtAllIsRefused) {
    auto d = decide_failover({down("primary"), down("replica-1"), down("replica-2")}, "", true);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->allowed);
}

TEST(FailoverDecision, ATargetBehindAnotherStandbyWouldLoseCommitsAndIsRefused) {
    std::vector<NodeProbe> probes{down("primary"), node("replica-1", true, 100),
                                  node("replica-2", true, 150)};
    auto d = decide_failover(probes, "replica-1", false);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->allowed);
    EXPECT_FALSE(check(*d, "target has the most WAL").ok);
    EXPECT_NE(d->refusal.find("fail over to replica-2"), std::string::npos) << d->refusal;
    EXPECT_TRUE(decide_failover(probes, "replica-1", true)->allowed);
}

TEST(FailoverDecision, ReplayFarBehindReceiveIsRefusedUnlessForced) {
    std::vector<NodeProbe> probes{down("primary"), node("replica-1", true, kMaxReplayBacklogBytes + 10, 5)};
    EXPECT_FALSE(decide_failover(probes, "replica-1", false)->allowed);
    EXPECT_TRUE(decide_failover(probes, "replica-1", true)->allowed);
    probes[1].replay_lsn = *probes[1].receive_lsn - 100;
    EXPECT_TRUE(decide_failover(probes, "replica-1", false)->allowed);
}

TEST(FailoverDecision, SynchronousWhenAnyNodeCarriesAQuorum) {
    auto standby = node("replica-1", true, 1);
    EXPECT_FALSE(decide_failover({down("primary"), standby}, "", false)->sync);
    standby.sync_names = "ANY 1 (primary, replica_2)";
    EXPECT_TRUE(decide_failover({down("primary"), standby}, "", false)->sync);
}

TEST(SyncStandbyNames, ListsTheOtherNodesByApplicationName) {
    EXPECT_EQ(sync_standby_names({"primary", "replica-2"}), "ANY 1 (primary, replica_2)");
    EXPECT_EQ(node::application_name("replica-1"), "replica_1");
}

TEST(PgBouncerIni, RepointsOnlyEntriesThatPointAtAnOldNodeAndKeepsTheRest) {
    std::string ini =
        "; comment\n"
        "[databases]\n"
        "ywmessaging = host=127.0.0.1 port=15432 dbname=ywmessaging pool_size=20\n"
        "; ywmessaging = host=127.0.0.1 port=15432\n"
        "other = host=10.0.0.9 port=5432 dbname=other\n"
        "\n[pgbouncer]\n"
        "listen_port = 16432\n"
        "host = 127.0.0.1 port=15432\n";
    auto r = ops::repoint_databases(ini, {{"127.0.0.1", 15432}, {"127.0.0.1", 15434}}, {"127.0.0.1", 15433});
    EXPECT_EQ(r.databases, std::vector<std::string>{"ywmessaging"});
    EXPECT_EQ(r.text,
              "; comment\n"
              "[databases]\n"
              "ywmessaging = host=127.0.0.1 port=15433 dbname=ywmessaging pool_size=20\n"
              "; ywmessaging = host=127.0.0.1 port=15432\n"
              "other = host=10.0.0.9 port=5432 dbname=other\n"
              "\n[pgbouncer]\n"
              "listen_port = 16432\n"
              "host = 127.0.0.1 port=15432\n");
    // Already pointing at the target: nothing to do.
    EXPECT_TRUE(
        ops::repoint_databases(r.text, {{"127.0.0.1", 15432}}, {"127.0.0.1", 15433}).databases.empty());
}

TEST(PgBouncerIni, APortIsTheWholeValueOrNone) {
    // Found by tests/fuzz: stoi read "15432x" as 15432, and any garbage as some number.
    EXPECT_EQ(ops::entry_endpoint("host=db1 port=15432x").port, -1);
    EXPECT_EQ(ops::entry_endpoint("host=db1 port=-5").port, -1);
    EXPECT_EQ(ops::entry_endpoint("host=db1 port=70000").port, -1);
    EXPECT_EQ(ops::entry_endpoint("host=db1 port=6432").port, 6432);
    auto r =
        ops::repoint_databases("[databases]\napp = host=db1 port=15432x\n", {{"db1", 15432}}, {"db2", 15433});
    EXPECT_TRUE(r.databases.empty());
}

TEST(PgBouncerIni, AMissingPortIsPgBouncersDefault) {
    EXPECT_EQ(ops::entry_endpoint("host=db1 dbname=x"), (ops::Endpoint{"db1", 5432}));
    auto r = ops::repoint_databases("[databases]\napp = host=db1 dbname=x\n", {{"db1", 5432}}, {"db2", 6543});
    EXPECT_EQ(r.text, "[databases]\napp = host=db2 port=6543 dbname=x\n");
}

TEST(DrillApi, OnlyAPlainHttpBaseUrlIsAccepted) {
    auto t = parse_http_base("http://127.0.0.1:8080");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->host, "127.0.0.1");
    EXPECT_EQ(t->port, 8080);
    EXPECT_EQ(parse_http_base("http://api.local")->port, 80);
    EXPECT_FALSE(parse_http_base("https://127.0.0.1:8080").ok());
    EXPECT_FALSE(parse_http_base("127.0.0.1:8080").ok());
    EXPECT_FALSE(parse_http_base("http://127.0.0.1:8080/v1").ok());
}

}  // namespace
}  // namespace yw::ops
