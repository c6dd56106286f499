// The routing decision (src/pg/route.hpp): which node a read or a write goes to, from one snapshot.
#include "pg/route.hpp"

#include <gtest/gtest.h>

#include <set>

namespace yw::pg {
namespace {

using Why = Route::Why;

// primary + two fresh replicas, after a probe round, PgBouncer leading to the primary.
Snapshot healthy() {
    Snapshot s;
    s.nodes = {{"primary", Role::kPrimary, true, false, 0, 1000},
               {"replica1", Role::kReplica, true, true, 0, 1000},
               {"replica2", Role::kReplica, true, true, 0, 1000}};
    s.primary = 0;
    s.pgbouncer_configured = true;
    s.pgbouncer_ok = true;
    s.round = 1;
    return s;
}

TEST(RouteWrite, GoesThroughPgBouncerWhileItLeadsToThePrimary) {
    auto r = route_write(healthy());
    EXPECT_EQ(r.why, Why::kEntry);
    EXPECT_EQ(r.node, -1);
    EXPECT_FALSE(r.refused());
}

TEST(RouteWrite, GoesStraightToThePrimaryUntilTheTopologyHasProbedAPgBouncerThatFailed) {
    auto s = healthy();
    s.round = 7;
    // A statement saw PgBouncer fail during round 7: the snapshot's "ok" predates that.
    auto r = route_write(s, 9);
    EXPECT_EQ(r.why, Why::kPrimaryDirect);
    EXPECT_EQ(r.node, 0);
    s.round = 9;  // probed since: its word counts again
    EXPECT_EQ(route_write(s, 9).why, Why::kEntry);
}

TEST(RouteRead, AReadAfterWritesGoesToThePrimarysNodeOrWithoutOneToTheFreshestReplica) {
    auto s = healthy();
    auto r = route_read(s, kNewestLsn, -1, 0);
    EXPECT_EQ(r.why, Why::kPrimaryAsked);
    EXPECT_EQ(r.node, 0);        // the node itself, never PgBouncer's queue
    s.nodes[0].healthy = false;  // the primary died
    s.nodes[2].lsn = 1200;
    r = route_read(s, kNewestLsn, -1, 0);
    EXPECT_EQ(r.why, Why::kDegraded);
    EXPECT_EQ(r.node, 2);
    // It failed on the primary before the probes noticed: asked again, without the primary.
    s.nodes[0].healthy = true;
    EXPECT_EQ(route_read(s, kNewestLsn, 0, 0).node, 2);
}

TEST(RouteWrite, BypassesPgBouncerThatDoesNotLeadToThePrimary) {
    auto s = healthy();
    s.pgbouncer_ok = false;
    s.primary = 2;  // promoted; PgBouncer still points at the old primary
    s.nodes[2].role = Role::kPrimary;
    s.nodes[0].role = Role::kUnknown;
    s.nodes[0].healthy = false;
    auto r = route_write(s);
    EXPECT_EQ(r.why, Why::kPrimaryDirect);
    EXPECT_EQ(r.node, 2);
}

TEST(RouteWrite, WithoutPgBouncerUsesThePrimarysNode) {
    auto s = healthy();
    s.pgbouncer_configured = false;
    auto r = route_write(s);
    EXPECT_EQ(r.why, Why::kEntry);
    EXPECT_EQ(r.node, 0);
}

TEST(RouteWrite, RefusesWithoutAPrimaryOrWhenItIsDown) {
    auto s = healthy();
    s.primary = -1;
    EXPECT_EQ(route_write(s).why, Why::kNoPrimary);
    EXPECT_TRUE(route_write(s).refused());
    s = healthy();
    s.nodes[0].healthy = false;
    EXPECT_EQ(route_write(s).why, Why::kPrimaryDown);
    s.round = 0;  // before the first probe round: the configuration's guess is tried
    EXPECT_EQ(route_write(s).why, Why::kEntry);
}

TEST(RouteRead, SpreadsOverFreshReplicasRoundRobin) {
    auto s = healthy();
    std::multiset<int> picked;
    for (unsigned turn = 0; turn < 10; ++turn) {
        auto r = route_read(s, 0, -1, turn);
        ASSERT_EQ(r.why, Why::kReplica);
        picked.insert(r.node);
    }
    EXPECT_EQ(picked.count(1), 5u);
    EXPECT_EQ(picked.count(2), 5u);
    EXPECT_EQ(picked.count(0), 0u);
}

TEST(RouteRead, ReadYourWritesSkipsReplicasBehindTheScopesLastWrite) {
    auto s = healthy();
    s.nodes[1].lsn = 900;
    for (unsigned turn = 0; turn < 4; ++turn) EXPECT_EQ(route_read(s, 1000, -1, turn).node, 2);
    s.nodes[2].lsn = 950;
    auto r = route_read(s, 1000, -1, 0);
    EXPECT_EQ(r.why, Why::kPrimaryForTenant);
    EXPECT_EQ(r.node, 0);
    EXPECT_EQ(route_read(s, 950, -1, 0).why, Why::kReplica);  // exactly at the write: fresh enough
}

TEST(RouteRead, UnreadableReplicasSendReadsToThePrimary) {
    auto s = healthy();
    s.nodes[1].readable = false;  // lagging or paused
    s.nodes[2].readable = false;
    auto r = route_read(s, 0, -1, 0);
    EXPECT_EQ(r.why, Why::kPrimaryNoReplica);
    EXPECT_EQ(r.node, 0);
}

TEST(RouteRead, ARetrySkipsTheNodeThatFailed) {
    auto s = healthy();
    for (unsigned turn = 0; turn < 4; ++turn) EXPECT_EQ(route_read(s, 0, 1, turn).node, 2);
    s.nodes[1].readable = false;
    EXPECT_EQ(route_read(s, 0, 2, 0).node, 0);  // the primary, not the failed replica
}

TEST(RouteRead, WithoutAPrimaryTheFreshestAnsweringReplicaServes) {
    auto s = healthy();
    s.primary = -1;
    s.nodes[0].healthy = false;
    s.nodes[1].readable = false;  // too far behind by time…
    s.nodes[2].readable = false;
    s.nodes[1].lsn = 1200;  // …but the freshest by position
    s.nodes[2].lsn = 1100;
    auto r = route_read(s, 0, -1, 0);
    EXPECT_EQ(r.why, Why::kDegraded);
    EXPECT_EQ(r.node, 1);
    EXPECT_EQ(route_read(s, 0, 1, 0).node, 2);
    s.nodes[2].healthy = false;
    EXPECT_EQ(route_read(s, 0, 1, 0).why, Why::kNoNode);
    EXPECT_TRUE(route_read(s, 0, 1, 0).refused());
}

TEST(RouteRead, ADownPrimaryIsNotAFallback) {
    auto s = healthy();
    s.nodes[0].healthy = false;
    s.nodes[1].readable = false;
    s.nodes[2].readable = false;
    auto r = route_read(s, 0, -1, 0);
    EXPECT_EQ(r.why, Why::kDegraded);  // replicas still answer, just behind
    EXPECT_NE(r.node, 0);
}

}  // namespace
}  // namespace yw::pg
