// The status page's pure parts: the 15-minute ring and its rates, each node's lag from a topology snapshot,
// the graded rows, and the page itself (self-contained, its CSP naming its own script and style).
#include "health/status.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "health/history.hpp"

namespace yw::health {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

Sample at(long long unix_s, std::optional<long long> replica_lag) {
    Sample s;
    s.at = std::chrono::system_clock::time_point(std::chrono::seconds(unix_s));
    s.lag_ms = {std::nullopt, replica_lag};
    return s;
}

TEST(StatusHistory, KeepsFifteenMinutesWhateverTheInterval) {
    EXPECT_EQ(History({"primary"}, 10s).capacity(), 90u);
    EXPECT_EQ(History({"primary"}, 1s).capacity(), 900u);
    EXPECT_EQ(History({"primary"}, 20min).capacity(), 1u);
    History h({"primary", "replica-1"}, 10s);
    for (int i = 0; i < 100; ++i) h.add(at(1000 + i * 10, i));
    EXPECT_EQ(h.size(), 90u);
    auto doc = h.to_json();
    const auto& t = doc.at("t").as_array();
    ASSERT_EQ(t.size(), 90u);
    EXPECT_EQ(t.front().as_int64(), (1000 + 10 * 10) * 1000);  // the ten oldest are gone
    EXPECT_EQ(t.back().as_int64(), (1000 + 99 * 10) * 1000);
    EXPECT_EQ(doc.at("interval_s").as_double(), 10.0);
    EXPECT_EQ(doc.at("capacity").to_number<std::int64_t>(), 90);
    const auto& lag = doc.at("lag_ms").as_object();
    EXPECT_TRUE(lag.at("primary").as_array().front().is_null());
    EXPECT_EQ(lag.at("replica-1").as_array().back().as_int64(), 99);
    for (const char* column : {"p95_ms", "cache_hit_rate", "limited_per_s", "requests_per_s"})
        EXPECT_EQ(doc.at(column).as_array().size(), 90u) << column;
}

TEST(StatusHistory, AShortSampleGetsANullForEveryNode) {
    History h({"primary", "replica-1", "replica-2"}, 10s);
    Sample s;
    s.lag_ms = {std::nullopt};  // fewer nodes than the history (no topology monitor)
    h.add(s);
    auto doc = h.to_json();
    EXPECT_TRUE(doc.at("lag_ms").at("replica-2").as_array().at(0).is_null());
    EXPECT_TRUE(doc.at("p95_ms").as_array().at(0).is_null());
    EXPECT_TRUE(doc.at("cache_hit_rate").as_array().at(0).is_null());
}

TEST(StatusHistory, RatesOverTheInterval) {
    Sample s;
    fill_rates(s, {.requests = 100, .limited = 10, .cache_hits = 50, .cache_lookups = 60},
               {.requests = 300, .limited = 50, .cache_hits = 140, .cache_lookups = 160}, 10.0);
    EXPECT_DOUBLE_EQ(s.requests_per_s, 20.0);
    EXPECT_DOUBLE_EQ(s.limited_per_s, 4.0);
    ASSERT_TRUE(s.cache_hit_rate);
    EXPECT_DOUBLE_EQ(*s.cache_hit_rate, 0.9);
    // No cached read in the interval: no hit rate (not 0 %, which would look like an outage).
    Sample idle;
    fill_rates(idle, {.cache_hits = 5, .cache_lookups = 5}, {.cache_hits = 5, .cache_lookups = 5}, 10.0);
    EXPECT_FALSE(idle.cache_hit_rate);
    EXPECT_EQ(idle.requests_per_s, 0);
    // Counters that went back count as no activity, never as a negative or huge rate.
    Sample reset;
    fill_rates(reset, {.requests = 1000, .limited = 10, .cache_hits = 9, .cache_lookups = 10},
               {.requests = 5, .limited = 0, .cache_hits = 1, .cache_lookups = 1}, 10.0);
    EXPECT_EQ(reset.requests_per_s, 0);
    EXPECT_EQ(reset.limited_per_s, 0);
    EXPECT_FALSE(reset.cache_hit_rate);
    Sample none;
    fill_rates(none, {}, {.requests = 10}, 0);
    EXPECT_EQ(none.requests_per_s, 0);
}

TEST(StatusHistory, LagOnlyForReplicasThatAnswer) {
    pg::Snapshot snap;
    snap.nodes = {
        pg::NodeState{.name = "primary", .role = pg::Role::kPrimary, .healthy = true, .lag_ms = 0},
        pg::NodeState{.name = "replica-1", .role = pg::Role::kReplica, .healthy = true, .lag_ms = 42},
        pg::NodeState{.name = "replica-2", .role = pg::Role::kReplica, .healthy = false, .lag_ms = 7}};
    auto lags = lags_of(snap, {"primary", "replica-1", "replica-2", "replica-9"});
    ASSERT_EQ(lags.size(), 4u);
    EXPECT_FALSE(lags[0]);
    EXPECT_EQ(lags[1], 42);
    EXPECT_FALSE(lags[2]);  // down: no lag, not its last one
    EXPECT_FALSE(lags[3]);
}

Reading reading() {
    Reading r;
    r.primary = NodeReading{.name = "primary", .connected = true, .latency_ms = 1.5};
    r.replicas = {NodeReading{.name = "replica-1", .connected = true, .lag_ms = 12},
                  NodeReading{.name = "replica-2", .connected = true, .lag_ms = 0, .replay_paused = true}};
    r.redis = {.configured = true, .ok = false, .error = "timed out"};
    r.pgbouncer = {.configured = true, .ok = true, .active_connections = 3, .waiting_clients = 11};
    r.queries = {.available = true, .summary = {.p95_ms = 900, .slow_percent = 50, .total = 3}};
    r.dba = {.ok = true,
             .xid_database = "ywmessaging",
             .xid_age = 1000,
             .slots = {{"replica_1_slot", false, 100}}};
    r.partitions = {.available = true, .months_ahead = 0, .last_success_s_ago = 60};
    return r;
}

const json::object* row(const json::array& rows, std::string_view service, std::string_view field) {
    for (const auto& r : rows)
        if (r.at("service").as_string() == service && r.at("field").as_string() == field)
            return &r.as_object();
    return nullptr;
}

TEST(StatusFields, EveryFieldGradedWithItsRule) {
    auto rows = graded_fields(reading());
    for (const auto& r : rows) {
        ASSERT_TRUE(r.is_object());
        for (const char* key : {"service", "field", "value", "grade", "threshold"})
            EXPECT_TRUE(r.as_object().contains(key)) << key << " in " << json::serialize(r);
    }
    auto* primary = row(rows, "database", "primary.connected");
    ASSERT_TRUE(primary);
    EXPECT_EQ(primary->at("grade"), "healthy");
    EXPECT_EQ(row(rows, "database", "primary.latency")->at("grade"), "info");
    auto* r1 = row(rows, "database", "replicas[replica-1].lag");
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->at("value"), "12 ms");
    EXPECT_EQ(r1->at("grade"), "healthy");
    EXPECT_NE(r1->at("threshold").as_string().find("1000"), json::string::npos);
    auto* r2 = row(rows, "database", "replicas[replica-2].lag");
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->at("grade"), "degraded");
    EXPECT_NE(r2->at("value").as_string().find("replay paused"), json::string::npos);
    auto* redis = row(rows, "redis", "status");
    ASSERT_TRUE(redis);
    EXPECT_EQ(redis->at("grade"), "unhealthy");
    EXPECT_NE(redis->at("value").as_string().find("timed out"), json::string::npos);
    EXPECT_EQ(row(rows, "pgbouncer", "waiting_clients")->at("grade"), "unhealthy");
    // Three statements are no evidence: shown, not graded.
    EXPECT_EQ(row(rows, "queries", "p95_latency")->at("grade"), "info");
    EXPECT_EQ(row(rows, "replication_slots", "replica_1_slot")->at("grade"), "degraded");
    EXPECT_EQ(row(rows, "partitions", "months_ahead")->at("grade"), "degraded");
    EXPECT_EQ(row(rows, "partitions", "maintainer_last_success")->at("grade"), "healthy");
}

