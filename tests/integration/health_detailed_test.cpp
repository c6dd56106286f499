// RB-23's GET /health/detailed and `ywctl health` against the real topology: the exact shape, healthy when
// all is well, a stopped replica (degraded, 200), a stopped or frozen PgBouncer and a frozen Redis
// (unhealthy, 503, within the deadline), the status alone without the admin token, and a storm that costs one
// probe round. The faults come last and each restores the topology.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <future>
#include <thread>

#include "common/config.hpp"
#include "common/files.hpp"
#include "node/control.hpp"
#include "support/ops_helpers.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = 1000ms;  // YW_HEALTH_TIMEOUT_MS below: every probe's own deadline

std::string admin_token() {
    auto env = read_env_file(Topology::get().env_file().string());
    return env ? env->at("YW_ADMIN_TOKEN") : "";
}

std::vector<std::string> server_env(int port, int ttl_ms = 1000) {
    return {"YW_CONFIG_FILE=" + Topology::get().env_file().string(), fmt::format("YW_HTTP_PORT={}", port),
            fmt::format("YW_HEALTH_TIMEOUT_MS={}", kDeadline.count()),
            fmt::format("YW_HEALTH_DETAILED_TTL_MS={}", ttl_ms), "YW_LOG_FORMAT=json"};
}

struct Detailed {
    int status = 0;
    json::object doc;
    std::chrono::milliseconds took{};
};

Detailed get_detailed(int port, bool with_token = true) {
    std::map<std::string, std::string> headers;
    if (with_token) headers["Authorization"] = "Bearer " + admin_token();
    auto started = Clock::now();
    auto r = http_request(port, "GET", "/health/detailed", {}, headers);
    Detailed d;
    d.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    d.status = r.status;
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object()) d.doc = v.as_object();
    return d;
}

const json::object& service(const Detailed& d, const char* name) {
    return d.doc.at("services").at(name).as_object();
}

// Polls (each round is shared for the TTL) until `ok` holds for a fresh answer, or gives the last one.
Detailed wait_for(int port, const std::function<bool(const Detailed&)>& ok,
                  std::chrono::seconds limit = 15s) {
    Detailed last;
    auto until = Clock::now() + limit;
    while (Clock::now() < until) {
        last = get_detailed(port);
        if (ok(last)) return last;
        std::this_thread::sleep_for(200ms);
    }
    return last;
}

std::vector<std::string> keys_of(const json::object& o) {
    std::vector<std::string> out;
    for (const auto& [k, v] : o) out.emplace_back(k);
    std::sort(out.begin(), out.end());
    return out;
}

using Keys = std::vector<std::string>;

bool all_healthy(const Detailed& d) {
    if (d.status != 200 || d.doc.at("status") != "healthy") return false;
    return true;
}

// Sends SIGSTOP now and SIGCONT when it goes, however the test ends.
class Frozen {
  public:
    explicit Frozen(const std::filesystem::path& pidfile) {
        auto text = read_text(pidfile);
        pid_ = std::stoi(text);
        if (::kill(pid_, SIGSTOP) != 0) pid_ = -1;
    }
    ~Frozen() {
        if (pid_ > 0) ::kill(pid_, SIGCONT);
    }
    Frozen(const Frozen&) = delete;
    Frozen& operator=(const Frozen&) = delete;
    bool ok() const { return pid_ > 0; }

  private:
    int pid_ = -1;
};

// Starts what a test stopped, however it ends.
struct Restore {
    ~Restore() {
        auto s = Topology::get().local().up();
        EXPECT_TRUE(s.ok()) << s.error().message;
    }
};

