// `ywctl query top`'s rules: PgHero's "slow", and the registry names of ywmsgd's statements — every one of
// pg/queries.hpp's statements is in kServerQueries (checked against the header's text, so a new statement
// cannot be forgotten).
#include "ops/query_top.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "common/files.hpp"
#include "pg/queries.hpp"

namespace yw::ops {
namespace {

TEST(QueryTop, PgHerosRuleNeedsBothAMeanAndCalls) {
    TopOptions o;
    EXPECT_TRUE(is_slow(20, 100, o));
    EXPECT_FALSE(is_slow(19.9, 100000, o));
    EXPECT_FALSE(is_slow(5000, 99, o));
    o.slow_min_calls = 1;
    EXPECT_TRUE(is_slow(5000, 1, o));
}

TEST(QueryTop, EveryServerStatementIsNamed) {
    auto header = read_text(std::string(YW_SOURCE_DIR) + "/src/pg/queries.hpp");
    std::regex defined(R"(inline constexpr Query (k\w+)\{)");
    std::size_t n =
        std::distance(std::sregex_iterator(header.begin(), header.end(), defined), std::sregex_iterator());
    EXPECT_EQ(std::size(pg::queries::kServerQueries), n)
        << "a statement of pg/queries.hpp is not in kServerQueries";
    std::set<std::string_view> names;
    for (const auto* q : pg::queries::kServerQueries) EXPECT_TRUE(names.insert(q->name).second) << q->name;
}

TEST(QueryTop, RegistryNamesMatchTheTextPgStatStatementsKeeps) {
    EXPECT_EQ(registry_name(pg::queries::kMessagesRecent.sql), "messages.recent");
    EXPECT_EQ(registry_name("  " + std::string(pg::queries::kUserGet.sql) + ";\n"), "users.get");
    EXPECT_EQ(registry_name("SELECT 1"), "health.ping");  // ours too
    EXPECT_EQ(registry_name("SELECT 2"), "");
}

}  // namespace
}  // namespace yw::ops
