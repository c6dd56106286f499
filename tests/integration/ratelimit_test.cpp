// Rate limiting end to end: two ywmsgd instances sharing the topology's Redis. The limit is global, 429s
// carry the headers and body, the admin endpoints answer with the runbook shapes, a tier change made in SQL
// takes effect, whitelisted addresses are exempt, and every ywctl ratelimit command does its job.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>

#include "common/config.hpp"
#include "pg/queries.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr pg::Query kSetTier{"test.set_tier", "UPDATE api_keys SET tier = $2 WHERE prefix = $1"};
constexpr pg::Query kKeyFlags{"test.key_flags",
                              "SELECT tier, burst_size, blocked, block_reason, whitelist_ips::text AS ips"
                              " FROM api_keys WHERE prefix = $1"};

class RateLimit : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        auto env = read_env_file(Topology::get().env_file().string());
        ASSERT_TRUE(env.ok());
        admin_token_ = env->at("YW_ADMIN_TOKEN");
        for (int i = 0; i < 2; ++i) {
            ports_[i] = free_port();
            servers_[i] =
                new Child("ywmsgd", {},
                          {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                           fmt::format("YW_HTTP_PORT={}", ports_[i]), "YW_LOG_LEVEL=warn", "YW_INSTANCES=2"});
        }
        for (int i = 0; i < 2; ++i) ASSERT_TRUE(wait_for_port(ports_[i], 20s)) << servers_[i]->log();
    }
    static void TearDownTestSuite() {
        for (auto*& s : servers_) {
            if (s) {
                EXPECT_EQ(s->terminate(), 0) << s->log();
            }
            delete s;
            s = nullptr;
        }
    }

    static HttpResponse admin(int instance, const std::string& method, const std::string& target,
                              const std::string& body = {}) {
        return http_request(ports_[instance], method, target, body,
                            {{"Authorization", "Bearer " + admin_token_}});
    }
    static HttpResponse as(int instance, const std::string& key, const std::string& target = "/v1/users") {
        return http_request(ports_[instance], "GET", target, {}, {{"X-API-Key", key}});
    }
    static json::object parse(const std::string& body) {
        json::error_code ec;
        auto v = json::parse(body, ec);
        return !ec && v.is_object() ? v.as_object() : json::object{};
    }

    struct Key {
        std::string secret;
        std::string prefix;
    };
    // A fresh tenant with one key of `tier`, optionally with a burst_size.
    static Key make_key(const std::string& tier, std::optional<int> burst = std::nullopt) {
        auto t = admin(0, "POST", "/admin/tenants", R"({"name":"rate limited church"})");
        EXPECT_EQ(t.status, 201) << t.body;
        std::string id(parse(t.body).at("id").as_string());
        auto k =
            admin(0, "POST", "/admin/tenants/" + id + "/api-keys", fmt::format(R"({{"tier":"{}"}})", tier));
        EXPECT_EQ(k.status, 201) << k.body;
        auto o = parse(k.body);
        Key key{std::string(o.at("api_key").as_string()), std::string(o.at("prefix").as_string())};
        if (burst) {
            auto p = admin(0, "PATCH", "/admin/api-keys/" + key.prefix,
                           fmt::format(R"({{"burst_size":{}}})", *burst));
            EXPECT_EQ(p.status, 200) << p.body;
        }
        return key;
    }

    static RunResult ywctl(std::vector<std::string> args) {
        return run_built("ywctl", args, {"YW_CONFIG_FILE=" + Topology::get().env_file().string()});
    }

    static inline int ports_[2] = {0, 0};
    static inline Child* servers_[2] = {nullptr, nullptr};
    static inline std::string admin_token_;
};

