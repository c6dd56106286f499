// Replica-aware routing in ywmsgd on the real topology: reads spread over both replicas, read-your-writes,
// a node that never answers, a paused replica, PgBouncer restarted, and — last, because it breaks the
// topology — the primary killed with SIGKILL, a replica promoted, and the old primary fenced when it returns.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "cluster/local_topology.hpp"
#include "common/config.hpp"
#include "common/process.hpp"
#include "node/control.hpp"
#include "support/api_client.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr pg::Query kMessageById{"test.message_by_id",
                                 "SELECT count(*) AS n FROM conversation_message WHERE id = $1::uuid"};

std::string reads_of(const std::string& node) {
    return fmt::format("yw_db_route_statements_total{{node=\"{}\",kind=\"read\"}}", node);
}

class Routing : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        port_ = free_port();
        server_ = new Child("ywmsgd", {},
                            {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                             fmt::format("YW_HTTP_PORT={}", port_), "YW_LOG_LEVEL=warn",
                             // Routing is about the database: no cache answering in its place.
                             "YW_CACHE_ENABLED=false"});
        ASSERT_TRUE(wait_for_port(port_, 20s)) << server_->log();
        api_ = new ApiClient(port_, admin_token_of(Topology::get()));
        tenant_ = api_->make_tenant("routing");
        ASSERT_FALSE(tenant_.key.empty()) << server_->log();
        user_ = api_->make_user(tenant_, "Ruth");
        conversation_ = api_->make_conversation(tenant_, user_);
    }
    static void TearDownTestSuite() {
        if (server_) server_->terminate();
        delete server_;
        delete api_;
        server_ = nullptr;
        api_ = nullptr;
    }

    static HttpResponse post_message(const std::string& text) {
        return api_->as(tenant_.key, "POST", "/v1/conversations/" + conversation_ + "/messages",
                        json::serialize(json::object{{"content", text}}));
    }
    static HttpResponse latest() {
        return api_->as(tenant_.key, "GET", "/v1/conversations/" + conversation_ + "/messages?limit=5");
    }
    static json::object health() { return parse_object(api_->call("GET", "/health")); }
    static json::object node_in_health(const json::object& h, const std::string& name) {
        if (!h.contains("checks") || !h.at("checks").as_object().contains("topology")) return {};
        for (const auto& n : h.at("checks").at("topology").at("nodes").as_array()) {
            if (n.at("name").as_string() == name) return n.as_object();
        }
        return {};
    }
    // Waits (up to `limit`) until `ok` holds.
    static bool eventually(const std::function<bool()>& ok, std::chrono::milliseconds limit = 10s) {
        auto until = Clock::now() + limit;
        while (Clock::now() < until) {
            if (ok()) return true;
            std::this_thread::sleep_for(100ms);
        }
        return ok();
    }

    static inline int port_ = 0;
    static inline Child* server_ = nullptr;
    static inline ApiClient* api_ = nullptr;
    static inline ApiTenant tenant_;
    static inline std::string user_;
    static inline std::string conversation_;
};

TEST_F(Routing, HealthListsEveryNodeWithItsRole) {
    ASSERT_TRUE(eventually([] { return node_in_health(health(), "replica-2").contains("readable"); }));
    auto h = health();
    EXPECT_EQ(h.at("status").as_string(), "healthy") << json::serialize(h);
    EXPECT_EQ(h.at("checks").at("topology").at("primary").as_string(), "primary");
    EXPECT_EQ(node_in_health(h, "primary").at("role").as_string(), "primary");
    for (const char* r : {"replica-1", "replica-2"}) {
        auto n = node_in_health(h, r);
        EXPECT_EQ(n.at("role").as_string(), "replica") << json::serialize(h);
        EXPECT_TRUE(n.at("readable").as_bool()) << json::serialize(h);
    }
    EXPECT_TRUE(h.at("checks").at("topology").at("pgbouncer").at("leads_to_primary").as_bool());
}

TEST_F(Routing, ReadsSpreadOverBothReplicas) {
    ASSERT_EQ(post_message("spread").status, 201);
    std::this_thread::sleep_for(2500ms);  // two probe rounds: the replicas are seen past the write
    double r1 = api_->metric(reads_of("replica-1")).value_or(0);
    double r2 = api_->metric(reads_of("replica-2")).value_or(0);
    for (int i = 0; i < 40; ++i) ASSERT_EQ(latest().status, 200);
    EXPECT_GT(api_->metric(reads_of("replica-1")).value_or(0), r1 + 5);
    EXPECT_GT(api_->metric(reads_of("replica-2")).value_or(0), r2 + 5);
}