TEST(HealthDetailed, HealthyOnAFreshTopologyWithRb23sShape) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    auto d = wait_for(port, all_healthy);
    ASSERT_EQ(d.status, 200) << json::serialize(d.doc) << "\n" << server.log();
    EXPECT_EQ(d.doc.at("status"), "healthy") << json::serialize(d.doc);
    EXPECT_EQ(keys_of(d.doc), (Keys{"services", "status", "timestamp"}));
    EXPECT_EQ(d.doc.at("timestamp").as_string().back(), 'Z');
    const auto& services = d.doc.at("services").as_object();
    EXPECT_EQ(keys_of(services), (Keys{"database", "partitions", "pgbouncer", "queries", "redis",
                                       "replication_slots", "sessions", "transaction_ids", "wal_archiving"}));
    // The topology archives WAL through pgBackRest (docs/backup.md).
    EXPECT_EQ(service(d, "wal_archiving").at("status"), "healthy") << json::serialize(d.doc);
    EXPECT_EQ(service(d, "wal_archiving").at("archive_mode"), "on");
    EXPECT_EQ(service(d, "wal_archiving").at("failing"), false);
    const auto& db = service(d, "database");
    EXPECT_EQ(keys_of(db), (Keys{"primary", "replicas", "status"}));
    EXPECT_EQ(db.at("status"), "healthy");
    EXPECT_EQ(keys_of(db.at("primary").as_object()), (Keys{"connected", "latency"}));
    EXPECT_EQ(db.at("primary").at("connected"), true);
    EXPECT_TRUE(db.at("primary").at("latency").is_number());
    const auto& replicas = db.at("replicas").as_array();
    ASSERT_EQ(replicas.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        const auto& r = replicas[i].as_object();
        EXPECT_EQ(keys_of(r), (Keys{"connected", "lag", "name"}));
        EXPECT_EQ(r.at("name").as_string(), fmt::format("replica-{}", i + 1));
        EXPECT_EQ(r.at("connected"), true);
        EXPECT_TRUE(r.at("lag").is_int64());
        EXPECT_LT(r.at("lag").as_int64(), 1000);
    }
    const auto& redis = service(d, "redis");
    EXPECT_EQ(keys_of(redis), (Keys{"evictions", "keyspace", "memory", "status"}));
    EXPECT_EQ(redis.at("status"), "healthy");
    EXPECT_TRUE(redis.at("memory").as_string().ends_with("MB")) << redis.at("memory");
    EXPECT_TRUE(redis.at("keyspace").as_string().ends_with(" keys")) << redis.at("keyspace");
    EXPECT_EQ(redis.at("evictions"), 0);
    const auto& pgbouncer = service(d, "pgbouncer");
    EXPECT_EQ(keys_of(pgbouncer), (Keys{"active_connections", "status", "waiting_clients"}));
    EXPECT_EQ(pgbouncer.at("waiting_clients"), 0);
    EXPECT_TRUE(pgbouncer.at("active_connections").is_int64());
    const auto& queries = service(d, "queries");
    EXPECT_EQ(keys_of(queries), (Keys{"p95_latency", "slow_query_percentage", "status"}));
    EXPECT_TRUE(queries.at("p95_latency").is_number());
    // Ours: the replicas' slots are active and retain little.
    const auto& slots = service(d, "replication_slots").at("slots").as_array();
    ASSERT_EQ(slots.size(), 2u) << json::serialize(service(d, "replication_slots"));
    EXPECT_EQ(slots[0].at("name"), "replica_1_slot");
    EXPECT_EQ(slots[0].at("active"), true);
    EXPECT_EQ(service(d, "transaction_ids").at("oldest_database").is_string(), true);
    EXPECT_GT(service(d, "transaction_ids").at("xid_age").as_int64(), 0);
    EXPECT_EQ(service(d, "partitions").at("status"), "healthy");
    // No secret of the configuration in the document.
    auto env = read_env_file(Topology::get().env_file().string());
    ASSERT_TRUE(env.ok());
    std::string body = json::serialize(d.doc);
    for (const char* name :
         {"DATABASE_URL", "PGBOUNCER_ADMIN_URL", "REDIS_URL", "YW_ADMIN_TOKEN", "AWS_SECRET_ACCESS_KEY"}) {
        if (auto it = env->find(name); it != env->end() && !it->second.empty()) {
            EXPECT_EQ(body.find(it->second), std::string::npos) << name << " leaked into " << body;
        }
    }
    for (const char* secret : {"password", "postgresql://", "redis://"})
        EXPECT_EQ(body.find(secret), std::string::npos) << secret << " in " << body;
}

