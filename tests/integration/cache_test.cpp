// The read cache against the real topology's Redis: writes are visible on the next read (also when another
// instance was loading the key meanwhile), tenants never see each other's entries, 200 concurrent misses cost
// one database query, not-found is cached briefly, Redis down is invisible to clients (and counted, and
// recovered from), warming at start, and every ywctl cache command.
#include "cache/cache.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <regex>
#include <thread>

#include "common/config.hpp"
#include "ops/redis_sync.hpp"
#include "redis/client.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

json::object parse(const HttpResponse& r) {
    json::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object()) return {};
    return v.as_object();
}

// A counter of GET /metrics by its full series text (0 before the server first counts it).
double metric(int port, const std::string& series) { return std::max(0.0, metric_value(port, series)); }

double query_count(int port, const std::string& query) {
    return metric(port, fmt::format("yw_db_query_duration_seconds_count{{query=\"{}\"}}", query));
}

double cache_counter(int port, const std::string& name, const std::string& ns) {
    return metric(port, fmt::format("yw_cache_{}_total{{namespace=\"{}\"}}", name, ns));
}

ops::SyncRedis topology_redis() {
    auto env = read_env_file(Topology::get().env_file().string());
    auto redis = ops::SyncRedis::open(env->at("REDIS_URL"));
    EXPECT_TRUE(redis.ok()) << redis.error().message;
    return std::move(redis.value());
}

// A ywmsgd on the topology, with extra settings.
class Server {
  public:
    explicit Server(std::vector<std::string> extra = {}) : port_(free_port()) {
        std::vector<std::string> env{"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                                     fmt::format("YW_HTTP_PORT={}", port_), "YW_LOG_LEVEL=info"};
        env.insert(env.end(), extra.begin(), extra.end());
        child_ = std::make_unique<Child>("ywmsgd", std::vector<std::string>{}, env);
        EXPECT_TRUE(wait_for_port(port_, 20s)) << child_->log();
        auto file = read_env_file(Topology::get().env_file().string());
        admin_token_ = file->at("YW_ADMIN_TOKEN");
    }
    ~Server() {
        if (child_) {
            EXPECT_EQ(child_->terminate(), 0) << child_->log();
        }
    }
    int port() const { return port_; }
    std::string log() const { return child_->log(); }

    HttpResponse admin(const std::string& method, const std::string& target, const std::string& body = {}) {
        return http_request(port_, method, target, body, {{"Authorization", "Bearer " + admin_token_}});
    }
    HttpResponse as(const std::string& key, const std::string& method, const std::string& target,
                    const std::string& body = {}) {
        return http_request(port_, method, target, body, {{"X-API-Key", key}});
    }
    // A tenant and an enterprise key (the rate limiter must not get in the way of 200 requests).
    std::pair<std::string, std::string> tenant(const std::string& name) {
        auto t = admin("POST", "/admin/tenants", json::serialize(json::object{{"name", name}}));
        EXPECT_EQ(t.status, 201) << t.body;
        std::string id(parse(t).at("id").as_string());
        auto k = admin("POST", "/admin/tenants/" + id + "/api-keys", R"({"tier":"enterprise"})");
        EXPECT_EQ(k.status, 201) << k.body;
        return {id, std::string(parse(k).at("api_key").as_string())};
    }
    std::string create(const std::string& key, const std::string& target, const json::object& body) {
        auto r = as(key, "POST", target, json::serialize(body));
        EXPECT_EQ(r.status, 201) << r.body;
        return std::string(parse(r).at("id").as_string());
    }

  private:
    int port_;
    std::string admin_token_;
    std::unique_ptr<Child> child_;
};

TEST(Cache, AWriteIsVisibleOnTheNextRead) {
    Server s;
    auto [tenant, key] = s.tenant("Cache Chapel");
    std::string user = s.create(key, "/v1/users", {{"name", "Ruth"}});
    auto first = s.as(key, "GET", "/v1/users/" + user);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.headers["x-cache"], "MISS");
    auto second = s.as(key, "GET", "/v1/users/" + user);
    EXPECT_EQ(second.headers["x-cache"], "HIT");
    EXPECT_EQ(second.body, first.body);  // the same JSON, byte for byte