TEST_F(RateLimit, TheLimitIsGlobalAcrossInstances) {
    // free: 10 per minute, one every 6 s; burst 4 → 5 at once. Requests alternate between the instances.
    Key key = make_key("free", 4);
    auto started = std::chrono::steady_clock::now();
    int admitted = 0, refused = 0;
    for (int i = 0; i < 20; ++i) {
        auto r = as(i % 2, key.secret);
        if (r.status == 200) ++admitted;
        if (r.status == 429) ++refused;
    }
    EXPECT_EQ(admitted + refused, 20);
    // Within one emission interval (6 s) GCRA admits exactly burst + 1 in total, whichever instance is asked;
    // over a whole minute that is limit + burst (the unit tests walk a full window).
    if (std::chrono::steady_clock::now() - started < 6s) {
        EXPECT_EQ(admitted, 5);
    } else {
        EXPECT_GE(admitted, 5);  // a very slow machine: more intervals have passed
        EXPECT_LE(admitted, 5 + 4);
    }
    // Every 429 counts, also those an instance answered from its memory of the over-limit key (reported to
    // Redis with the next epoch poll, within a second).
    json::object s;
    for (int i = 0; i < 30; ++i) {
        auto status = admin(1, "GET", "/admin/rate-limit/status/" + key.prefix);
        ASSERT_EQ(status.status, 200) << status.body;
        s = parse(status.body);
        if (s.at("blocksSinceReset").as_int64() == refused) break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(s.at("requestsUsed").as_int64(), admitted);
    EXPECT_EQ(s.at("blocksSinceReset").as_int64(), refused);
}

TEST_F(RateLimit, BusyKeysAreServedFromLeasesAndStillHeldToTheGlobalLimit) {
    // professional: 1000 per minute, one every 60 ms; burst 300 → 301 at once. 8 clients, half on each
    // instance, send 600 requests as fast as they can: the instances take room in leases (at most a
    // sixteenth of what is left, one at a time near the limit) and together admit no more than GCRA does.
    Key key = make_key("professional", 300);
    auto lease_allowed = [](int i) {
        return std::max(
            0.0, metric_value(ports_[i], R"(yw_ratelimit_decisions_total{source="lease",result="allowed"})"));
    };
    double leased_before = lease_allowed(0) + lease_allowed(1);
    std::atomic<int> admitted{0}, refused{0}, other{0};
    auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
        clients.emplace_back([&, c] {
            for (int i = 0; i < 75; ++i) {
                int status = as(c % 2, key.secret).status;
                (status == 200 ? admitted : status == 429 ? refused : other) += 1;
            }
        });
    }
    for (auto& t : clients) t.join();
    auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(other.load(), 0);
    // GCRA's bound over the run: the burst + 1 at once, plus one per 60 ms that passed.
    int bound = 301 + static_cast<int>(elapsed / 60ms) + 1;
    EXPECT_GE(admitted.load(), 301);
    EXPECT_LE(admitted.load(), bound) << "ran for " << std::chrono::duration<double>(elapsed).count() << " s";
    EXPECT_GE(refused.load(), 1);
    EXPECT_GT(lease_allowed(0) + lease_allowed(1) - leased_before, 0) << "no request was served from a lease";
    // The usage counters count what was granted: the admitted requests, plus any room still leased.
    auto status = admin(0, "GET", "/admin/rate-limit/status/" + key.prefix);
    ASSERT_EQ(status.status, 200) << status.body;
    auto used = parse(status.body).at("requestsUsed").as_int64();
    EXPECT_GE(used, admitted.load());
    EXPECT_LE(used, admitted.load() + 2 * 32);
}