TEST(HealthDetailed, WithoutTheAdminTokenOnlyStatusAndTimestamp) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_TRUE(all_healthy(wait_for(port, all_healthy)));
    auto none = get_detailed(port, false);
    EXPECT_EQ(none.status, 200);
    EXPECT_EQ(keys_of(none.doc), (Keys{"status", "timestamp"})) << json::serialize(none.doc);
    auto wrong = http_request(port, "GET", "/health/detailed", {},
                              {{"Authorization", "Bearer " + admin_token() + "x"}});
    EXPECT_EQ(keys_of(json::parse(wrong.body).as_object()), (Keys{"status", "timestamp"})) << wrong.body;
    EXPECT_EQ(wrong.headers["cache-control"], "no-store");
}

constexpr int kClients = 50, kEach = 20;

// kClients clients, each making kEach calls one after another (with and without the admin token): the 200s.
int storm(int port) {
    std::vector<std::future<int>> calls;
    for (int i = 0; i < kClients; ++i) {
        calls.push_back(std::async(std::launch::async, [port, i] {
            int ok = 0;
            for (int k = 0; k < kEach; ++k) ok += get_detailed(port, (i + k) % 2 == 0).status == 200;
            return ok;
        }));
    }
    int answered = 0;
    for (auto& c : calls) answered += c.get();
    return answered;
}

TEST(HealthDetailed, AStormOfRequestsCostsOneProbeRound) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port, 30000));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_EQ(metric_value(port, "yw_health_probe_rounds_total"), 0);
    // 1,000 calls from 50 clients at once, all within the 30 s a round is shared (ASan on a busy CI machine).
    EXPECT_EQ(storm(port), kClients * kEach);
    EXPECT_EQ(metric_value(port, "yw_health_probe_rounds_total"), 1);
}

// The same storm with rounds shared for 1 ms only: rounds start and end all the while, each with waiters on
// other sessions' strands. Under ASan this is what found a capturing lambda destroyed twice in the round's
// co_await (GCC 12; tests/unit/source_rules_test.cpp).
TEST(HealthDetailed, AStormWithRoundsStartingAllTheTimeAnswersEveryCall) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port, 1));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    EXPECT_EQ(storm(port), kClients * kEach);
    const double rounds = metric_value(port, "yw_health_probe_rounds_total");
    EXPECT_GT(rounds, 1);
    EXPECT_LE(rounds, kClients * kEach);  // single-flight: never more rounds than calls
    EXPECT_TRUE(server.running()) << server.log();
}

TEST(HealthDetailed, YwctlHealthProbesByItselfAndReadsTheEndpoint) {
    auto direct = ywctl({"health", "--json"});
    EXPECT_EQ(direct.exit_code, 0) << direct.output;
    auto doc = json_of(direct);
    EXPECT_EQ(doc.at("status"), "healthy") << direct.output;
    EXPECT_EQ(doc.at("services").at("queries").at("status"), "unknown");  // no query monitor in ywctl
    EXPECT_EQ(doc.at("services").at("database").at("replicas").as_array().size(), 2u);
    auto table = ywctl({"health"});
    EXPECT_EQ(table.exit_code, 0) << table.output;
    EXPECT_NE(table.output.find("✓"), std::string::npos) << table.output;

    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    wait_for(port, all_healthy);
    auto remote = ywctl({"health", "--json", "--url", fmt::format("http://127.0.0.1:{}", port)});
    EXPECT_EQ(remote.exit_code, 0) << remote.output;
    EXPECT_EQ(json_of(remote).at("services").at("queries").at("status"), "healthy") << remote.output;
    auto unreachable = ywctl({"health", "--url", fmt::format("http://127.0.0.1:{}", free_port())});
    EXPECT_EQ(unreachable.exit_code, 3) << unreachable.output;
}

// --- faults: each restores the topology ---

