// Migrations against a real primary: a failing one rolls back and leaves schema_migrations alone; concurrent
// runners through PgBouncer apply each version exactly once; `ywctl db status` reports pending ones.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "pg/migrator.hpp"
#include "pg/queries.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

namespace fs = std::filesystem;

constexpr pg::Query kVersions{"test.versions", "SELECT version FROM schema_migrations ORDER BY version"};
constexpr pg::Query kTableExists{"test.table_exists", "SELECT to_regclass($1) IS NOT NULL AS present"};
constexpr pg::Query kPartitionCount{
    "test.partition_count",
    "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'conversation_message'::regclass"};

// A fresh database owned by app_user; its URL goes straight to the primary.
std::string fresh_database(const std::string& name) {
    auto admin = Topology::get().superuser("primary", "postgres");
    (void)admin.exec_script("test.drop_db", fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name));
    auto s = admin.exec_script("test.create_db", fmt::format("CREATE DATABASE {} OWNER app_user", name));
    EXPECT_TRUE(s.ok()) << s.error().message;
    std::string url = Topology::get().connections().app_primary;
    return url.substr(0, url.rfind('/') + 1) + name;
}

fs::path migrations_with(const std::string& dir_name,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
    fs::path dir = fs::temp_directory_path() / dir_name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy(fs::path(YW_SOURCE_DIR) / "sql" / "migrations", dir, fs::copy_options::recursive);
    for (const auto& [name, sql] : extra) std::ofstream(dir / name) << sql;
    return dir;
}

// The tests' own migrations are numbered after the real ones (migration_versions()).
constexpr int kTestVersion = 900;

std::vector<std::string> versions(const std::string& url) {
    auto c = pg::SyncConnection::open(url);
    EXPECT_TRUE(c.ok());
    auto rows = c->query(kVersions);
    EXPECT_TRUE(rows.ok()) << rows.error().message;
    std::vector<std::string> out;
    for (size_t i = 0; i < rows->size(); ++i) out.push_back(rows->text(i, "version"));
    return out;
}

TEST(Migrations, AFailingMigrationRollsBackWholeAndExitsNonZero) {
    std::string url = fresh_database("yw_mig_fail");
    fs::path dir = migrations_with("yw_mig_fail", {{"0900_broken.sql",
                                                    "CREATE TABLE half_done (id int);\n"
                                                    "INSERT INTO half_done VALUES (1);\n"
                                                    "SELECT * FROM no_such_table;\n"}});
    auto r =
        run_built("ywctl", {"db", "migrate"}, {"DATABASE_URL=" + url, "YW_MIGRATIONS_DIR=" + dir.string()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("relation \"no_such_table\" does not exist"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("0900_broken"), std::string::npos) << r.output;
    // The real migrations landed, each in its own transaction; 0900 left nothing behind.
    EXPECT_EQ(versions(url), migration_versions());
    auto c = pg::SyncConnection::open(url);
    ASSERT_TRUE(c.ok());
    auto half = c->query(kTableExists, {"half_done"});
    ASSERT_TRUE(half.ok());
    EXPECT_EQ(half->text(0, "present"), "f");

    auto status = run_built("ywctl", {"--json", "db", "status"},
                            {"DATABASE_URL=" + url, "YW_MIGRATIONS_DIR=" + dir.string()});
    EXPECT_EQ(status.exit_code, 1) << status.output;  // WARNING: one pending
    EXPECT_NE(status.output.find("\"pending\":1"), std::string::npos) << status.output;
    fs::remove_all(dir);
}

TEST(Migrations, ConcurrentRunnersThroughPgBouncerApplyEachVersionOnce) {
    std::string direct = fresh_database("ywmessaging_concurrent");
    // Four runners race on a fresh database (direct: PgBouncer serves only ywmessaging); the advisory lock
    // makes three of them wait and then find 0900 applied.
    fs::path dir = migrations_with("yw_mig_concurrent", {{"0900_slow.sql",
                                                          "SELECT pg_sleep(0.5);\n"
                                                          "CREATE TABLE concurrency_marker (id int);\n"}});
    std::vector<Result<pg::MigrationReport>> results;
    std::mutex m;
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&] {
            auto r = pg::migrate(direct, dir);
            std::lock_guard lock(m);
            results.push_back(std::move(r));
        });
    }
    for (auto& t : threads) t.join();
    size_t applied_test = 0;
    for (auto& r : results) {
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ(r->current_version, kTestVersion);
        for (const auto& mig : r->applied) applied_test += mig.version == kTestVersion;
    }
    EXPECT_EQ(applied_test, 1u);
    auto expected = migration_versions();
    expected.push_back(std::to_string(kTestVersion));
    EXPECT_EQ(versions(direct), expected);

    // Through PgBouncer in transaction pooling, as ywmsgd with YW_AUTO_MIGRATE=1 does: nothing pending, no
    // error.
    auto through_bouncer =
        pg::migrate(Topology::get().connections().pgbouncer, fs::path(YW_SOURCE_DIR) / "sql" / "migrations");
    ASSERT_TRUE(through_bouncer.ok()) << through_bouncer.error().message;
    EXPECT_TRUE(through_bouncer->applied.empty());
    fs::remove_all(dir);
}

TEST(Migrations, TheInitialSchemaCreatesTheProductionWindow) {
    auto app = Topology::get().app();
    auto n = app.query(kPartitionCount);
    ASSERT_TRUE(n.ok());
    EXPECT_GE(std::stoi(n->text(0, "n")), 27);
    for (const char* table :
         {"tenants", "api_keys", "users", "conversations", "conversation_message", "api_audit_log"}) {
        auto t = app.query(kTableExists, {table});
        ASSERT_TRUE(t.ok());
        EXPECT_EQ(t->text(0, "present"), "t") << table;
    }
}

TEST(Migrations, InvalidConfigurationNamesTheVariable) {
    auto r = run_built("ywctl", {"db", "migrate"}, {"DATABASE_URL=postgresql://x:notaport/db"});
    EXPECT_EQ(r.exit_code, 78) << r.output;
    EXPECT_NE(r.output.find("DATABASE_URL"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace yw::test
