// `ywctl pool status|resize|leaks` (RB-5, RB-6, RB-7) against the topology's real PgBouncer: a healthy pool,
// a console that never answers, an exhausted pool with a waiting client, a leaked transaction found and
// terminated, resizing through pgbouncer.ini + RELOAD and its refusals.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "pg/queries.hpp"
#include "support/ops_helpers.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;

constexpr pg::Query kBegin{"test.begin", "BEGIN"};
constexpr pg::Query kSelectOne{"test.select_one", "SELECT 1 AS one"};

std::string ini_text() {
    std::ifstream in(Topology::get().dir() / "pgbouncer" / "pgbouncer.ini");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string show_config(const std::string& key) {
    auto admin = pg::SyncConnection::open(Topology::get().connections().pgbouncer_admin);
    if (!admin) return "";
    auto rows = admin->simple_query("test.show_config", "SHOW CONFIG");
    if (!rows) return "";
    for (const auto& row : rows->rows) {
        if (row[0].value_or("") == key) return row[1].value_or("");
    }
    return "";
}

const boost::json::object* pool_of(const boost::json::object& doc, const std::string& user) {
    for (const auto& p : doc.at("data").at("pools").as_array()) {
        if (p.at("database").as_string() == "ywmessaging" && p.at("user").as_string() == user)
            return &p.as_object();
    }
    return nullptr;
}

TEST(PoolStatus, AHealthyPoolIsOk) {
    auto app = Topology::get().app();  // opens the app_user pool
    ASSERT_TRUE(app.query(kSelectOne).ok());
    auto r = ywctl({"--json", "pool", "status"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("status").as_string(), "ok");
    EXPECT_EQ(check_status(doc, "pgbouncer reachable"), "ok");
    EXPECT_EQ(check_status(doc, "ywmessaging/app_user cl_waiting"), "ok") << r.output;
    EXPECT_EQ(check_status(doc, "ywmessaging/app_user free servers"), "ok");
    const auto* pool = pool_of(doc, "app_user");
    ASSERT_NE(pool, nullptr) << r.output;
    EXPECT_EQ(pool->at("pool_size").as_int64(), 50);
    EXPECT_EQ(doc.at("data").at("config").at("pool_mode").as_string(), "transaction");
}

TEST(PoolStatus, AConsoleThatNeverAnswersIsCritical) {
    SilentPort silent;
    auto url = fmt::format("postgresql://pgbouncer@127.0.0.1:{}/pgbouncer", silent.port());
    auto r = ywctl({"--json", "pool", "status", "--timeout", "2"}, {"PGBOUNCER_ADMIN_URL=" + url});
    EXPECT_FALSE(r.timed_out);
    ASSERT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(check_status(json_of(r), "pgbouncer reachable"), "critical");
    EXPECT_EQ(ywctl({"pool", "status"}, {"PGBOUNCER_ADMIN_URL="}).exit_code, 78);
}

TEST(PoolResize, ResizesThroughTheIniAndReload) {
    auto dry = ywctl({"pool", "resize", "60", "--dry-run"});
    ASSERT_EQ(dry.exit_code, 0) << dry.output;
    EXPECT_NE(dry.output.find("default_pool_size 50 → 60"), std::string::npos) << dry.output;
    EXPECT_EQ(show_config("default_pool_size"), "50");
    EXPECT_EQ(ywctl({"pool", "resize", "60"}).exit_code, 64);  // no --yes, no terminal
    EXPECT_EQ(show_config("default_pool_size"), "50");

    auto r = ywctl({"--json", "pool", "resize", "60", "--yes"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto doc = json_of(r);
    EXPECT_EQ(doc.at("from").as_int64(), 50);
    EXPECT_EQ(doc.at("verified_default_pool_size").as_int64(), 60);
    EXPECT_EQ(show_config("default_pool_size"), "60");
    EXPECT_NE(ini_text().find("default_pool_size = 60"), std::string::npos);
    EXPECT_NE(ini_text().find("reserve_pool_size = 5"), std::string::npos);  // the rest kept
    EXPECT_TRUE(std::filesystem::exists(Topology::get().dir() / "pgbouncer" / "pgbouncer.ini.bak"));
    // The pools follow without a restart.
    auto app = Topology::get().app();
    ASSERT_TRUE(app.query(kSelectOne).ok());
    auto status = json_of(ywctl({"--json", "pool", "status"}));
    ASSERT_NE(pool_of(status, "app_user"), nullptr);
    EXPECT_EQ(pool_of(status, "app_user")->at("pool_size").as_int64(), 60);

    auto again = ywctl({"pool", "resize", "60", "--yes"});
    EXPECT_EQ(again.exit_code, 0);
    EXPECT_NE(again.output.find("already 60"), std::string::npos) << again.output;
    ASSERT_EQ(ywctl({"pool", "resize", "50", "--yes"}).exit_code, 0);
    EXPECT_EQ(show_config("default_pool_size"), "50");
}

TEST(PoolResize, RefusesSizesThePrimaryCannotServe) {
    // max_connections 200 - superuser_reserved_connections 3 = 197 < 195 + reserve_pool_size 5.
    auto r = ywctl({"pool", "resize", "195", "--yes"});
    EXPECT_EQ(r.exit_code, 64) << r.output;
    EXPECT_NE(r.output.find("max_connections"), std::string::npos) << r.output;
    EXPECT_EQ(ywctl({"pool", "resize", "0", "--yes"}).exit_code, 64);
    EXPECT_EQ(ywctl({"pool", "resize", "abc", "--yes"}).exit_code, 64);
    EXPECT_EQ(ywctl({"pool", "resize", "60", "--yes"}, {"PGBOUNCER_INI="}).exit_code, 78);
    EXPECT_EQ(show_config("default_pool_size"), "50");
}

TEST(PoolLeaks, AnExhaustedPoolIsFoundAndTheLeakTerminated) {
    ASSERT_EQ(ywctl({"pool", "resize", "1", "--yes"}).exit_code, 0);
    // A client that opened a transaction and went quiet holds the only server connection.
    auto leaker = Topology::get().app();
    ASSERT_TRUE(leaker.query(kBegin).ok());
    ASSERT_TRUE(leaker.query(kSelectOne).ok());
    // A second client now waits for it.
    std::atomic<bool> served{false};
    std::thread waiter([&] {
        auto c = pg::SyncConnection::open(Topology::get().connections().pgbouncer);
        if (c && c->query(kSelectOne).ok()) served = true;
    });
    boost::json::object status;
    for (int i = 0; i < 50; ++i) {
        std::this_thread::sleep_for(100ms);
        status = json_of(ywctl({"--json", "pool", "status"}));
        if (check_status(status, "ywmessaging/app_user cl_waiting") == "warning") break;
    }
    EXPECT_EQ(check_status(status, "ywmessaging/app_user cl_waiting"), "warning")
        << boost::json::serialize(status);
    EXPECT_EQ(check_status(status, "ywmessaging/app_user free servers"), "warning");
    EXPECT_EQ(status.at("status").as_string(), "warning");
    EXPECT_TRUE(any_contains(next_steps(status), "ywctl pool leaks"));
    std::this_thread::sleep_for(1100ms);

    auto leaks = ywctl({"--json", "pool", "leaks", "--min-duration", "1"});
    EXPECT_EQ(leaks.exit_code, 1) << leaks.output;
    auto doc = json_of(leaks);
    EXPECT_EQ(check_status(doc, "idle in transaction"), "warning") << leaks.output;
    auto sessions = doc.at("data").at("long_running").as_array();
    ASSERT_EQ(sessions.size(), 1u) << leaks.output;
    EXPECT_EQ(sessions[0].at("state").as_string(), "idle in transaction");
    EXPECT_EQ(sessions[0].at("via_pgbouncer").as_string(), "ywmessaging/app_user");
    long long pid = sessions[0].at("pid").as_int64();
    EXPECT_TRUE(any_contains(next_steps(doc), fmt::format("ywctl pool leaks --terminate {}", pid)));

    auto refused = ywctl({"pool", "leaks", "--terminate", std::to_string(pid)});
    EXPECT_EQ(refused.exit_code, 64) << refused.output;
    EXPECT_NE(refused.output.find("idle in transaction"), std::string::npos) << refused.output;  // the plan

    auto killed = ywctl({"pool", "leaks", "--terminate", std::to_string(pid), "--yes"});
    EXPECT_EQ(killed.exit_code, 0) << killed.output;
    waiter.join();
    EXPECT_TRUE(served.load());  // served: by the freed server, or by the reserve pool after 5 s
    EXPECT_FALSE(leaker.query(kSelectOne).ok());

    auto after = ywctl({"--json", "pool", "leaks", "--min-duration", "1"});
    EXPECT_EQ(after.exit_code, 0) << after.output;
    ASSERT_EQ(ywctl({"pool", "resize", "50", "--yes"}).exit_code, 0);
}

TEST(PoolLeaks, TerminateRefusesWhatIsNotAClientSession) {
    EXPECT_EQ(ywctl({"pool", "leaks", "--terminate", "4000000", "--yes"}).exit_code, 64);
    auto primary = Topology::get().superuser("primary");
    constexpr pg::Query kWalsender{"test.walsender", "SELECT pid FROM pg_stat_replication LIMIT 1"};
    auto ws = primary.query(kWalsender);
    ASSERT_TRUE(ws.ok() && !ws->empty());
    auto r = ywctl({"pool", "leaks", "--terminate", ws->text(0, "pid"), "--yes"});
    EXPECT_EQ(r.exit_code, 64) << r.output;
    EXPECT_NE(r.output.find("walsender"), std::string::npos) << r.output;
    EXPECT_EQ(json_of(ywctl({"--json", "replicas", "check"})).at("status").as_string(), "ok");
}

}  // namespace
}  // namespace yw::test
