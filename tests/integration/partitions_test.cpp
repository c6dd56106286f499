// The partition lifecycle against the real topology: the maintainer database function (UTC boundaries
// whatever the session's time zone, one worker at a time), ywmsgd instances premaking the months ahead by
// themselves (three at once, in different time zones), and a failed run that is recorded, counted, retried
// and shown.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <map>
#include <memory>
#include <thread>

#include "common/files.hpp"
#include "pg/row.hpp"
#include "support/api_client.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;

constexpr pg::Query kBound{"test.partition_bound",
                           "SELECT pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i"
                           " JOIN pg_class c ON c.oid = i.inhrelid"
                           " WHERE i.inhparent = 'conversation_message'::regclass AND c.relname = $1"};
constexpr pg::Query kMaintain{
    "test.maintain",
    "SELECT ran, created::text[] AS created, months_ahead_now"
    " FROM maintain_conversation_message_partitions($1, $2::integer, $3::timestamptz)"};
constexpr pg::Query kMonthsAhead{"test.months_ahead", "SELECT conversation_message_months_ahead(now()) AS n"};
constexpr pg::Query kRunsSince{"test.runs_since",
                               "SELECT instance, created::text[] AS created, coalesce(error, '') AS error"
                               " FROM partition_maintenance_run WHERE id > $1::bigint ORDER BY id"};
constexpr pg::Query kLastRunId{"test.last_run_id",
                               "SELECT coalesce(max(id), 0) AS id FROM partition_maintenance_run"};

// conversation_message_YYYY_MM of the month `offset` months after the current one (UTC).
std::string month_name(int offset) {
    auto t = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&t, &utc);
    int month = utc.tm_year * 12 + utc.tm_mon + offset;
    return fmt::format("conversation_message_{:04d}_{:02d}", month / 12 + 1900, month % 12 + 1);
}

void exec(pg::SyncConnection& c, const std::string& sql) {
    auto r = c.simple_query("test.sql", sql);
    ASSERT_TRUE(r.ok()) << sql << ": " << r.error().message;
}

std::string bound_of(pg::SyncConnection& c, const std::string& name) {
    auto r = c.query(kBound, {name});
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() && r->size() == 1 ? r->text(0, "bound") : "";
}

int months_ahead(pg::SyncConnection& c) {
    auto r = c.query(kMonthsAhead);
    EXPECT_TRUE(r.ok() && r->size() == 1);
    return r.ok() && r->size() == 1 ? std::stoi(r->text(0, "n")) : -100;
}

long long last_run_id(pg::SyncConnection& c) {
    auto r = c.query(kLastRunId);
    EXPECT_TRUE(r.ok());
    return r.ok() ? std::stoll(r->text(0, "id")) : 0;
}

// Drops the months after `keep` ahead (empty, future months): the state of a cluster nobody maintained.
void drop_months_after(pg::SyncConnection& c, int keep, int up_to) {
    for (int i = keep + 1; i <= up_to; ++i) exec(c, "DROP TABLE IF EXISTS " + month_name(i));
}