TEST_F(Routing, ATenantReadsItsOwnWritesAtOnce) {
    for (int i = 0; i < 30; ++i) {
        auto posted = post_message(fmt::format("ryw {}", i));
        ASSERT_EQ(posted.status, 201) << posted.body;
        std::string id(parse_object(posted).at("id").as_string());
        auto page = latest();
        ASSERT_EQ(page.status, 200) << page.body;
        auto data = parse_object(page).at("data").as_array();
        ASSERT_FALSE(data.empty());
        EXPECT_EQ(data[0].at("id").as_string(), id) << "read " << i << " missed its own write";
    }
    // Right after a write the snapshot has not seen the replicas pass it: those reads went to the primary.
    EXPECT_GT(
        api_->metric("yw_db_route_reads_on_primary_total{reason=\"tenant_write_not_replayed\"}").value_or(0),
        0);
}

TEST_F(Routing, AWriteThroughOneInstanceIsReadThroughAnother) {
    // The write position travels through Redis (ryw:{tenant}): the other instance's read waits for it too.
    int port = free_port();
    Child second("ywmsgd", {},
                 {"YW_CONFIG_FILE=" + Topology::get().env_file().string(),
                  fmt::format("YW_HTTP_PORT={}", port), "YW_LOG_LEVEL=warn", "YW_CACHE_ENABLED=false"});
    ASSERT_TRUE(wait_for_port(port, 20s)) << second.log();
    ApiClient other(port, admin_token_of(Topology::get()));
    for (int i = 0; i < 30; ++i) {
        auto posted = post_message(fmt::format("cross {}", i));
        ASSERT_EQ(posted.status, 201) << posted.body;
        std::string id(parse_object(posted).at("id").as_string());
        auto page = other.as(tenant_.key, "GET", "/v1/conversations/" + conversation_ + "/messages?limit=5");
        ASSERT_EQ(page.status, 200) << page.body;
        auto data = parse_object(page).at("data").as_array();
        ASSERT_FALSE(data.empty());
        EXPECT_EQ(data[0].at("id").as_string(), id)
            << "read " << i << " on the other instance missed the write";
    }
}

TEST_F(Routing, ANodeThatNeverAnswersIsMarkedDownAndNothingElseSuffers) {
    // A socket that listens but never accepts: connections hang in the backlog, nothing answers.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(fd, 1), 0);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    int blackhole = ntohs(addr.sin_port);

    auto env = read_env_file(Topology::get().env_file().string());
    ASSERT_TRUE(env.ok());
    std::string replicas =
        env->at("DATABASE_READ_REPLICAS") +
        fmt::format(",replica-3=postgresql://app_user@127.0.0.1:{}/ywmessaging", blackhole);
    int port = free_port();
    Child second(
        "ywmsgd", {},
        {"YW_CONFIG_FILE=" + Topology::get().env_file().string(), fmt::format("YW_HTTP_PORT={}", port),
         "YW_LOG_LEVEL=warn", "DATABASE_READ_REPLICAS=" + replicas});
    ASSERT_TRUE(wait_for_port(port, 20s)) << second.log();
    ApiClient other(port, admin_token_of(Topology::get()));
    auto node = [&] { return node_in_health(parse_object(other.call("GET", "/health")), "replica-3"); };
    ASSERT_TRUE(eventually([&] { return node().contains("error"); })) << second.log();
    EXPECT_FALSE(node().at("healthy").as_bool());
    for (int i = 0; i < 20; ++i) {
        auto r = other.as(tenant_.key, "GET", "/v1/users/" + user_);
        ASSERT_EQ(r.status, 200) << r.body;
    }
    // Every configured node has its series from the start: a missing one is a renamed metric, not zero reads.
    auto blackholed = other.metric(reads_of("replica-3"));
    ASSERT_TRUE(blackholed.has_value()) << reads_of("replica-3") << " is not in /metrics";
    EXPECT_EQ(*blackholed, 0);
    auto h = parse_object(other.call("GET", "/health"));
    EXPECT_NE(h.at("status").as_string(), "unhealthy");
    close(fd);
}