    auto patched = s.as(key, "PATCH", "/v1/users/" + user, R"({"name":"Naomi"})");
    ASSERT_EQ(patched.status, 200) << patched.body;
    auto after = s.as(key, "GET", "/v1/users/" + user);
    ASSERT_EQ(after.status, 200);
    EXPECT_EQ(parse(after).at("name").as_string(), "Naomi");
    EXPECT_EQ(after.headers["x-cache"], "MISS");

    // A conversation and its first page: a new message changes both (last_message_at, the page).
    std::string conv = s.create(key, "/v1/conversations", {{"user_id", user}});
    auto meta = s.as(key, "GET", "/v1/conversations/" + conv);
    EXPECT_TRUE(parse(meta).at("last_message_at").is_null()) << meta.body;
    auto page = s.as(key, "GET", "/v1/conversations/" + conv + "/messages");
    ASSERT_EQ(page.status, 200) << page.body;
    EXPECT_TRUE(parse(page).at("data").as_array().empty());
    EXPECT_EQ(s.as(key, "GET", "/v1/conversations/" + conv + "/messages").headers["x-cache"], "HIT");

    std::string message = s.create(key, "/v1/conversations/" + conv + "/messages", {{"content", "Hello"}});
    meta = s.as(key, "GET", "/v1/conversations/" + conv);
    EXPECT_FALSE(parse(meta).at("last_message_at").is_null()) << meta.body;
    page = s.as(key, "GET", "/v1/conversations/" + conv + "/messages");
    ASSERT_EQ(parse(page).at("data").as_array().size(), 1u) << page.body;
    EXPECT_EQ(parse(page).at("data").as_array()[0].at("id").as_string(), message);

    ASSERT_EQ(s.as(key, "DELETE", "/v1/conversations/" + conv + "/messages/" + message).status, 204);
    page = s.as(key, "GET", "/v1/conversations/" + conv + "/messages");
    EXPECT_TRUE(parse(page).at("data").as_array().empty()) << page.body;

    auto status = s.as(key, "PATCH", "/v1/conversations/" + conv, R"({"status":"closed"})");
    ASSERT_EQ(status.status, 200);
    EXPECT_EQ(parse(s.as(key, "GET", "/v1/conversations/" + conv)).at("status").as_string(), "closed");

    ASSERT_EQ(s.as(key, "DELETE", "/v1/users/" + user).status, 204);
    EXPECT_EQ(s.as(key, "GET", "/v1/users/" + user).status, 404);

    // Pages other than the first of the default size are never cached.
    EXPECT_EQ(s.as(key, "GET", "/v1/conversations/" + conv + "/messages?limit=10").headers["x-cache"],
              "BYPASS");
}

TEST(Cache, EntriesAreScopedToTheirTenant) {
    Server s;
    auto [tenant_a, key_a] = s.tenant("Tenant A");
    auto [tenant_b, key_b] = s.tenant("Tenant B");
    std::string user = s.create(key_a, "/v1/users", {{"name", "Only A's"}});
    ASSERT_EQ(s.as(key_a, "GET", "/v1/users/" + user).status, 200);
    ASSERT_EQ(s.as(key_a, "GET", "/v1/users/" + user).headers["x-cache"], "HIT");
    auto other = s.as(key_b, "GET", "/v1/users/" + user);
    EXPECT_EQ(other.status, 404) << other.body;
    EXPECT_EQ(other.body.find("Only A"), std::string::npos);
    // B's "not found" is B's alone: A still reads its user.
    EXPECT_EQ(s.as(key_b, "GET", "/v1/users/" + user).status, 404);
    EXPECT_EQ(s.as(key_a, "GET", "/v1/users/" + user).status, 200);
}