std::vector<std::string> server_env(int port, const std::vector<std::string>& extra) {
    std::vector<std::string> env = {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                                    fmt::format("YW_HTTP_PORT={}", port), "YW_LOG_FORMAT=json"};
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

TEST(Partitions, MonthBoundariesAreUtcWhateverTheSessionTimeZone) {
    auto su = Topology::get().superuser("primary");
    // Far from today's months, so the real window is untouched.
    for (const char* m : {"2031_01", "2031_02", "2031_03", "2031_04"})
        exec(su, fmt::format("DROP TABLE IF EXISTS conversation_message_{}", m));

    // 23:30 on 31 January in Los Angeles is already 1 February in UTC: February is "this month".
    exec(su, "SET TimeZone = 'America/Los_Angeles'");
    auto r = su.query(kMaintain, {"test-la", "2", "2031-01-31 23:30:00-08"});
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(r->text(0, "ran"), "t");
    EXPECT_EQ(pg::parse_text_array(r->text(0, "created")),
              (std::vector<std::string>{"conversation_message_2031_02", "conversation_message_2031_03",
                                        "conversation_message_2031_04"}));
    EXPECT_EQ(r->text(0, "months_ahead_now"), "2");

    // Noon of 31 January UTC is 1 February in Kiritimati (UTC+14): still January for the partitions.
    exec(su, "SET TimeZone = 'Pacific/Kiritimati'");
    r = su.query(kMaintain, {"test-kiritimati", "1", "2031-01-31 12:00:00+00"});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(pg::parse_text_array(r->text(0, "created")),
              (std::vector<std::string>{"conversation_message_2031_01"}));
    EXPECT_EQ(r->text(0, "months_ahead_now"), "3");  // February … April exist

    exec(su, "SET TimeZone = 'UTC'");
    EXPECT_EQ(bound_of(su, "conversation_message_2031_01"),
              "FOR VALUES FROM ('2031-01-01 00:00:00+00') TO ('2031-02-01 00:00:00+00')");
    EXPECT_EQ(bound_of(su, "conversation_message_2031_02"),
              "FOR VALUES FROM ('2031-02-01 00:00:00+00') TO ('2031-03-01 00:00:00+00')");
    for (const char* m : {"2031_01", "2031_02", "2031_03", "2031_04"})
        exec(su, fmt::format("DROP TABLE conversation_message_{}", m));
}

TEST(Partitions, OneCallerAtATimeDoesTheWork) {
    auto su = Topology::get().superuser("primary");
    auto other = Topology::get().superuser("primary");
    for (const char* m : {"2032_01", "2032_02"})
        exec(su, fmt::format("DROP TABLE IF EXISTS conversation_message_{}", m));
    // The first caller's transaction holds the maintainer's lock until it commits.
    exec(su, "BEGIN");
    auto first = su.query(kMaintain, {"test-first", "1", "2032-01-15 00:00:00+00"});
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->text(0, "ran"), "t");
    auto second = other.query(kMaintain, {"test-second", "1", "2032-01-15 00:00:00+00"});
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_EQ(second->text(0, "ran"), "f");  // after waiting two seconds for its turn
    EXPECT_EQ(second->text(0, "created"), "{}");
    exec(su, "COMMIT");
    auto third = other.query(kMaintain, {"test-third", "1", "2032-01-15 00:00:00+00"});
    ASSERT_TRUE(third.ok());
    EXPECT_EQ(third->text(0, "ran"), "t");
    EXPECT_EQ(third->text(0, "created"), "{}");  // nothing left to do
    for (const char* m : {"2032_01", "2032_02"})
        exec(su, fmt::format("DROP TABLE conversation_message_{}", m));
    // Bad arguments are refused by the function, not half-applied.
    auto bad = other.query(kMaintain, {"test-bad", "-1", "2032-01-15 00:00:00+00"});
    EXPECT_FALSE(bad.ok());
}