TEST_F(Routing, APausedReplicaLosesItsReads) {
    auto r1 = Topology::get().superuser("replica-1");
    ASSERT_TRUE(r1.simple_query("test.pause", "SELECT pg_wal_replay_pause()").ok());
    ASSERT_TRUE(
        eventually([] { return !node_in_health(health(), "replica-1").at("readable").as_bool(); }, 3s));
    // Another tenant, with no write of its own to wait for: only freshness decides.
    auto reader = api_->make_tenant("paused-reader");
    std::string user = api_->make_user(reader, "Naomi");
    std::this_thread::sleep_for(2500ms);
    auto before = api_->metric(reads_of("replica-1"));
    ASSERT_TRUE(before.has_value()) << reads_of("replica-1") << " is not in /metrics";
    double other_before = api_->metric(reads_of("replica-2")).value_or(0);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(api_->as(reader.key, "GET", "/v1/users/" + user).status, 200);
    EXPECT_EQ(api_->metric(reads_of("replica-1")), before);
    EXPECT_GT(api_->metric(reads_of("replica-2")).value_or(0), other_before);
    ASSERT_TRUE(r1.simple_query("test.resume", "SELECT pg_wal_replay_resume()").ok());
    EXPECT_TRUE(eventually([] { return node_in_health(health(), "replica-1").at("readable").as_bool(); }));
}

TEST_F(Routing, PgBouncerRestartedServiceContinues) {
    auto pidfile = Topology::get().dir() / "pgbouncer" / "pgbouncer.pid";
    std::ifstream in(pidfile);
    pid_t pid = 0;
    in >> pid;
    ASSERT_GT(pid, 0);
    // A second instance whose topology probes are 30 s apart, with its cache on (a fill reads a replica that
    // replayed the write, else the primary's node): whatever it does in the next seconds, it does without the
    // topology having noticed PgBouncer die.
    int port = free_port();
    Child slow_probes(
        "ywmsgd", {},
        {"YW_CONFIG_FILE=" + Topology::get().env_file().string(), fmt::format("YW_HTTP_PORT={}", port),
         "YW_LOG_LEVEL=warn", "YW_PROBE_INTERVAL_MS=30000"});
    ASSERT_TRUE(wait_for_port(port, 20s)) << slow_probes.log();
    ApiClient other(port, admin_token_of(Topology::get()));
    auto write = [&](const std::string& text) {
        return other.as(tenant_.key, "POST", "/v1/conversations/" + conversation_ + "/messages",
                        json::serialize(json::object{{"content", text}}));
    };
    auto read = [&] {
        return other.as(tenant_.key, "GET", "/v1/conversations/" + conversation_ + "/messages");
    };
    ASSERT_EQ(write("before").status, 201);  // pooled connections to PgBouncer, now idle
    ASSERT_EQ(read().status, 200);
    // Its first probe round (at start) has seen PgBouncer up: otherwise, slow to start (ASan on a busy
    // machine), that round could run after the kill, and the instance would know of it before any write found
    // out.
    ASSERT_TRUE(eventually([&] {
        auto h = parse_object(other.call("GET", "/health"));
        const auto* checks = h.if_contains("checks");
        const auto* t = checks && checks->is_object() ? checks->as_object().if_contains("topology") : nullptr;
        return t && t->is_object() && t->as_object().contains("probe_round") &&
               t->at("probe_round").to_number<std::int64_t>() >= 1 &&
               t->at("pgbouncer").at("leads_to_primary").as_bool();
    }));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] { return kill(pid, 0) != 0; }, 10s));
    // PgBouncer refuses the first write's connection (nothing reached a server): it goes straight to the
    // primary at once, and so does every write after it until the topology probes again.
    for (int i = 0; i < 20; ++i) {
        auto posted = write(fmt::format("pgbouncer down {}", i));
        ASSERT_EQ(posted.status, 201) << posted.body << slow_probes.log();
        auto page = read();
        ASSERT_EQ(page.status, 200) << page.body << slow_probes.log();
    }
    EXPECT_GE(other.metric("yw_db_route_entry_failovers_total").value_or(0), 1);
    // The fixture's instance, probing every second, notices too.
    EXPECT_TRUE(eventually([] { return post_message("pgbouncer down").status == 201; }, 5s));
    ASSERT_TRUE(Topology::get().local().up().ok());
    auto started = Clock::now();
    ASSERT_TRUE(eventually([] {
        return health().at("checks").at("topology").at("pgbouncer").at("leads_to_primary").as_bool();
    }));
    std::cout << "[ measure ] PgBouncer back in routing after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()
              << " ms\n";
    EXPECT_EQ(post_message("pgbouncer back").status, 201);
}

