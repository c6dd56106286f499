// Redis killed under load: requests keep succeeding, the per-instance local limiter (limit ÷ YW_INSTANCES)
// takes over and /metrics counts it, the closed fallback answers 503, and Redis coming back is picked up.
// Its own binary: it stops the topology's Redis.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "common/config.hpp"
#include "common/process.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

double metric(int port, const std::string& name) { return metric_value(port, name); }

TEST(RateLimitFailover, RedisDownMeansLocalLimitsThenBackToShared) {
    auto env = read_env_file(Topology::get().env_file().string());
    ASSERT_TRUE(env.ok());
    std::string token = env->at("YW_ADMIN_TOKEN");
    int port = free_port(), closed_port = free_port();
    std::vector<std::string> common{"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                                    "YW_LOG_LEVEL=warn", "YW_INSTANCES=2"};
    auto with = [&](std::vector<std::string> extra) {
        extra.insert(extra.end(), common.begin(), common.end());
        return extra;
    };
    Child server("ywmsgd", {}, with({fmt::format("YW_HTTP_PORT={}", port)}));
    Child closed("ywmsgd", {},
                 with({fmt::format("YW_HTTP_PORT={}", closed_port), "YW_RATE_LIMIT_FALLBACK=closed"}));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_TRUE(wait_for_port(closed_port, 20s)) << closed.log();
    std::map<std::string, std::string> auth{{"Authorization", "Bearer " + token}};
    auto make_key = [&](const std::string& tier) {
        auto t = http_request(port, "POST", "/admin/tenants", R"({"name":"failover church"})", auth);
        EXPECT_EQ(t.status, 201) << t.body;
        std::string id(json::parse(t.body).at("id").as_string());
        auto k = http_request(port, "POST", "/admin/tenants/" + id + "/api-keys",
                              fmt::format(R"({{"tier":"{}"}})", tier), auth);
        EXPECT_EQ(k.status, 201) << k.body;
        return std::string(json::parse(k.body).at("api_key").as_string());
    };
    std::string busy = make_key("enterprise");
    std::string small = make_key("free");  // 10/min, burst 2; alone on one of 2 instances: 5/min, burst 1
    auto get = [](int p, const std::string& key) {
        return http_request(p, "GET", "/v1/users", {}, {{"X-API-Key", key}});
    };
    for (int i = 0; i < 20; ++i) {
        auto r = get(port, busy);
        ASSERT_EQ(r.status, 200) << r.body << server.log();
    }
    // Decided by the shared script, one request at a time or in leases of several.
    double redis_allowed = metric(port, R"(yw_ratelimit_decisions_total{source="redis",result="allowed"})");
    ASSERT_GE(redis_allowed, 1);
    ASSERT_GE(
        redis_allowed + metric(port, R"(yw_ratelimit_decisions_total{source="lease",result="allowed"})"), 20);
    ASSERT_EQ(metric(port, "yw_redis_connected"), 1);

    const std::string lease_allowed = R"(yw_ratelimit_decisions_total{source="lease",result="allowed"})";
    double leased_before = metric(port, lease_allowed);
    auto redis_port = std::to_string(Topology::get().ports().redis);
    auto shutdown = run_process({"redis-cli", "-p", redis_port, "shutdown", "nosave"});
    ASSERT_TRUE(shutdown.ok());

    // Requests keep succeeding, with the key's global policy in the headers.
    for (int i = 0; i < 50; ++i) {
        auto r = get(port, busy);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.headers["x-ratelimit-limit"], "10000");
    }
    // Room leased before Redis went away is spent first (it was granted); the local limiter decides the rest.
    EXPECT_EQ(metric(port, R"(yw_ratelimit_decisions_total{source="local",result="allowed"})") +
                  metric(port, lease_allowed) - leased_before,
              50);
    EXPECT_GE(metric(port, R"(yw_ratelimit_decisions_total{source="local",result="allowed"})"), 1)
        << "the local limiter never took over";
    EXPECT_EQ(metric(port, "yw_redis_connected"), 0);
    // The local share of the free tier: burst 2 ÷ 2 = 1, so two at once, then 429 decided locally.
    EXPECT_EQ(get(port, small).status, 200);
    EXPECT_EQ(get(port, small).status, 200);
    auto refused = get(port, small);
    EXPECT_EQ(refused.status, 429) << refused.body;
    EXPECT_GE(metric(port, R"(yw_ratelimit_decisions_total{source="local",result="denied"})"), 1);
    // The closed fallback refuses instead.
    auto r503 = get(closed_port, busy);
    EXPECT_EQ(r503.status, 503) << r503.body;
    EXPECT_FALSE(r503.headers["retry-after"].empty());
    EXPECT_GE(metric(closed_port, R"(yw_ratelimit_decisions_total{source="fail_closed",result="denied"})"),
              1);

    // Redis comes back (the topology starts what is not running): the instances reconnect by themselves.
    ASSERT_TRUE(Topology::get().local().up().ok());
    bool back = false;
    for (int i = 0; i < 100 && !back; ++i) {
        back = metric(port, "yw_redis_connected") == 1;
        if (!back) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(back) << server.log();
    EXPECT_GE(metric(port, "yw_redis_reconnects_total"), 1);
    double before = metric(port, R"(yw_ratelimit_decisions_total{source="redis",result="allowed"})");
    EXPECT_EQ(get(port, busy).status, 200);
    EXPECT_EQ(metric(port, R"(yw_ratelimit_decisions_total{source="redis",result="allowed"})"), before + 1);
    for (int i = 0; i < 100 && get(closed_port, busy).status != 200; ++i) std::this_thread::sleep_for(100ms);
    EXPECT_EQ(get(closed_port, busy).status, 200);
    EXPECT_EQ(server.terminate(), 0) << server.log();
    EXPECT_EQ(closed.terminate(), 0) << closed.log();
}

}  // namespace
}  // namespace yw::test