// Nobody ran `ywctl partitions ensure` and next month is missing: three ywmsgd instances, started together in
// three time zones, bring the months ahead back, each month created by exactly one of them.
TEST(Partitions, ThreeInstancesPremakeTheMonthsAheadEachMonthOnce) {
    auto su = Topology::get().superuser("primary");
    drop_months_after(su, 0, 6);
    ASSERT_EQ(months_ahead(su), 0);
    const long long before = last_run_id(su);

    const std::vector<std::string> zones = {"Pacific/Kiritimati", "America/Los_Angeles", "UTC"};
    std::vector<int> ports;
    std::vector<std::unique_ptr<Child>> servers;
    for (const auto& zone : zones) {
        int port = free_port();
        ports.push_back(port);
        servers.push_back(
            std::make_unique<Child>("ywmsgd", std::vector<std::string>{},
                                    server_env(port, {"TZ=" + zone, "PGTZ=" + zone, "YW_PARTITIONS_AHEAD=3",
                                                      "YW_PARTITION_MAINTENANCE_INTERVAL_S=3600"})));
    }
    for (size_t i = 0; i < ports.size(); ++i) ASSERT_TRUE(wait_for_port(ports[i], 20s)) << servers[i]->log();

    // Every instance ran once at start: one did the work, the others waited for their turn and found nothing
    // left to do, so that all of them report the months as they are after the work.
    ApiClient first(ports[0], admin_token_of(Topology::get()));
    ASSERT_TRUE(wait_until(20s, [&] { return first.metric("yw_partition_months_ahead").value_or(-9) == 3; }))
        << servers[0]->log();
    for (int port : ports) {
        ApiClient api(port, admin_token_of(Topology::get()));
        ASSERT_TRUE(wait_until(20s, [&] {
            return api.metric("yw_partition_maintenance_runs_total{result=\"ok\"}").value_or(0) >= 1;
        }));
        EXPECT_EQ(api.metric("yw_partition_maintenance_runs_total{result=\"skipped\"}").value_or(-1), 0);
        EXPECT_EQ(api.metric("yw_partition_maintenance_runs_total{result=\"error\"}").value_or(-1), 0);
        EXPECT_EQ(api.metric("yw_partition_months_ahead").value_or(-9), 3);
        auto last = api.metric("yw_partition_maintenance_last_success_timestamp_seconds");
        ASSERT_TRUE(last.has_value());
        EXPECT_NEAR(*last, static_cast<double>(std::time(nullptr)), 60);
        // The router's first probe round can pass its 500 ms deadline while three instances start at once
        // on two cores (under ASan, CI saw it): the next round must find everything healthy.
        boost::json::object health;
        EXPECT_TRUE(wait_until(20s, [&] {
            health = boost::json::parse(http_request(port, "GET", "/health").body).as_object();
            return health.at("status") == "healthy";
        })) << boost::json::serialize(health);
        EXPECT_EQ(health.at("checks").at("partitions").at("months_ahead"), 3)
            << boost::json::serialize(health);
    }

    auto runs = su.query(kRunsSince, {std::to_string(before)});
    ASSERT_TRUE(runs.ok()) << runs.error().message;
    std::map<std::string, int> created;
    for (size_t i = 0; i < runs->size(); ++i) {
        EXPECT_EQ(runs->text(i, "error"), "");
        for (const auto& name : pg::parse_text_array(runs->text(i, "created"))) ++created[name];
    }
    std::map<std::string, int> expected = {{month_name(1), 1}, {month_name(2), 1}, {month_name(3), 1}};
    EXPECT_EQ(created, expected);
    exec(su, "SET TimeZone = 'UTC'");
    auto t = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&t, &utc);
    int next = utc.tm_year * 12 + utc.tm_mon + 1;
    EXPECT_EQ(
        bound_of(su, month_name(1)),
        fmt::format("FOR VALUES FROM ('{:04d}-{:02d}-01 00:00:00+00') TO ('{:04d}-{:02d}-01 00:00:00+00')",
                    next / 12 + 1900, next % 12 + 1, (next + 1) / 12 + 1900, (next + 1) % 12 + 1));
    for (auto& s : servers) EXPECT_EQ(s->terminate(), 0) << s->log();
    drop_months_after(su, 2, 3);  // back to the production window
}