TEST(StatusFields, NoPrimaryIsUnhealthyAndSaysWhy) {
    auto r = reading();
    r.primary.reset();
    auto rows = graded_fields(r);
    auto* primary = row(rows, "database", "primary.connected");
    ASSERT_TRUE(primary);
    EXPECT_EQ(primary->at("grade"), "unhealthy");
    EXPECT_NE(primary->at("value").as_string().find("no node answers"), json::string::npos);
}

TEST(StatusPage, SelfContainedWithItsOwnScriptAndStyleInTheCsp) {
    auto page = status_page();
    EXPECT_TRUE(page.starts_with("<!doctype html>"));
    EXPECT_LT(page.size(), 16u * 1024) << "a few KB";
    // One script and one style, inline: the CSP names exactly them.
    for (std::string_view tag : {"<script", "<style"}) {
        auto first = page.find(tag);
        ASSERT_NE(first, std::string_view::npos) << tag;
        EXPECT_EQ(page.find(tag, first + 1), std::string_view::npos) << tag;
    }
    // Nothing fetched from anywhere else.
    for (std::string_view external : {"src=", "<link", "@import", "//cdn", "url("})
        EXPECT_EQ(page.find(external), std::string_view::npos) << external;
    const auto& csp = status_page_csp();
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    // Their hashes (a page whose script does not match them runs nothing: the browser test).
    EXPECT_NE(csp.find("script-src 'sha256-"), std::string::npos) << csp;
    EXPECT_NE(csp.find("style-src 'sha256-"), std::string::npos) << csp;
    // The token is never put in a URL: the page sends it as a header only.
    EXPECT_EQ(page.find("?token"), std::string_view::npos);
    EXPECT_NE(page.find("Authorization"), std::string_view::npos);
    EXPECT_EQ(page.find("localStorage"), std::string_view::npos);
}

}  // namespace
}  // namespace yw::health