TEST(Cache, NotFoundIsCachedBriefly) {
    Server s({"YW_CACHE_NEGATIVE_TTL_S=30"});
    auto [tenant, key] = s.tenant("Negative");
    std::string missing = "0190a4c2-0000-7000-8000-000000000001";
    double loads = cache_counter(s.port(), "loads", "users");
    double hits = cache_counter(s.port(), "hits", "users");
    EXPECT_EQ(s.as(key, "GET", "/v1/users/" + missing).status, 404);
    EXPECT_EQ(s.as(key, "GET", "/v1/users/" + missing).status, 404);
    EXPECT_EQ(cache_counter(s.port(), "loads", "users"), loads + 1);
    EXPECT_EQ(cache_counter(s.port(), "hits", "users"), hits + 1);
    auto redis = topology_redis();
    auto ttl = redis.command({"TTL", "users:" + tenant + ":" + missing});
    ASSERT_TRUE(ttl.ok());
    EXPECT_GT(ttl->integer, 0);
    EXPECT_LE(ttl->integer, 30);
}

// Two instances' caches on the topology's Redis (each its own client, as two ywmsgd would have), driven from
// one io_context so the interleaving is exact: instance A misses and loads; while its load runs, a write on
// instance B invalidates the key. What A read predates the write: A answers it, but must not store it, or
// every instance would serve the old value until the TTL. Without the shared stamp (only A's in-process
// generation), A would store it.
TEST(Cache, ALoadThatRacedAWriteOnAnotherInstanceIsNotStored) {
    namespace asio = boost::asio;
    asio::io_context io;
    redis::ClientOptions client_options;
    client_options.url = Topology::get().connections().redis;
    redis::Client redis_a(io.get_executor(), client_options), redis_b(io.get_executor(), client_options);
    cache::CacheOptions options;
    options.timeout = 2s;
    cache::Cache a(options), b(options);
    a.attach(&redis_a);
    b.attach(&redis_b);
    const std::string key = cache::user_key("race-tenant", fmt::format("user-{}", getpid()));
    auto reader = topology_redis();
    ASSERT_TRUE(reader.command({"UNLINK", key, cache::stamp_key(key)}).ok());

    bool load_started = false, written = false;
    std::optional<Result<cache::Fetched>> raced, after;
    std::string stored_after_race = "?", stored_after_clean_load = "?";
    auto pause = [&](std::chrono::milliseconds d) -> asio::awaitable<void> {
        asio::steady_timer t(io, d);
        co_await t.async_wait(asio::use_awaitable);
    };
    auto value_in_redis = [&]() -> asio::awaitable<std::string> {
        redis::Command get{"GET", key};
        auto r = co_await redis_b.command(std::move(get), std::chrono::steady_clock::now() + 2s);
        co_return !r ? "error" : r->is_nil() ? "nil" : r->str;
    };
    redis_a.start();
    redis_b.start();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            while (!redis_a.connected() || !redis_b.connected()) co_await pause(10ms);
            // B's write lands while A's load is in flight.
            asio::co_spawn(
                io,
                [&]() -> asio::awaitable<void> {
                    while (!load_started) co_await pause(1ms);
                    std::vector<std::string> keys{key};
                    co_await b.invalidate(std::move(keys), 0);
                    written = true;
                },
                asio::detached);
            cache::Cache::Loader before_the_write =
                [&](cache::Cache::FillLsn) -> asio::awaitable<Result<std::string>> {
                load_started = true;
                while (!written) co_await pause(1ms);
                co_return std::string(R"({"name":"before the write"})");
            };
            raced = co_await a.get(cache::Namespace::kUsers, key, before_the_write);
            stored_after_race = co_await value_in_redis();
            // A load that no write crossed is stored as usual, and B hits it.
            cache::Cache::Loader after_the_write =
                [&](cache::Cache::FillLsn) -> asio::awaitable<Result<std::string>> {
                co_return std::string(R"({"name":"after the write"})");
            };
            (void)co_await a.get(cache::Namespace::kUsers, key, after_the_write);
            after = co_await b.get(cache::Namespace::kUsers, key, before_the_write);
            stored_after_clean_load = co_await value_in_redis();
            redis_a.close();
            redis_b.close();
        },
        asio::detached);
    io.run_for(30s);

    ASSERT_TRUE(raced.has_value() && raced->ok());
    EXPECT_EQ((*raced)->json, R"({"name":"before the write"})");  // true when read: answered, not stored
    EXPECT_EQ((*raced)->outcome, cache::Outcome::kMiss);
    EXPECT_EQ(stored_after_race, "nil");
    EXPECT_EQ(a.stats()[0].stale, 1u);
    ASSERT_TRUE(after.has_value() && after->ok());
    EXPECT_EQ((*after)->outcome, cache::Outcome::kHit);
    EXPECT_EQ((*after)->json, R"({"name":"after the write"})");
    EXPECT_EQ(stored_after_clean_load, R"({"name":"after the write"})");
    auto ttl = reader.command({"TTL", cache::stamp_key(key)});
    ASSERT_TRUE(ttl.ok());
    EXPECT_GT(ttl->integer, 0);  // the stamp goes away by itself
    EXPECT_LE(ttl->integer, options.stamp_ttl.count());
}

