// ywmsgd as a process against the real topology: /health, configuration errors, auto-migration, graceful
// shutdown, and /health turning 503 when the primary stops (last: it breaks the topology).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/files.hpp"
#include "common/process.hpp"
#include "node/control.hpp"
#include "pg/queries.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;

constexpr pg::Query kMaxVersion{"test.max_version", "SELECT max(version) AS v FROM schema_migrations"};

std::vector<std::string> server_env(int port) {
    return {"YW_CONFIG_FILE=" + Topology::get().env_file().string(), fmt::format("YW_HTTP_PORT={}", port),
            "YW_HEALTH_TIMEOUT_MS=1000", "YW_LOG_FORMAT=json"};
}

TEST(Ywmsgd, HealthIsHealthyAgainstTheTopology) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    auto r = http_request(port, "GET", "/health");
    ASSERT_EQ(r.status, 200) << r.body << "\n" << server.log();
    auto doc = boost::json::parse(r.body).as_object();
    EXPECT_EQ(doc.at("status").as_string(), "healthy");
    EXPECT_FALSE(r.headers["x-request-id"].empty());
    EXPECT_EQ(r.headers["content-type"].substr(0, 16), "application/json");
    // A caller's request id is echoed, so logs can be joined across services.
    auto echoed = http_request(port, "GET", "/health", {}, {{"X-Request-Id", "trace-abc-123"}});
    EXPECT_EQ(echoed.headers["x-request-id"], "trace-abc-123");
    // Logs are JSON lines carrying the request id.
    EXPECT_EQ(server.terminate(), 0) << server.log();
    std::string log = server.log();
    EXPECT_NE(log.find("\"request_id\":\"trace-abc-123\""), std::string::npos) << log;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        boost::system::error_code ec;
        boost::json::parse(line, ec);
        EXPECT_FALSE(ec) << "not a JSON log line: " << line;
    }
}

// Prometheus's own linter on a live /metrics (after some traffic, so every family has samples): names, units,
// types and help texts as Prometheus conventions want them. promtool comes from Debian's prometheus package.
TEST(Ywmsgd, MetricsPassPromtoolCheckMetrics) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    for (int i = 0; i < 3; ++i) http_request(port, "GET", "/health");
    http_request(port, "GET", "/v1/users/not-a-uuid");  // a 401: counted too
    // Until the replicas have been probed, they have no lag sample.
    ASSERT_TRUE(
        wait_until(15s, [&] { return metric_value(port, "yw_db_node_up{node=\"replica-1\"}") == 1; }));
    auto metrics = http_request(port, "GET", "/metrics");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("yw_db_replica_lag_seconds{node=\"replica-1\"}"), std::string::npos)
        << metrics.body;
    std::string file = fmt::format("/tmp/yw-metrics-{}.txt", getpid());
    {
        std::ofstream out(file);
        out << metrics.body;
    }
    auto check = run_process({"sh", "-c", "promtool check metrics < " + file});
    std::remove(file.c_str());
    ASSERT_TRUE(check.ok()) << check.error().message;
    EXPECT_EQ(check->exit_code, 0) << check->output;
    EXPECT_EQ(check->output, "") << "promtool check metrics found:\n" << check->output;
}

TEST(Ywmsgd, InvalidConfigurationRefusesToStartAndNamesTheVariable) {
    struct Case {
        std::vector<std::string> env;
        std::string names;
    };
    std::vector<Case> cases = {
        {{"DATABASE_URL=postgresql://u@127.0.0.1:1/db", "YW_HTTP_PORT=http"}, "YW_HTTP_PORT"},
        {{"DATABASE_URL=", "YW_HTTP_PORT=8089"}, "DATABASE_URL"},
        {{"DATABASE_URL=postgresql://u@127.0.0.1:1/db", "REDIS_URL=localhost:6379"}, "REDIS_URL"},
        {{"DATABASE_URL=postgresql://u@127.0.0.1:1/db", "YW_HEALTH_TIMEOUT_MS=0"}, "YW_HEALTH_TIMEOUT_MS"},
    };
    for (const auto& c : cases) {
        auto r = run_built("ywmsgd", {}, c.env, 20s);
        EXPECT_EQ(r.exit_code, 78) << r.output;
        EXPECT_NE(r.output.find(c.names), std::string::npos) << r.output;
    }
    auto flag = run_built("ywmsgd", {"--bogus"}, {}, 20s);
    EXPECT_EQ(flag.exit_code, 64) << flag.output;
    auto missing_file = run_built("ywmsgd", {"--config", "/nonexistent/yw.env"}, {}, 20s);
    EXPECT_EQ(missing_file.exit_code, 78) << missing_file.output;
    EXPECT_NE(missing_file.output.find("/nonexistent/yw.env"), std::string::npos) << missing_file.output;
}