TEST_F(Routing, PrimaryKilledReadsKeepWorkingWritesFollowThePromotionOldPrimaryFenced) {
    ASSERT_EQ(post_message("before the crash").status, 201);
    std::this_thread::sleep_for(1500ms);
    std::atomic<bool> stop{false};
    std::atomic<int> reads{0}, failed{0};
    std::string last_failure;
    struct Joiner {  // stops and joins the reader even when an assertion returns early
        std::atomic<bool>& stop;
        std::thread& thread;
        ~Joiner() {
            stop = true;
            if (thread.joinable()) thread.join();
        }
    };
    std::thread reader([&] {
        while (!stop) {
            auto r = api_->as(tenant_.key, "GET", "/v1/users/" + user_);
            auto m = latest();
            reads += 2;
            if (r.status != 200 || m.status != 200) {
                ++failed;
                last_failure = r.status != 200 ? r.body : m.body;
            }
            std::this_thread::sleep_for(20ms);  // ~100 requests/s: within the key's rate limit
        }
    });
    Joiner joiner{stop, reader};
    std::ifstream in(Topology::get().dir() / "primary" / "postmaster.pid");
    pid_t postmaster = 0;
    in >> postmaster;
    ASSERT_GT(postmaster, 0);
    ASSERT_EQ(kill(postmaster, SIGKILL), 0);
    std::this_thread::sleep_for(2s);
    // Writes fail fast meanwhile: 503 with Retry-After, never a hang.
    auto during = post_message("during the outage");
    EXPECT_EQ(during.status, 503) << during.body;
    EXPECT_EQ(during.headers["retry-after"], "1");

    auto r1 = Topology::get().superuser("replica-1");
    ASSERT_TRUE(r1.simple_query("test.promote", "SELECT pg_promote()").ok());
    auto promoted = Clock::now();
    HttpResponse write;
    ASSERT_TRUE(eventually([&] { return (write = post_message("after the promotion")).status == 201; }, 10s))
        << write.body;
    std::cout << "[ measure ] writes resumed "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - promoted).count()
              << " ms after pg_promote() returned\n";
    std::this_thread::sleep_for(1s);
    stop = true;
    reader.join();
    EXPECT_EQ(failed.load(), 0) << "of " << reads.load() << " reads; last: " << last_failure;
    std::cout << "[ measure ] " << reads.load() << " reads during the primary's loss, " << failed.load()
              << " failed\n";

    auto h = health();
    EXPECT_EQ(h.at("checks").at("topology").at("primary").as_string(), "replica-1") << json::serialize(h);
    // PgBouncer still leads to the dead primary: writes bypass it, /health says so.
    EXPECT_FALSE(h.at("checks").at("topology").at("pgbouncer").at("leads_to_primary").as_bool());
    EXPECT_EQ(h.at("status").as_string(), "degraded");

    // The old primary comes back writable, on the old timeline: fenced, never written to.
    auto data = (Topology::get().dir() / "primary").string();
    ASSERT_FALSE(node::postmaster_running(data));  // waits until the killed postmaster is reaped
    auto started = run_process({node::postgres_bindir() + "/pg_ctl", "-D", data, "-w", "-t", "60", "start",
                                "-l", (Topology::get().dir() / "log" / "primary-restart.log").string()},
                               RunOptions{.as_user = "postgres"});
    ASSERT_TRUE(started.ok() && started->exit_code == 0)
        << (started.ok() ? started->output : started.error().message);
    ASSERT_TRUE(eventually([] {
        auto n = node_in_health(health(), "primary");
        return n.at("role").as_string() == "fenced" && n.at("healthy").as_bool();
    })) << json::serialize(health());
    h = health();
    EXPECT_EQ(h.at("status").as_string(), "degraded");
    EXPECT_NE(json::serialize(h.at("problems")).find("fenced"), std::string::npos) << json::serialize(h);
    auto after = post_message("after the old primary returned");
    ASSERT_EQ(after.status, 201) << after.body;
    std::vector<pg::Param> id{std::string(parse_object(after).at("id").as_string())};
    auto on_new = Topology::get().superuser("replica-1").query(kMessageById, id);
    auto on_old = Topology::get().superuser("primary").query(kMessageById, id);
    ASSERT_TRUE(on_new.ok() && on_old.ok());
    EXPECT_EQ(on_new->text(0, "n"), "1");
    EXPECT_EQ(on_old->text(0, "n"), "0");
}

}  // namespace
}  // namespace yw::test