TEST(HealthDetailedFaults, AStoppedReplicaIsDisconnectedAndTheDatabaseDegraded) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_TRUE(all_healthy(wait_for(port, all_healthy)));
    Restore restore;
    ASSERT_TRUE(node::stop(Topology::get().local().data_dir("replica-2")).ok());
    auto d = wait_for(port, [](const Detailed& d) {
        return d.doc.contains("services") &&
               service(d, "database").at("replicas").as_array().at(1).at("connected") == false;
    });
    ASSERT_TRUE(d.doc.contains("services")) << d.status;
    const auto& replica2 = service(d, "database").at("replicas").as_array().at(1).as_object();
    EXPECT_EQ(replica2.at("name"), "replica-2");
    EXPECT_EQ(replica2.at("connected"), false) << json::serialize(d.doc);
    EXPECT_TRUE(replica2.at("lag").is_null());
    EXPECT_EQ(service(d, "database").at("status"), "degraded");
    EXPECT_EQ(service(d, "database").at("replicas").as_array().at(0).at("connected"), true);
    EXPECT_EQ(d.doc.at("status"), "degraded") << json::serialize(d.doc);
    EXPECT_EQ(d.status, 200);
    // ywctl's own round says the same, with Nagios' WARNING.
    auto cli = ywctl({"health", "--json"});
    EXPECT_EQ(cli.exit_code, 1) << cli.output;
}

TEST(HealthDetailedFaults, AStoppedPgBouncerIsUnhealthy) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_TRUE(all_healthy(wait_for(port, all_healthy)));
    Restore restore;
    auto pidfile = Topology::get().dir() / "pgbouncer" / "pgbouncer.pid";
    int pid = std::stoi(read_text(pidfile));
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    ASSERT_TRUE(wait_until(10s, [&] { return !node::process_alive(pid); }));
    auto d = wait_for(port, [](const Detailed& d) { return d.status == 503; });
    EXPECT_EQ(d.status, 503) << json::serialize(d.doc);
    ASSERT_TRUE(d.doc.contains("services"));
    EXPECT_EQ(service(d, "pgbouncer").at("status"), "unhealthy");
    EXPECT_TRUE(service(d, "pgbouncer").at("waiting_clients").is_null());
    EXPECT_TRUE(service(d, "pgbouncer").contains("error"));
    EXPECT_EQ(d.doc.at("status"), "unhealthy");
    auto cli = ywctl({"health", "--json"});
    EXPECT_EQ(cli.exit_code, 2) << cli.output;
}

TEST(HealthDetailedFaults, PausedReplayDegradesTheReplicaAndTheDatabase) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_TRUE(all_healthy(wait_for(port, all_healthy)));
    PausedReplay pause("replica-1");
    ASSERT_TRUE(pause.paused());
    // Within one shared round (the TTL) and its deadline, plus a margin: the pause itself degrades it, long
    // before the lag it causes would (a paused replica on an idle primary stays at 0 ms for a while).
    auto d = wait_for(
        port,
        [](const Detailed& d) {
            return d.doc.contains("services") && service(d, "database").at("status") == "degraded";
        },
        4s);
    ASSERT_TRUE(d.doc.contains("services")) << d.status;
    EXPECT_EQ(service(d, "database").at("status"), "degraded") << json::serialize(d.doc);
    const auto& replica1 = service(d, "database").at("replicas").as_array().at(0).as_object();
    EXPECT_EQ(replica1.at("connected"), true);
    EXPECT_NE(json::serialize(replica1).find("paused"), std::string::npos) << json::serialize(replica1);
    EXPECT_EQ(d.status, 200);
    // Resumed, it is healthy again.
    ASSERT_TRUE(pause.resume());
    EXPECT_TRUE(all_healthy(wait_for(port, all_healthy)));
}