TEST_F(RateLimit, TooManyRequestsCarriesHeadersAndBody) {
    Key key = make_key("free", 0);
    auto ok = as(0, key.secret);
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(ok.headers["x-ratelimit-limit"], "10");
    EXPECT_EQ(ok.headers["x-ratelimit-remaining"], "0");
    EXPECT_EQ(ok.headers["x-ratelimit-burst"], "0");
    EXPECT_FALSE(ok.headers["x-ratelimit-reset"].empty());
    EXPECT_EQ(ok.headers["ratelimit-policy"], "\"free\";q=10;w=60");
    EXPECT_EQ(ok.headers["ratelimit"].rfind("\"free\";r=0;t=", 0), 0u) << ok.headers["ratelimit"];

    for (int instance : {1, 1, 0}) {  // from Redis, then from the local memory of an over-limit key
        auto r = as(instance, key.secret);
        ASSERT_EQ(r.status, 429) << r.body;
        int retry = std::stoi(r.headers["retry-after"]);
        EXPECT_GE(retry, 1);
        EXPECT_LE(retry, 6);
        EXPECT_EQ(r.headers["x-ratelimit-limit"], "10");
        EXPECT_EQ(r.headers["x-ratelimit-remaining"], "0");
        auto body = parse(r.body);
        EXPECT_EQ(body.at("error").as_string(), "Too Many Requests");
        EXPECT_FALSE(body.at("message").as_string().empty());
        EXPECT_GT(body.at("retryAfter").as_int64(), 0);
        EXPECT_LE(body.at("retryAfter").as_int64(), 6000);
    }
    auto metrics = http_request(ports_[1], "GET", "/metrics");
    EXPECT_NE(metrics.body.find("yw_ratelimit_decisions_total{source=\"remembered\",result=\"denied\"} "),
              std::string::npos);
}

TEST_F(RateLimit, StatusAndResetHaveTheRunbookShapes) {
    Key key = make_key("standard");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(as(i % 2, key.secret).status, 200);
    for (const std::string& ref : {key.prefix, key.secret}) {  // the display prefix or the full key
        auto r = admin(0, "GET", "/admin/rate-limit/status/" + ref);
        ASSERT_EQ(r.status, 200) << r.body;
        auto s = parse(r.body);
        for (const char* field : {"apiKey", "requestsUsed", "requestLimit", "percentUsed", "windowResetAt",
                                  "hourlyAverage", "blocksSinceReset"}) {
            EXPECT_TRUE(s.contains(field)) << field << " in " << r.body;
        }
        EXPECT_EQ(s.at("apiKey").as_string(), key.prefix);  // never the secret
        EXPECT_EQ(r.body.find(key.secret), std::string::npos);
        EXPECT_EQ(s.at("requestsUsed").as_int64(), 3);
        EXPECT_EQ(s.at("requestLimit").as_int64(), 100);
        EXPECT_EQ(s.at("percentUsed").as_int64(), 3);
        EXPECT_EQ(s.at("hourlyAverage").as_int64(), 3);
        EXPECT_EQ(s.at("blocksSinceReset").as_int64(), 0);
        EXPECT_EQ(s.at("windowResetAt").as_string().size(), 27u);  // RFC 3339 with microseconds
    }
    auto reset = admin(1, "POST", "/admin/rate-limit/reset/" + key.prefix);
    ASSERT_EQ(reset.status, 200) << reset.body;
    EXPECT_EQ(parse(reset.body).at("requestsUsed").as_int64(), 0);
    EXPECT_EQ(admin(0, "GET", "/admin/rate-limit/status/key_prod_nothere1").status, 404);
    EXPECT_EQ(http_request(ports_[0], "GET", "/admin/rate-limit/status/" + key.prefix).status, 401);
}