// Pauses WAL replay on both replicas for the test's scope; resumes it however the test ends.
class ReplayPaused {
  public:
    ReplayPaused() {
        for (const char* node : {"replica-1", "replica-2"}) {
            auto su = Topology::get().superuser(node);
            EXPECT_TRUE(su.simple_query("test.pause", "SELECT pg_wal_replay_pause()").ok());
        }
    }
    ~ReplayPaused() {
        for (const char* node : {"replica-1", "replica-2"}) {
            auto su = Topology::get().superuser(node);
            EXPECT_TRUE(su.simple_query("test.resume", "SELECT pg_wal_replay_resume()").ok());
        }
    }
};

// Whether `node` has replayed the message `id`.
bool replica_has(const std::string& node, const std::string& id) {
    static constexpr pg::Query kHas{"test.has",
                                    "SELECT count(*) AS n FROM conversation_message WHERE id = $1::uuid"};
    auto su = Topology::get().superuser(node);
    auto r = su.query(kHas, {id});
    return r.ok() && r->size() == 1 && r->text(0, "n") == "1";
}

// Whether `node` has replayed the user `id`.
bool replica_has_user(const std::string& node, const std::string& id) {
    static constexpr pg::Query kHas{"test.has_user", "SELECT count(*) AS n FROM users WHERE id = $1::uuid"};
    auto su = Topology::get().superuser(node);
    auto r = su.query(kHas, {id});
    return r.ok() && r->size() == 1 && r->text(0, "n") == "1";
}

bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds limit = 10s) {
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
        if (ok()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return ok();
}

std::string reads_of(const std::string& node) {
    return fmt::format("yw_db_route_statements_total{{node=\"{}\",kind=\"read\"}}", node);
}

// Fills read the replicas (the primary stays free for writes), but never store a page older than the write
// that invalidated it, whichever instance wrote and whichever fills. The replicas count as fresh for a minute
// here, so only the invalidation's WAL position keeps a fill off a replica that has not replayed the write.
TEST(Cache, AFillOnAnotherInstanceNeverStoresAPageOlderThanTheWriteThatInvalidatedIt) {
    Server a({"YW_MAX_REPLICA_LAG_MS=60000"});
    Server b({"YW_MAX_REPLICA_LAG_MS=60000"});
    auto [tenant, key] = a.tenant("Fill Fellowship");
    std::string user = a.create(key, "/v1/users", {{"name", "Lydia"}});
    std::string conv = a.create(key, "/v1/conversations", {{"user_id", user}});
    std::string first = a.create(key, "/v1/conversations/" + conv + "/messages", {{"content", "first"}});
    const std::string page = "/v1/conversations/" + conv + "/messages";
    ASSERT_TRUE(
        eventually([&] { return replica_has("replica-1", first) && replica_has("replica-2", first); }));

    // With nothing to wait for, B's fill reads a replica, and B then answers from Redis.
    ASSERT_TRUE(
        topology_redis().command({"DEL", cache::stamp_key(cache::first_page_key(tenant, conv))}).ok());
    double replica_reads = metric(b.port(), reads_of("replica-1")) + metric(b.port(), reads_of("replica-2"));
    auto cold = b.as(key, "GET", page);
    ASSERT_EQ(cold.status, 200) << cold.body;
    EXPECT_EQ(cold.headers["x-cache"], "MISS");
    EXPECT_GT(metric(b.port(), reads_of("replica-1")) + metric(b.port(), reads_of("replica-2")),
              replica_reads);
    EXPECT_EQ(b.as(key, "GET", page).headers["x-cache"], "HIT");

    {
        ReplayPaused paused;
        std::string second =
            a.create(key, "/v1/conversations/" + conv + "/messages", {{"content", "second"}});
        auto after = b.as(key, "GET", page);
        ASSERT_EQ(after.status, 200) << after.body;
        EXPECT_EQ(after.headers["x-cache"], "MISS");
        auto data = parse(after).at("data").as_array();
        ASSERT_EQ(data.size(), 2u) << after.body;
        EXPECT_EQ(data[0].at("id").as_string(), second) << "the fill stored a page older than the write";
        auto again = b.as(key, "GET", page);  // what the fill stored, for every instance
        EXPECT_EQ(again.headers["x-cache"], "HIT");
        EXPECT_EQ(again.body, after.body);
        EXPECT_EQ(a.as(key, "GET", page).body, after.body);
        // The replicas had not replayed the write: the page came from the primary.
        EXPECT_FALSE(replica_has("replica-1", second));
        EXPECT_FALSE(replica_has("replica-2", second));
    }
}

TEST(Cache, WhatATenantCreatesIsReadableAtOnceThoughNoReplicaHasIt) {
    // A new resource's keys are stamped with the write that made it, like any write's: its first fill waits
    // for a node that has the row (here only the primary), on this instance or another, and never caches a
    // lagging replica's 404. Replay is paused on both replicas, which stay readable (lag allowed: 60 s).
    Server a({"YW_MAX_REPLICA_LAG_MS=60000"});
    Server b({"YW_MAX_REPLICA_LAG_MS=60000"});
    auto [tenant, key] = a.tenant("Newcomers Chapel");
    ASSERT_EQ(b.as(key, "GET", "/v1/conversations").status, 200);  // both know the key before the pause
    ReplayPaused paused;
    std::string user = a.create(key, "/v1/users", {{"name", "Phoebe"}});
    std::string conv = a.create(key, "/v1/conversations", {{"user_id", user}});
    EXPECT_FALSE(replica_has_user("replica-1", user));
    EXPECT_FALSE(replica_has_user("replica-2", user));
    auto expect_fresh = [&](Server& s, const std::string& target) {
        auto r = s.as(key, "GET", target);
        EXPECT_EQ(r.status, 200) << target << ": " << r.body;
        EXPECT_EQ(r.headers["x-cache"], "MISS") << target;
        auto again = (&s == &a ? b : a).as(key, "GET", target);  // what the fill stored, for every instance
        EXPECT_EQ(again.status, 200) << target << ": " << again.body;
        EXPECT_EQ(again.headers["x-cache"], "HIT") << target;
    };
    expect_fresh(b, "/v1/users/" + user);                        // filled by the other instance
    expect_fresh(a, "/v1/conversations/" + conv);                // by the one that wrote it
    expect_fresh(b, "/v1/conversations/" + conv + "/messages");  // the new conversation's empty first page
}

TEST(Cache, TwoHundredConcurrentMissesCostOneQuery) {
    Server s;
    auto [tenant, key] = s.tenant("Stampede");
    std::string user = s.create(key, "/v1/users", {{"name", "Hot"}});
    ASSERT_EQ(s.as(key, "GET", "/v1/conversations").status, 200);  // the key is authenticated and cached
    double queries = query_count(s.port(), "users.get");
    double loads = cache_counter(s.port(), "loads", "users");

    // Hold every read of `users` behind a lock so that all 200 requests are waiting when it goes: without
    // single-flight each would have its own query queued behind it.
    auto lock = Topology::get().superuser("primary");
    ASSERT_TRUE(lock.exec_script("test.lock", "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE").ok());
    std::vector<std::thread> clients;
    std::vector<int> statuses(200);
    for (int i = 0; i < 200; ++i) {
        clients.emplace_back([&, i] { statuses[i] = s.as(key, "GET", "/v1/users/" + user).status; });
    }
    std::this_thread::sleep_for(1500ms);  // let them arrive (not an assertion on time: late ones hit)
    ASSERT_TRUE(lock.exec_script("test.unlock", "COMMIT").ok());
    for (auto& c : clients) c.join();
    for (int status : statuses) EXPECT_EQ(status, 200);
    EXPECT_EQ(query_count(s.port(), "users.get"), queries + 1);
    EXPECT_EQ(cache_counter(s.port(), "loads", "users"), loads + 1);
}

// A redis-server of this test's own (not the topology's): stopped and started to play Redis down and back.
class OwnRedis {
  public:
    explicit OwnRedis(int port) : port_(port) {}
    ~OwnRedis() { stop(); }
    void start() {
        pid_ = fork();
        if (pid_ == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            std::string port = std::to_string(port_);
            execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", static_cast<char*>(nullptr));
            _exit(127);
        }
        ASSERT_TRUE(wait_for_port(port_, 10s));
    }
    void stop() {
        if (pid_ <= 0) return;
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    int port_;
    pid_t pid_ = -1;
};

TEST(Cache, RedisDownIsInvisibleToClientsCountedAndRecoveredFrom) {
    int redis_port = free_port();
    OwnRedis redis(redis_port);  // not started: Redis is down from the beginning
    Server s({fmt::format("REDIS_URL=redis://127.0.0.1:{}/0", redis_port)});
    auto [tenant, key] = s.tenant("Redis Down");
    std::string user = s.create(key, "/v1/users", {{"name", "Still served"}});
    double errors = cache_counter(s.port(), "errors", "users");
    for (int i = 0; i < 3; ++i) {
        auto r = s.as(key, "GET", "/v1/users/" + user);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.headers["x-cache"], "BYPASS");
        EXPECT_EQ(parse(r).at("name").as_string(), "Still served");
    }
    EXPECT_GE(cache_counter(s.port(), "errors", "users"), errors + 3);
    // Writes too: their invalidation fails quietly.
    EXPECT_EQ(s.as(key, "PATCH", "/v1/users/" + user, R"({"name":"Renamed"})").status, 200);

    // Redis comes up: the client reconnects in the background and the cache works again.
    redis.start();
    std::string seen;
    for (int i = 0; i < 100 && seen != "HIT"; ++i) {
        auto r = s.as(key, "GET", "/v1/users/" + user);
        ASSERT_EQ(r.status, 200);
        EXPECT_EQ(parse(r).at("name").as_string(), "Renamed");
        seen = r.headers["x-cache"];
        if (seen != "HIT") std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(seen, "HIT") << s.log();
    redis.stop();
}

TEST(Cache, WarmingAtStartLoadsTheHottestConversationsAndUsers) {
    std::string tenant, key, user, conv;
    {
        Server s;
        std::tie(tenant, key) = s.tenant("Warm");
        user = s.create(key, "/v1/users", {{"name", "Warm user"}});
        conv = s.create(key, "/v1/conversations", {{"user_id", user}});
        s.create(key, "/v1/conversations/" + conv + "/messages", {{"content", "hi"}});
    }
    auto redis = topology_redis();
    ASSERT_TRUE(
        redis.command({"UNLINK", "users:" + tenant + ":" + user, "conversations:" + tenant + ":" + conv})
            .ok());

    Server warm({"CACHE_WARMING_ENABLED=true", "YW_CACHE_WARMING_MAX_KEYS=100"});
    bool warmed = false;
    for (int i = 0; i < 100 && !warmed; ++i) {
        warmed = warm.log().find("Cache warming finished") != std::string::npos;
        if (!warmed) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(warmed) << warm.log();
    EXPECT_NE(warm.log().find("Cache warming started for key: users:"), std::string::npos) << warm.log();
    auto exists =
        redis.command({"EXISTS", "users:" + tenant + ":" + user, "conversations:" + tenant + ":" + conv});
    ASSERT_TRUE(exists.ok());
    EXPECT_EQ(exists->integer, 2);
    EXPECT_EQ(warm.as(key, "GET", "/v1/conversations/" + conv).headers["x-cache"], "HIT");
    auto u = warm.as(key, "GET", "/v1/users/" + user);
    EXPECT_EQ(u.headers["x-cache"], "HIT");
    EXPECT_EQ(parse(u).at("name").as_string(), "Warm user");
}

// --- ywctl cache ---

RunResult ywctl(const std::vector<std::string>& args) {
    return run_built("ywctl", args, {"YW_CONFIG_FILE=" + Topology::get().env_file().string()});
}

json::object json_of(const RunResult& r) {
    json::error_code ec;
    auto v = json::parse(r.output.substr(r.output.find('{')), ec);
    if (ec || !v.is_object()) return {};
    return v.as_object();
}

TEST(YwctlCache, StatsJudgesTheHitRateFromInfo) {
    auto redis = topology_redis();
    ASSERT_TRUE(redis.command({"SET", "users:ctl:stats", "{}", "EX", "60"}).ok());
    for (int i = 0; i < 9; ++i) ASSERT_TRUE(redis.command({"GET", "users:ctl:stats"}).ok());
    auto r = ywctl({"cache", "stats", "--json"});
    auto doc = json_of(r);
    ASSERT_TRUE(doc.contains("checks")) << r.output;
    EXPECT_EQ(doc.at("title").as_string(), "Redis cache (RB-11)");
    auto data = doc.at("data").as_object();
    double hits = static_cast<double>(data.at("keyspace_hits").to_number<std::uint64_t>());
    double misses = static_cast<double>(data.at("keyspace_misses").to_number<std::uint64_t>());
    ASSERT_GT(hits, 0);
    double rate = 100 * hits / (hits + misses);
    EXPECT_NEAR(data.at("hit_rate_percent").to_number<double>(), rate, 0.01);
    std::string expected = rate >= 70 ? "ok" : rate >= 50 ? "warning" : "critical";
    bool found = false;
    for (const auto& check : doc.at("checks").as_array()) {
        if (check.at("name").as_string() != "hit rate") continue;
        found = true;
        EXPECT_EQ(check.at("status").as_string(), expected) << r.output;
    }
    EXPECT_TRUE(found) << r.output;
    const std::map<std::string, int> exits{{"ok", 0}, {"warning", 1}, {"critical", 2}, {"unknown", 3}};
    EXPECT_EQ(r.exit_code, exits.at(std::string(doc.at("status").as_string()))) << r.output;
    auto human = ywctl({"cache", "stats"});
    EXPECT_NE(human.output.find("hit rate"), std::string::npos) << human.output;
    EXPECT_NE(human.output.find("memory used"), std::string::npos);
    EXPECT_NE(human.output.find("evictions"), std::string::npos);
}

TEST(YwctlCache, InspectAKeyAndAPattern) {
    auto redis = topology_redis();
    ASSERT_TRUE(redis.command({"SET", "users:ctl:inspect", R"({"id":"x"})", "EX", "120"}).ok());
    auto one = ywctl({"cache", "inspect", "users:ctl:inspect", "--json"});
    EXPECT_EQ(one.exit_code, 0) << one.output;
    auto data = json_of(one).at("data").as_object();
    EXPECT_TRUE(data.at("exists").as_bool());
    EXPECT_GT(data.at("ttl_seconds").as_int64(), 0);
    EXPECT_LE(data.at("ttl_seconds").as_int64(), 120);
    EXPECT_GT(data.at("bytes").as_int64(), 0);

    auto missing = ywctl({"cache", "inspect", "users:ctl:missing"});
    EXPECT_EQ(missing.exit_code, 1) << missing.output;
    EXPECT_NE(missing.output.find("not cached"), std::string::npos) << missing.output;

    auto pattern = ywctl({"cache", "inspect", "--pattern", "users:ctl:*", "--json"});
    EXPECT_EQ(pattern.exit_code, 0) << pattern.output;
    EXPECT_GE(json_of(pattern).at("data").at("count").as_int64(), 1);
    auto none = ywctl({"cache", "inspect", "--pattern", "nothing-like-this:*"});
    EXPECT_EQ(none.exit_code, 1) << none.output;

    EXPECT_EQ(ywctl({"cache", "inspect"}).exit_code, 64);
    EXPECT_EQ(ywctl({"cache", "inspect", "k", "--pattern", "p"}).exit_code, 64);
}

TEST(YwctlCache, ClearCountsFirstNeedsYesAndNeverTouchesRateLimits) {
    auto redis = topology_redis();
    for (int i = 0; i < 1200; ++i) {
        ASSERT_TRUE(redis.command({"SET", fmt::format("users:ctl-clear:{}", i), "{}", "EX", "300"}).ok());
    }
    ASSERT_TRUE(redis.command({"SET", "conversations:ctl-clear:1", "{}", "EX", "300"}).ok());
    ASSERT_TRUE(redis.command({"SET", "rl:ctl-clear:minute", "5", "EX", "300"}).ok());

    auto refused = ywctl({"cache", "clear", "--pattern", "users:ctl-clear:*"});
    EXPECT_EQ(refused.exit_code, 64) << refused.output;
    EXPECT_NE(refused.output.find("1200 keys"), std::string::npos) << refused.output;  // counted first
    EXPECT_EQ(redis.command({"EXISTS", "users:ctl-clear:0"})->integer, 1);

    auto dry = ywctl({"cache", "clear", "--pattern", "users:ctl-clear:*", "--dry-run", "--json"});
    EXPECT_EQ(dry.exit_code, 0) << dry.output;
    EXPECT_EQ(json_of(dry).at("matched").as_int64(), 1200);
    EXPECT_EQ(redis.command({"EXISTS", "users:ctl-clear:0"})->integer, 1);

    auto cleared =
        ywctl({"cache", "clear", "--pattern", "users:ctl-clear:*", "--yes", "--batch", "100", "--json"});
    EXPECT_EQ(cleared.exit_code, 0) << cleared.output;
    EXPECT_EQ(json_of(cleared).at("deleted").as_int64(), 1200) << cleared.output;
    auto left = redis.command({"SCAN", "0", "MATCH", "users:ctl-clear:*", "COUNT", "100000"});
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->elements[1].elements.empty());

    auto all = ywctl({"cache", "clear", "--all", "--yes"});
    EXPECT_EQ(all.exit_code, 0) << all.output;
    EXPECT_EQ(redis.command({"EXISTS", "conversations:ctl-clear:1"})->integer, 0);
    EXPECT_EQ(redis.command({"EXISTS", "rl:ctl-clear:minute"})->integer, 1) << "--all must keep rate limits";

    EXPECT_EQ(ywctl({"cache", "clear", "--yes"}).exit_code, 64);
    EXPECT_EQ(ywctl({"cache", "clear", "--all", "--pattern", "x:*"}).exit_code, 64);
}

TEST(YwctlCache, RedisUnreachableIsCritical) {
    int port = free_port();
    auto r = run_built("ywctl", {"cache", "stats"},
                       {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                        fmt::format("REDIS_URL=redis://127.0.0.1:{}/0", port)});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("cannot connect to Redis"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace yw::test