// A run that cannot take conversation_message's lock (a long statement holds it) fails within lock_timeout,
// is recorded with its error, counted and shown in /health; the next run, once the lock is free, succeeds.
TEST(Partitions, AFailedRunIsRecordedShownAndRetried) {
    auto su = Topology::get().superuser("primary");
    auto blocker = Topology::get().superuser("primary");
    drop_months_after(su, 1, 2);
    ASSERT_EQ(months_ahead(su), 1);
    const long long before = last_run_id(su);
    exec(blocker, "BEGIN");
    exec(blocker, "LOCK TABLE conversation_message IN ACCESS EXCLUSIVE MODE");

    int port = free_port();
    Child server("ywmsgd", {},
                 server_env(port, {"YW_PARTITIONS_AHEAD=2", "YW_PARTITION_MAINTENANCE_INTERVAL_S=2"}));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ApiClient api(port, admin_token_of(Topology::get()));
    ASSERT_TRUE(wait_until(20s, [&] {
        return api.metric("yw_partition_maintenance_runs_total{result=\"error\"}").value_or(0) >= 1;
    })) << server.log();
    auto health = boost::json::parse(http_request(port, "GET", "/health").body).as_object();
    const auto& parts = health.at("checks").at("partitions").as_object();
    EXPECT_NE(std::string(parts.at("maintainer_last_error").as_string()).find("lock timeout"),
              std::string::npos)
        << boost::json::serialize(health);
    EXPECT_EQ(parts.at("months_ahead"), 1) << boost::json::serialize(health);
    EXPECT_NE(server.log().find("partition maintenance failed"), std::string::npos) << server.log();

    exec(blocker, "ROLLBACK");
    ASSERT_TRUE(wait_until(20s, [&] { return api.metric("yw_partition_months_ahead").value_or(-9) == 2; }))
        << server.log();
    health = boost::json::parse(http_request(port, "GET", "/health").body).as_object();
    EXPECT_FALSE(health.at("checks").at("partitions").as_object().contains("maintainer_last_error"))
        << boost::json::serialize(health);
    EXPECT_EQ(server.terminate(), 0) << server.log();

    auto runs = su.query(kRunsSince, {std::to_string(before)});
    ASSERT_TRUE(runs.ok()) << runs.error().message;
    bool failed = false, created = false;
    for (size_t i = 0; i < runs->size(); ++i) {
        failed |= runs->text(i, "error").find("lock timeout") != std::string::npos;
        created |= pg::parse_text_array(runs->text(i, "created")) == std::vector<std::string>{month_name(2)};
    }
    EXPECT_TRUE(failed) << "the failed run is in partition_maintenance_run";
    EXPECT_TRUE(created);
}

// RB-17 as a command against the real catalog: every month listed with its bounds, size and rows; the
// production window healthy once the maintainer ran; next month missing → critical, exit 2, with the fix.
TEST(Partitions, HealthListsEveryMonthAndTurnsCriticalWhenNextMonthIsMissing) {
    auto su = Topology::get().superuser("primary");
    const std::string env = Topology::get().env_file().string();
    auto ran = su.query(kMaintain, {"test-health", "2", "now"});
    ASSERT_TRUE(ran.ok()) << ran.error().message;

    auto healthy = run_built("ywctl", {"--config", env, "--json", "partitions", "health"});
    EXPECT_EQ(healthy.exit_code, 0) << healthy.output;
    auto doc = boost::json::parse(healthy.output).as_object();
    const auto& data = doc.at("data").as_object();
    EXPECT_EQ(data.at("months_ahead"), 2);
    EXPECT_TRUE(data.at("missing").as_array().empty()) << healthy.output;
    const auto& parts = data.at("partitions").as_array();
    EXPECT_GE(parts.size(), 27u);
    bool saw_next = false;
    for (const auto& p : parts) {
        const auto& o = p.as_object();
        EXPECT_GT(o.at("bytes").as_int64(), 0);
        EXPECT_GE(o.at("rows").as_int64(), 0);
        EXPECT_NE(std::string(o.at("bound").as_string()).find("FOR VALUES FROM"), std::string::npos);
        saw_next |= o.at("name").as_string() == month_name(1);
    }
    EXPECT_TRUE(saw_next);
    EXPECT_LT(data.at("maintainer").at("last_success_s_ago").as_int64(), 60);

    drop_months_after(su, 0, 2);
    auto missing = run_built("ywctl", {"--config", env, "partitions", "health"});
    EXPECT_EQ(missing.exit_code, 2) << missing.output;
    EXPECT_NE(missing.output.find("next month has no partition"), std::string::npos) << missing.output;
    EXPECT_NE(missing.output.find("ywctl partitions ensure --ahead 2"), std::string::npos) << missing.output;
    auto fixed = run_built("ywctl", {"--config", env, "partitions", "ensure", "--ahead", "2"});
    EXPECT_EQ(fixed.exit_code, 0) << fixed.output;
    EXPECT_EQ(run_built("ywctl", {"--config", env, "partitions", "health"}).exit_code, 0);
}

}  // namespace
}  // namespace yw::test