TEST(HealthDetailedFaults, AStoppedPrimaryIsUnhealthyWithinTheDeadline) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_TRUE(all_healthy(wait_for(port, all_healthy)));
    Restore restore;
    ASSERT_TRUE(node::stop(Topology::get().local().data_dir("primary")).ok());
    auto d = wait_for(port, [](const Detailed& d) { return d.status == 503; });
    EXPECT_EQ(d.status, 503) << json::serialize(d.doc);
    EXPECT_LT(d.took, kDeadline + 3000ms);
    ASSERT_TRUE(d.doc.contains("services")) << json::serialize(d.doc);
    const auto& db = service(d, "database");
    EXPECT_EQ(db.at("status"), "unhealthy");
    EXPECT_EQ(db.at("primary").at("connected"), false) << json::serialize(db);
    EXPECT_TRUE(db.at("primary").as_object().contains("error"));
    EXPECT_EQ(d.doc.at("status"), "unhealthy");
    // The replicas still answer: the page shows which part is down.
    EXPECT_EQ(db.at("replicas").as_array().at(0).at("connected"), true) << json::serialize(db);
    auto cli = ywctl({"health", "--json"});
    EXPECT_EQ(cli.exit_code, 2) << cli.output;
}

TEST(HealthDetailedFaults, AStoppedRedisIsUnhealthyAndTheDatabaseStaysHealthy) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_TRUE(all_healthy(wait_for(port, all_healthy)));
    Restore restore;
    int pid = std::stoi(read_text(Topology::get().dir() / "redis" / "redis.pid"));
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    ASSERT_TRUE(wait_until(10s, [&] { return !node::process_alive(pid); }));
    auto d = wait_for(port, [](const Detailed& d) { return d.status == 503; });
    EXPECT_EQ(d.status, 503) << json::serialize(d.doc);
    EXPECT_LT(d.took, kDeadline + 3000ms);
    ASSERT_TRUE(d.doc.contains("services"));
    EXPECT_EQ(service(d, "redis").at("status"), "unhealthy");
    EXPECT_TRUE(service(d, "redis").at("memory").is_null());
    EXPECT_TRUE(service(d, "redis").contains("error"));
    EXPECT_EQ(service(d, "database").at("status"), "healthy");
}

// A frozen process accepts connections (the kernel does) and never answers: only deadlines help.
void expect_frozen_is_unhealthy_within_the_deadline(const char* what, const std::filesystem::path& pidfile) {
    int port = free_port();
    auto env = server_env(port);
    // The Redis client replaces a connection silent for YW_REDIS_COMMAND_TIMEOUT_MS (250 ms), which would
    // answer for a probe without a deadline of its own: make it slower than the probe's deadline.
    env.push_back("YW_REDIS_COMMAND_TIMEOUT_MS=10000");
    Child server("ywmsgd", {}, env);
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_TRUE(all_healthy(wait_for(port, all_healthy)));
    std::this_thread::sleep_for(1100ms);  // past the TTL: the next request runs a round
    Frozen frozen(pidfile);
    ASSERT_TRUE(frozen.ok());
    auto d = get_detailed(port);
    EXPECT_EQ(d.status, 503) << json::serialize(d.doc);
    // The round's deadline plus a margin for a loaded CI machine (ASan): never the minutes a hang would take.
    // Margin for a loaded CI machine (it failed once at 1.5 s right after a build); without the probe's own
    // deadline the answer takes the raised Redis command timeout, 10 s, and this still fails.
    EXPECT_LT(d.took, kDeadline + 3000ms);
    ASSERT_TRUE(d.doc.contains("services"));
    EXPECT_EQ(service(d, what).at("status"), "unhealthy") << json::serialize(d.doc);
    EXPECT_EQ(service(d, "database").at("status"), "healthy") << json::serialize(d.doc);
}

TEST(HealthDetailedFaults, AFrozenRedisIsUnhealthyWithinTheDeadline) {
    expect_frozen_is_unhealthy_within_the_deadline("redis", Topology::get().dir() / "redis" / "redis.pid");
}

TEST(HealthDetailedFaults, AFrozenPgBouncerIsUnhealthyWithinTheDeadline) {
    expect_frozen_is_unhealthy_within_the_deadline("pgbouncer",
                                                   Topology::get().dir() / "pgbouncer" / "pgbouncer.pid");
}

}  // namespace
}  // namespace yw::test