TEST_F(RateLimit, ATierChangeInSqlTakesEffectAndAResetAppliesIt) {
    Key key = make_key("free", 0);
    ASSERT_EQ(as(0, key.secret).status, 200);
    ASSERT_EQ(as(1, key.secret).status, 429);
    // RB-15 step 2, by hand in SQL.
    auto db = Topology::get().app();
    std::vector<pg::Param> params{key.prefix, "professional"};
    ASSERT_TRUE(db.query(kSetTier, params).ok());
    // Step 3: the reset; every instance re-reads the key (at once where the reset ran, within a poll
    // elsewhere).
    auto reset = admin(0, "POST", "/admin/rate-limit/reset/" + key.prefix);
    ASSERT_EQ(reset.status, 200) << reset.body;
    EXPECT_EQ(parse(reset.body).at("requestLimit").as_int64(), 1000);  // step 4
    // Keys are authenticated from a replica (reads go to fresh replicas): allow it to replay the UPDATE.
    HttpResponse r0;
    for (int i = 0; i < 50 && r0.headers["x-ratelimit-limit"] != "1000"; ++i) {
        r0 = as(0, key.secret);
        if (r0.headers["x-ratelimit-limit"] != "1000") std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(r0.status, 200) << r0.body;
    EXPECT_EQ(r0.headers["x-ratelimit-limit"], "1000");
    std::string limit_on_1;
    for (int i = 0; i < 50 && limit_on_1 != "1000"; ++i) {
        auto r1 = as(1, key.secret);
        limit_on_1 = r1.headers["x-ratelimit-limit"];
        if (limit_on_1 != "1000") std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(limit_on_1, "1000");

    // Without a reset: the key cache (5 s) lets it through within its TTL.
    std::vector<pg::Param> back{key.prefix, "standard"};
    ASSERT_TRUE(db.query(kSetTier, back).ok());
    std::string limit;
    for (int i = 0; i < 100 && limit != "100"; ++i) {
        limit = as(i % 2, key.secret).headers["x-ratelimit-limit"];
        if (limit != "100") std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(limit, "100");
}

TEST_F(RateLimit, WhitelistedAddressIsExemptAndBlockedKeyGets403) {
    Key key = make_key("free", 0);
    auto p = admin(0, "PATCH", "/admin/api-keys/" + key.prefix, R"({"whitelist_ips":["127.0.0.0/8"]})");
    ASSERT_EQ(p.status, 200) << p.body;
    for (int i = 0; i < 10; ++i) {
        auto r = as(0, key.secret);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.headers.count("x-ratelimit-limit"), 0u);
    }
    auto b = admin(0, "PATCH", "/admin/api-keys/" + key.prefix,
                   R"({"blocked":true,"block_reason":"Potential abuse detected"})");
    ASSERT_EQ(b.status, 200) << b.body;
    HttpResponse r;  // within the key cache TTL; the re-read may meet a replica still replaying the PATCH
    for (int i = 0; i < 60 && r.status != 403; ++i) {
        r = as(0, key.secret);
        if (r.status != 403) std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(r.status, 403);
    EXPECT_NE(r.body.find("Potential abuse detected"), std::string::npos);
}

TEST_F(RateLimit, AnalyticsShowsBlockedKeysSharedAddressesAndBursts) {
    Key a = make_key("free", 0);
    Key b = make_key("free", 0);
    for (int i = 0; i < 4; ++i) {
        (void)as(0, a.secret);
        (void)as(1, b.secret);
    }
    // The audit log is written in batches off the request path and read from a replica: wait until every
    // part of the answer has seen the rows (one batch may hold only some of them).
    json::object o;
    auto lists = [&](std::string_view field, const std::string& prefix) {
        return json::serialize(o.at(field)).find(prefix) != std::string::npos;
    };
    auto shared_ab = [&] {
        for (const auto& ip : o.at("sharedIps").as_array()) {
            auto keys = json::serialize(ip.at("keys"));
            if (keys.find(a.prefix) != std::string::npos && keys.find(b.prefix) != std::string::npos)
                return true;
        }
        return false;
    };
    auto complete = [&] {
        return shared_ab() && lists("mostBlocked", a.prefix) && lists("mostBlocked", b.prefix) &&
               lists("bursts", a.prefix);
    };
    for (int i = 0; i < 100; ++i) {
        auto r = admin(0, "GET", "/admin/rate-limit/analytics");
        ASSERT_EQ(r.status, 200) << r.body;
        o = parse(r.body);
        if (complete()) break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(shared_ab()) << json::serialize(o);
    EXPECT_TRUE(o.at("redisAvailable").as_bool());
    EXPECT_TRUE(lists("mostBlocked", a.prefix)) << json::serialize(o);
    EXPECT_TRUE(lists("mostBlocked", b.prefix)) << json::serialize(o);
    EXPECT_TRUE(lists("bursts", a.prefix)) << json::serialize(o);  // 4 within about a second, 1 allowed
    EXPECT_TRUE(o.contains("nearLimit"));
}

TEST_F(RateLimit, YwctlStatusSetTierAndAnalytics) {
    Key key = make_key("free", 0);
    ASSERT_EQ(as(0, key.secret).status, 200);
    ASSERT_EQ(as(0, key.secret).status, 429);

    auto st = ywctl({"--json", "ratelimit", "status", key.prefix});
    EXPECT_EQ(st.exit_code, 1) << st.output;  // refused since the reset: warning
    auto report = parse(st.output);
    EXPECT_EQ(report.at("data").at("requestLimit").as_int64(), 10);
    EXPECT_EQ(report.at("data").at("requestsUsed").as_int64(), 1);
    auto human = ywctl({"ratelimit", "status", key.prefix});
    EXPECT_NE(human.output.find("✗"), std::string::npos) << human.output;

    auto refuse = ywctl({"ratelimit", "set-tier", key.prefix, "enterprise"});  // no --yes, no TTY
    EXPECT_NE(refuse.exit_code, 0);
    auto set = ywctl({"ratelimit", "set-tier", key.prefix, "enterprise", "--yes"});
    EXPECT_EQ(set.exit_code, 0) << set.output;
    EXPECT_NE(set.output.find("new limit 10000 requests per minute"), std::string::npos) << set.output;
    auto after = ywctl({"--json", "ratelimit", "status", key.prefix});
    EXPECT_EQ(after.exit_code, 0) << after.output;
    EXPECT_EQ(parse(after.output).at("data").at("blocksSinceReset").as_int64(), 0);
    EXPECT_EQ(ywctl({"ratelimit", "set-tier", key.prefix, "gold", "--yes"}).exit_code, 64);
    EXPECT_EQ(ywctl({"ratelimit", "status", "key_prod_nothere1"}).exit_code, 64);

    auto an = ywctl({"--json", "ratelimit", "analytics"});
    EXPECT_TRUE(an.exit_code == 0 || an.exit_code == 1) << an.output;
    EXPECT_TRUE(parse(an.output).at("data").as_object().contains("mostBlocked")) << an.output;
}

TEST_F(RateLimit, YwctlBlockUnblockWhitelistBurst) {
    Key key = make_key("standard");
    auto db = Topology::get().app();
    auto flags = [&] {
        std::vector<pg::Param> p{key.prefix};
        auto rows = db.query(kKeyFlags, p);
        EXPECT_TRUE(rows.ok());
        return rows.value();
    };
    auto block = ywctl({"ratelimit", "block", key.prefix, "--reason", "Potential abuse detected", "--yes"});
    ASSERT_EQ(block.exit_code, 0) << block.output;
    EXPECT_EQ(flags().text(0, "blocked"), "t");
    EXPECT_EQ(flags().text(0, "block_reason"), "Potential abuse detected");
    // The epoch tells both instances at once (within a poll): no waiting out the key cache.
    int status = 0;
    for (int i = 0; i < 30 && status != 403; ++i) {
        status = as(1, key.secret).status;
        if (status != 403) std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(status, 403);

    ASSERT_EQ(ywctl({"ratelimit", "unblock", key.prefix, "--yes"}).exit_code, 0);
    EXPECT_EQ(flags().text(0, "blocked"), "f");

    auto wl = ywctl({"ratelimit", "whitelist", key.prefix, "192.168.1.1", "--yes"});
    ASSERT_EQ(wl.exit_code, 0) << wl.output;
    ASSERT_EQ(ywctl({"ratelimit", "whitelist", key.prefix, "192.168.1.1", "--yes"}).exit_code, 0);  // once
    EXPECT_EQ(flags().text(0, "ips"), "{192.168.1.1}");
    EXPECT_EQ(ywctl({"ratelimit", "whitelist", key.prefix, "999.1.1.1", "--yes"}).exit_code, 64);

    auto burst = ywctl({"--json", "ratelimit", "burst", key.prefix, "50", "--yes"});
    ASSERT_EQ(burst.exit_code, 0) << burst.output;
    EXPECT_EQ(flags().text(0, "burst_size"), "50");
    std::string seen;
    for (int i = 0; i < 30 && seen != "50"; ++i) {
        seen = as(0, key.secret).headers["x-ratelimit-burst"];
        if (seen != "50") std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(seen, "50");
    EXPECT_EQ(ywctl({"ratelimit", "burst", key.prefix, "-1", "--yes"}).exit_code, 64);
}

}  // namespace
}  // namespace yw::test
