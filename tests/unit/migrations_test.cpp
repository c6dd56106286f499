// Migration file naming and ordering (pure logic; applying them is tested against a real primary).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pg/migrator.hpp"

namespace yw::pg {
namespace {

TEST(Migrations, ParsesWellFormedNames) {
    Migration m;
    ASSERT_TRUE(parse_migration_filename("0001_initial_schema.sql", m));
    EXPECT_EQ(m.version, 1);
    EXPECT_EQ(m.name, "initial_schema");
    ASSERT_TRUE(parse_migration_filename("0042_add_index2.sql", m));
    EXPECT_EQ(m.version, 42);
}

TEST(Migrations, RejectsMalformedNames) {
    Migration m;
    for (const char* bad : {"1_x.sql", "00001_x.sql", "0001-x.sql", "0001_X.sql", "0001_.sql",
                            "0001_x.sql.bak", "0000_zero.sql", "abcd_x.sql", "0001_x y.sql"}) {
        EXPECT_FALSE(parse_migration_filename(bad, m)) << bad;
    }
}

TEST(Migrations, OrdersByVersionNotByDiscovery) {
    std::vector<Migration> found = {
        {10, "ten", "0010_ten.sql"}, {2, "two", "0002_two.sql"}, {1, "one", "0001_one.sql"}};
    auto ordered = order_migrations(found);
    ASSERT_TRUE(ordered.ok());
    ASSERT_EQ(ordered->size(), 3u);
    EXPECT_EQ((*ordered)[0].version, 1);
    EXPECT_EQ((*ordered)[1].version, 2);
    EXPECT_EQ((*ordered)[2].version, 10);
}

TEST(Migrations, DuplicateVersionsAreAnError) {
    std::vector<Migration> found = {{3, "a", "0003_a.sql"}, {3, "b", "0003_b.sql"}};
    auto ordered = order_migrations(found);
    ASSERT_FALSE(ordered.ok());
    EXPECT_NE(ordered.error().message.find("0003"), std::string::npos);
}

TEST(Migrations, ListsADirectoryAndIgnoresOtherFiles) {
    auto dir = std::filesystem::path(testing::TempDir()) / "yw_migrations_list";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    for (const char* f : {"0002_second.sql", "0001_first.sql", "README.md"})
        std::ofstream(dir / f) << "SELECT 1;";
    auto listed = list_migrations(dir);
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_EQ(listed->size(), 2u);
    EXPECT_EQ((*listed)[0].name, "first");
    EXPECT_EQ((*listed)[1].name, "second");
    std::ofstream(dir / "3_bad.sql") << "SELECT 1;";
    auto bad = list_migrations(dir);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("3_bad.sql"), std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST(Migrations, TheShippedMigrationsAreWellFormed) {
    auto listed = list_migrations(YW_DEFAULT_MIGRATIONS_DIR);
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_FALSE(listed->empty());
    EXPECT_EQ((*listed)[0].version, 1);
}

TEST(Migrations, MissingDirectory) {
    auto listed = list_migrations("/nonexistent/migrations");
    ASSERT_FALSE(listed.ok());
    EXPECT_NE(listed.error().message.find("/nonexistent/migrations"), std::string::npos);
}

}  // namespace
}  // namespace yw::pg