TEST(Ywmsgd, AutoMigrateAppliesTheSchemaBeforeListening) {
    auto admin = Topology::get().superuser("primary", "postgres");
    (void)admin.exec_script("test.drop", "DROP DATABASE IF EXISTS yw_auto_migrate WITH (FORCE)");
    ASSERT_TRUE(admin.exec_script("test.create", "CREATE DATABASE yw_auto_migrate OWNER app_user").ok());
    std::string url = Topology::get().connections().app_primary;
    url = url.substr(0, url.rfind('/') + 1) + "yw_auto_migrate";
    int port = free_port();
    Child server("ywmsgd", {},
                 {"DATABASE_URL=" + url, fmt::format("YW_HTTP_PORT={}", port), "YW_AUTO_MIGRATE=1"});
    ASSERT_TRUE(wait_for_port(port, 30s)) << server.log();
    auto conn = pg::SyncConnection::open(url);
    ASSERT_TRUE(conn.ok());
    auto v = conn->query(kMaxVersion);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->text(0, "v"), migration_versions().back());
    EXPECT_EQ(server.terminate(), 0);
}

TEST(Ywmsgd, SigtermDrainsAndExitsZero) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_EQ(http_request(port, "GET", "/health").status, 200);
    EXPECT_EQ(server.terminate(), 0) << server.log();
    EXPECT_FALSE(port_in_use(port));
}

// Last in this binary: stops the primary.
TEST(YwmsgdPrimaryDown, HealthAndReadinessTurn503WhenThePrimaryStopsLivenessStays) {
    int port = free_port();
    Child server("ywmsgd", {}, server_env(port));
    ASSERT_TRUE(wait_for_port(port, 20s)) << server.log();
    ASSERT_EQ(http_request(port, "GET", "/health").status, 200) << server.log();
    auto ready = http_request(port, "GET", "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_EQ(boost::json::parse(ready.body).at("status").as_string(), "ready");
    auto alive = http_request(port, "GET", "/livez");
    EXPECT_EQ(alive.status, 200) << alive.body;
    EXPECT_EQ(alive.headers["cache-control"], "no-store");

    RunOptions stop;
    stop.as_user = running_as_root() ? "postgres" : "";
    auto stopped =
        run_process({node::postgres_bindir() + "/pg_ctl", "-D", (Topology::get().dir() / "primary").string(),
                     "-m", "immediate", "-w", "stop"},
                    stop);
    ASSERT_TRUE(stopped.ok() && stopped->exit_code == 0)
        << (stopped.ok() ? stopped->output : stopped.error().message);

    auto r = http_request(port, "GET", "/health");
    ASSERT_EQ(r.status, 503) << r.body;
    auto doc = boost::json::parse(r.body).as_object();
    EXPECT_EQ(doc.at("status").as_string(), "unhealthy");
    // Kubernetes: out of rotation (readiness), but not restarted (liveness).
    auto not_ready = http_request(port, "GET", "/readyz");
    EXPECT_EQ(not_ready.status, 503) << not_ready.body;
    EXPECT_EQ(boost::json::parse(not_ready.body).at("status").as_string(), "not ready");
    EXPECT_NE(not_ready.body.find("the primary database does not answer"), std::string::npos)
        << not_ready.body;
    EXPECT_EQ(http_request(port, "GET", "/livez").status, 200);
    EXPECT_TRUE(server.running()) << "a dead primary must not take the server down";
    EXPECT_EQ(server.terminate(), 0) << server.log();
}

}  // namespace
}  // namespace yw::test
