// GET /health/detailed's rules at every boundary of RB-23's table (and of ours), and the document's shape.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "health/detailed.hpp"
#include "redis/info.hpp"

namespace yw::health {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

NodeReading replica(std::optional<long long> lag, bool connected = true) {
    return NodeReading{.name = "replica-1", .connected = connected, .lag_ms = lag};
}

Reading healthy_reading() {
    Reading r;
    r.taken = std::chrono::system_clock::time_point(std::chrono::seconds(1733157000));
    r.primary = NodeReading{.name = "primary", .connected = true, .latency_ms = 1.5};
    r.replicas = {replica(0), NodeReading{.name = "replica-2", .connected = true, .lag_ms = 12}};
    r.redis = {.configured = true, .ok = true, .used_memory = 45 * kMiB, .keys = 12345, .evicted_keys = 0};
    r.pgbouncer = {.configured = true, .ok = true, .active_connections = 3, .waiting_clients = 0};
    r.queries = {.available = true, .summary = {.p95_ms = 2.5, .slow_percent = 0, .total = 1000}};
    r.dba = {.ok = true,
             .xid_database = "ywmessaging",
             .xid_age = 1000,
             .slots = {{"replica_1_slot", true, 100}, {"replica_2_slot", true, 200}}};
    return r;
}

TEST(HealthDetailedRules, ReplicaLagBoundaries) {
    EXPECT_EQ(grade_replica(replica(0)), Verdict::kHealthy);
    EXPECT_EQ(grade_replica(replica(999)), Verdict::kHealthy);
    EXPECT_EQ(grade_replica(replica(1000)), Verdict::kDegraded);
    EXPECT_EQ(grade_replica(replica(5000)), Verdict::kDegraded);
    EXPECT_EQ(grade_replica(replica(5001)), Verdict::kUnhealthy);
    // Down or unmeasurable: its reads move to the primary.
    EXPECT_EQ(grade_replica(replica(std::nullopt, false)), Verdict::kDegraded);
    EXPECT_EQ(grade_replica(replica(std::nullopt)), Verdict::kDegraded);
    auto paused = replica(0);
    paused.replay_paused = true;
    EXPECT_EQ(grade_replica(paused), Verdict::kDegraded);
    auto fenced = replica(0);
    fenced.fenced = true;
    EXPECT_EQ(grade_replica(fenced), Verdict::kDegraded);
}

TEST(HealthDetailedRules, DatabaseIsTheWorstOfPrimaryAndReplicas) {
    auto r = healthy_reading();
    EXPECT_EQ(grade_database(r), Verdict::kHealthy);
    r.replicas[1].connected = false;
    EXPECT_EQ(grade_database(r), Verdict::kDegraded);
    r.replicas[0].lag_ms = 6000;
    EXPECT_EQ(grade_database(r), Verdict::kUnhealthy);
    r = healthy_reading();
    r.primary->connected = false;
    EXPECT_EQ(grade_database(r), Verdict::kUnhealthy);
    r.primary.reset();
    EXPECT_EQ(grade_database(r), Verdict::kUnhealthy);
}

TEST(HealthDetailedRules, RedisMemoryAndEvictionBoundaries) {
    EXPECT_EQ(grade_redis_memory(0), Verdict::kHealthy);
    EXPECT_EQ(grade_redis_memory(100 * kMiB - 1), Verdict::kHealthy);
    EXPECT_EQ(grade_redis_memory(100 * kMiB), Verdict::kDegraded);
    EXPECT_EQ(grade_redis_memory(500 * kMiB), Verdict::kDegraded);
    EXPECT_EQ(grade_redis_memory(500 * kMiB + 1), Verdict::kUnhealthy);
    EXPECT_EQ(grade_evictions(0), Verdict::kHealthy);
    EXPECT_EQ(grade_evictions(1), Verdict::kDegraded);
    EXPECT_EQ(grade_evictions(10000), Verdict::kDegraded);
    EXPECT_EQ(grade_evictions(10001), Verdict::kUnhealthy);
    RedisReading r{.configured = true, .ok = false};
    EXPECT_EQ(grade_redis(r), Verdict::kUnhealthy);
    r.configured = false;
    EXPECT_EQ(grade_redis(r), Verdict::kHealthy);
}

TEST(HealthDetailedRules, WaitingClientBoundaries) {
    PoolerReading b{.configured = true, .ok = true};
    for (auto [waiting, want] : {std::pair{0LL, Verdict::kHealthy}, std::pair{1LL, Verdict::kDegraded},
                                 std::pair{10LL, Verdict::kDegraded}, std::pair{11LL, Verdict::kUnhealthy}}) {
        b.waiting_clients = waiting;
        EXPECT_EQ(grade_pgbouncer(b), want) << waiting;
    }
    b.ok = false;
    EXPECT_EQ(grade_pgbouncer(b), Verdict::kUnhealthy);
}

TEST(HealthDetailedRules, QueriesAreGradedFromTwentyStatements) {
    QueriesReading q{.available = true, .summary = {.p95_ms = 700, .slow_percent = 100, .total = 19}};
    EXPECT_EQ(grade_queries(q), Verdict::kHealthy);  // a fresh instance: the maintainer's DDL alone
    q.summary.total = 20;
    EXPECT_EQ(grade_queries(q), Verdict::kUnhealthy);
    q.summary = {.p95_ms = 300, .slow_percent = 0, .total = 20};
    EXPECT_EQ(grade_queries(q), Verdict::kDegraded);
}

TEST(HealthDetailedRules, DbaBoundaries) {
    EXPECT_EQ(grade_xid_age(199'999'999), Verdict::kHealthy);
    EXPECT_EQ(grade_xid_age(200'000'000), Verdict::kDegraded);
    EXPECT_EQ(grade_xid_age(1'000'000'000), Verdict::kDegraded);
    EXPECT_EQ(grade_xid_age(1'000'000'001), Verdict::kUnhealthy);
    EXPECT_EQ(grade_transaction(299.9), Verdict::kHealthy);
    EXPECT_EQ(grade_transaction(300), Verdict::kDegraded);
    EXPECT_EQ(grade_transaction(1800.1), Verdict::kUnhealthy);
    EXPECT_EQ(grade_idle_in_transaction(59.9), Verdict::kHealthy);
    EXPECT_EQ(grade_idle_in_transaction(60), Verdict::kDegraded);
    EXPECT_EQ(grade_idle_in_transaction(300.1), Verdict::kUnhealthy);
    constexpr long long kGiB = 1024LL * 1024 * 1024;
    EXPECT_EQ(grade_slot({"s", true, kGiB - 1}), Verdict::kHealthy);
    EXPECT_EQ(grade_slot({"s", true, kGiB}), Verdict::kDegraded);
    EXPECT_EQ(grade_slot({"s", true, 10 * kGiB + 1}), Verdict::kUnhealthy);
    EXPECT_EQ(grade_slot({"s", false, 0}), Verdict::kDegraded);
    EXPECT_EQ(grade_slot({"s", false, std::nullopt}), Verdict::kDegraded);
}

TEST(HealthDetailedRules, FailingArchivingIsDegradedAndOffIsNotGraded) {
    DbaReading d;
    d.ok = true;
    d.archive_mode = "on";
    EXPECT_EQ(grade_archiving(d), Verdict::kHealthy);
    d.archive_failing = true;
    EXPECT_EQ(grade_archiving(d), Verdict::kDegraded);  // never a 503: the instances must stay in rotation
    d.archive_mode = "off";
    EXPECT_FALSE(grade_archiving(d).has_value());
    auto r = healthy_reading();
    r.dba.archive_mode = "on";
    r.dba.archive_failing = true;
    EXPECT_EQ(overall(r), Verdict::kDegraded);
}

TEST(HealthDetailedRules, PartitionBoundaries) {
    PartitionsReading p{.available = true, .months_ahead = 2};
    EXPECT_EQ(grade_partitions(p), Verdict::kHealthy);
    p.months_ahead = 1;
    EXPECT_EQ(grade_partitions(p), Verdict::kHealthy);
    p.months_ahead = 0;
    EXPECT_EQ(grade_partitions(p), Verdict::kDegraded);
    p.months_ahead = -1;
    EXPECT_EQ(grade_partitions(p), Verdict::kUnhealthy);
    p.months_ahead = 2;
    p.stale = true;
    EXPECT_EQ(grade_partitions(p), Verdict::kDegraded);
}

TEST(HealthDetailedRules, SingleRoundLag) {
    // Caught up, or less than 1 MiB in flight: no lag however old the last commit.
    EXPECT_EQ(single_round_lag_ms(100, 100, 3'600'000), 0);
    EXPECT_EQ(single_round_lag_ms(100 + kMiB - 1, 100, 3'600'000), 0);
    EXPECT_EQ(single_round_lag_ms(100 + kMiB, 100, 7000), 7000);
    EXPECT_EQ(single_round_lag_ms(100 + kMiB, 100, std::nullopt), std::nullopt);
    EXPECT_EQ(single_round_lag_ms(std::nullopt, 100, 10), std::nullopt);
}

TEST(HealthDetailedRules, OverallIsTheWorstAndUnknownDoesNotCount) {
    auto r = healthy_reading();
    EXPECT_EQ(overall(r), Verdict::kHealthy);
    r.queries.available = false;  // ywctl's own round: no query monitor
    r.dba.ok = false;
    EXPECT_EQ(overall(r), Verdict::kHealthy);
    r.pgbouncer.waiting_clients = 3;
    EXPECT_EQ(overall(r), Verdict::kDegraded);
    r.redis.ok = false;
    EXPECT_EQ(overall(r), Verdict::kUnhealthy);
}

TEST(HealthDetailedReport, HasRb23sShapeExactly) {
    auto doc = detailed_report(healthy_reading());
    EXPECT_EQ(doc.at("status"), "healthy");
    EXPECT_EQ(doc.at("timestamp"), "2024-12-02T16:30:00.000Z");
    const auto& s = doc.at("services").as_object();
    const auto& db = s.at("database").as_object();
    EXPECT_EQ(db.size(), 3u);
    EXPECT_EQ(db.at("status"), "healthy");
    EXPECT_EQ(db.at("primary").as_object(), (boost::json::object{{"connected", true}, {"latency", 1.5}}));
    EXPECT_EQ(db.at("replicas").as_array().at(1).as_object(),
              (boost::json::object{{"name", "replica-2"}, {"connected", true}, {"lag", 12}}));
    EXPECT_EQ(s.at("redis").as_object(),
              (boost::json::object{
                  {"status", "healthy"}, {"memory", "45MB"}, {"keyspace", "12345 keys"}, {"evictions", 0}}));
    EXPECT_EQ(
        s.at("pgbouncer").as_object(),
        (boost::json::object{{"status", "healthy"}, {"active_connections", 3}, {"waiting_clients", 0}}));
    EXPECT_EQ(
        s.at("queries").as_object(),
        (boost::json::object{{"status", "healthy"}, {"p95_latency", 2.5}, {"slow_query_percentage", 0.0}}));
    EXPECT_EQ(s.at("replication_slots").at("status"), "healthy");
    EXPECT_EQ(s.at("transaction_ids").at("xid_age"), 1000);
    EXPECT_EQ(s.at("sessions").at("status"), "healthy");
    EXPECT_FALSE(s.contains("partitions"));  // no maintainer in this process
    EXPECT_EQ(summary_report(healthy_reading()),
              (boost::json::object{{"status", "healthy"}, {"timestamp", "2024-12-02T16:30:00.000Z"}}));
}

TEST(HealthDetailedReport, FailuresSayWhyAndKeepTheFields) {
    auto r = healthy_reading();
    r.redis = {.configured = true, .ok = false, .error = "Redis command timed out"};
    auto doc = detailed_report(r);
    EXPECT_EQ(doc.at("status"), "unhealthy");
    const auto& redis = doc.at("services").at("redis").as_object();
    EXPECT_EQ(redis.at("status"), "unhealthy");
    EXPECT_TRUE(redis.at("memory").is_null());
    EXPECT_TRUE(redis.at("evictions").is_null());
    EXPECT_EQ(redis.at("error"), "Redis command timed out");
}

TEST(RedisInfo, KeyspaceAndNumbers) {
    auto info = redis::parse_info(
        "# Memory\r\nused_memory:47185920\r\n# Stats\r\nevicted_keys:7\r\n# Keyspace\r\n"
        "db0:keys=12000,expires=10,avg_ttl=0\r\ndb3:keys=345,expires=0,avg_ttl=0\r\n");
    EXPECT_EQ(redis::info_u64(info, "used_memory"), 47185920u);
    EXPECT_EQ(redis::info_u64(info, "evicted_keys"), 7u);
    EXPECT_EQ(redis::info_u64(info, "missing"), std::nullopt);
    EXPECT_EQ(redis::keyspace_keys(info), 12345u);
    EXPECT_EQ(memory_text(47185920), "45MB");
    EXPECT_EQ(keyspace_text(12345), "12345 keys");
}

}  // namespace
}  // namespace yw::health
