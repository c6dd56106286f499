// `ywctl index advise / create`'s pure parts: the columns a plan uses, the candidates built from them, index
// names PostgreSQL keeps whole, the per-partition build plan, and TABLE(COLUMNS) parsing.
#include "ops/index_advise.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "ops/index_build.hpp"

namespace yw::ops {
namespace {

namespace json = boost::json;
using Kind = ColumnUse::Kind;

// PostgreSQL 15's EXPLAIN (FORMAT JSON) of
//   SELECT * FROM adv_t a WHERE a.tenant = 3 AND a.created_at >= '2026-01-10' AND body <> 'it''s'
//   ORDER BY a.created_at DESC LIMIT 5
// on a table partitioned by month (fields other planners' output carries left out).
constexpr const char* kPartitionedPlan = R"json({"Node Type": "Limit", "Total Cost": 4530.18, "Plans": [
  {"Node Type": "Sort", "Total Cost": 4530.18, "Sort Key": ["a.created_at DESC"], "Plans": [
    {"Node Type": "Gather", "Total Cost": 4530.14, "Plans": [
      {"Node Type": "Append", "Total Cost": 3529.84, "Plans": [
        {"Node Type": "Seq Scan", "Relation Name": "adv_t_1", "Alias": "a_1", "Total Cost": 3529.83,
         "Filter": "((created_at >= '2026-01-10 00:00:00+00'::timestamp with time zone) AND (body <> 'it''s'::text) AND (tenant = 3))"},
        {"Node Type": "Seq Scan", "Relation Name": "adv_t_2", "Alias": "a_2", "Total Cost": 0.0,
         "Filter": "((created_at >= '2026-01-10 00:00:00+00'::timestamp with time zone) AND (body <> 'it''s'::text) AND (tenant = 3))"}
      ]}]}]}]})json";

std::optional<std::string> adv_root(const std::string& relation) {
    if (relation.rfind("adv_t", 0) == 0) return std::string("adv_t");
    if (relation == "users") return relation;
    return std::nullopt;
}

const std::map<std::string, std::set<std::string>> kColumns{
    {"adv_t", {"id", "tenant", "conv", "created_at", "body"}},
    {"users", {"id", "tenant_id", "email"}},
};

std::vector<ColumnUse> uses_of(const char* plan) {
    return column_uses(json::parse(plan).as_object(), adv_root, kColumns);
}

bool has(const std::vector<ColumnUse>& uses, const std::string& table, const std::string& column, Kind kind) {
    for (const auto& u : uses)
        if (u.table == table && u.column == column && u.kind == kind) return true;
    return false;
}

TEST(IndexAdvise, ReadsEqualityRangeAndSortColumnsOfAPartitionedPlan) {
    auto uses = uses_of(kPartitionedPlan);
    EXPECT_TRUE(has(uses, "adv_t", "tenant", Kind::kEquality));
    EXPECT_TRUE(has(uses, "adv_t", "created_at", Kind::kRange));
    // The sort names the table's alias "a"; the partitions are scanned as a_1 and a_2.
    EXPECT_TRUE(has(uses, "adv_t", "created_at", Kind::kSort));
    // <> is no index's business, and the literal 'it''s' holds no column.
    EXPECT_FALSE(has(uses, "adv_t", "body", Kind::kEquality));
    for (const auto& u : uses) EXPECT_NE(u.column, "s");
}

TEST(IndexAdvise, IgnoresFunctionsCastsOfColumnsAndUnknownRelations) {
    auto uses = uses_of(R"json({"Node Type": "Seq Scan", "Relation Name": "adv_t_1", "Alias": "adv_t_1",
        "Filter": "((lower(body) = 'x'::text) AND ((created_at)::date = '2026-01-01'::date) AND (conv = $1))",
        "Plans": [{"Node Type": "Seq Scan", "Relation Name": "elsewhere", "Filter": "(tenant = 1)"}]})json");
    EXPECT_TRUE(has(uses, "adv_t", "conv", Kind::kEquality));
    EXPECT_EQ(uses.size(), 1u);
}

TEST(IndexAdvise, QualifiedColumnsOfAJoinGoToTheirOwnTable) {
    auto uses = uses_of(R"json({"Node Type": "Nested Loop", "Plans": [
        {"Node Type": "Seq Scan", "Relation Name": "users", "Alias": "u", "Filter": "(u.email = 'a@b'::text)"},
        {"Node Type": "Index Scan", "Relation Name": "adv_t_1", "Alias": "m",
         "Index Cond": "(m.id = u.id)", "Filter": "(m.conv > 10)"}]})json");
    EXPECT_TRUE(has(uses, "users", "email", Kind::kEquality));
    EXPECT_TRUE(has(uses, "adv_t", "id", Kind::kEquality));
    EXPECT_TRUE(has(uses, "users", "id", Kind::kEquality) || has(uses, "adv_t", "id", Kind::kEquality));
    EXPECT_TRUE(has(uses, "adv_t", "conv", Kind::kRange));
}

TEST(IndexAdvise, CandidatesPutEqualityFirstThenOrderOrBound) {
    auto candidates = candidate_columns(uses_of(kPartitionedPlan), "adv_t", 3);
    ASSERT_GE(candidates.size(), 2u);
    EXPECT_EQ(candidates[0], (std::vector<std::string>{"tenant", "created_at"}));
    EXPECT_NE(std::find(candidates.begin(), candidates.end(), std::vector<std::string>{"tenant"}),
              candidates.end());
    EXPECT_NE(std::find(candidates.begin(), candidates.end(), std::vector<std::string>{"created_at"}),
              candidates.end());
    // No duplicates, no candidate over the limit.
    for (size_t i = 0; i < candidates.size(); ++i)
        for (size_t k = i + 1; k < candidates.size(); ++k) EXPECT_NE(candidates[i], candidates[k]);
    for (const auto& c : candidate_columns(uses_of(kPartitionedPlan), "adv_t", 1)) EXPECT_EQ(c.size(), 1u);
    EXPECT_TRUE(candidate_columns(uses_of(kPartitionedPlan), "users", 3).empty());
}

TEST(IndexAdvise, NamesFitPostgresLimitAndStayDistinct) {
    EXPECT_EQ(index_name("adv_t", {"conv"}), "adv_t_conv_idx");
    EXPECT_EQ(index_name("public.adv_t", {"conv", "created_at"}), "adv_t_conv_created_at_idx");
    auto a = index_name("conversation_message_2025_01", {"conversation_id", "created_at", "delivery_status"});
    auto b = index_name("conversation_message_2025_02", {"conversation_id", "created_at", "delivery_status"});
    EXPECT_LE(a.size(), 63u);
    EXPECT_LE(b.size(), 63u);
    EXPECT_NE(a, b);
}

TEST(IndexAdvise, APartitionedTableIsBuiltPerPartitionThenAttached) {
    auto quote = [](const std::string& s) { return "\"" + s + "\""; };
    auto plan =
        index_plan("adv_t_conv_idx", "adv_t", {"adv_t_1", "adv_t_2"}, {"conv", "created_at"}, "", quote);
    auto all = plan.all();
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all[0], R"(CREATE INDEX "adv_t_conv_idx" ON ONLY "adv_t" ("conv", "created_at"))");
    EXPECT_EQ(
        all[1],
        R"(CREATE INDEX CONCURRENTLY "adv_t_1_conv_created_at_idx" ON "adv_t_1" ("conv", "created_at"))");
    EXPECT_EQ(all[2], R"(ALTER INDEX "adv_t_conv_idx" ATTACH PARTITION "adv_t_1_conv_created_at_idx")");
    EXPECT_EQ(plan.steps.size(), 2u);

    auto plain = index_plan("users_email_idx", "public.users", {}, {"email"}, "deleted_at IS NULL", quote);
    ASSERT_EQ(plain.all().size(), 1u);
    EXPECT_EQ(
        plain.all()[0],
        R"(CREATE INDEX CONCURRENTLY "users_email_idx" ON "public"."users" ("email") WHERE deleted_at IS NULL)");
}

TEST(IndexAdvise, AnIndexCoversACandidateItLeadsWith) {
    EXPECT_TRUE(covers({"conv", "created_at", "id"}, {"conv", "created_at"}));
    EXPECT_TRUE(covers({"conv"}, {"conv"}));
    EXPECT_FALSE(covers({"created_at", "conv"}, {"conv"}));
    EXPECT_FALSE(covers({"conv"}, {"conv", "created_at"}));
    EXPECT_FALSE(covers({"conv"}, {}));
}

TEST(IndexAdvise, CountsParametersOutsideLiterals) {
    EXPECT_EQ(parameter_count("SELECT 1"), 0);
    EXPECT_EQ(parameter_count("SELECT * FROM t WHERE a = $1 AND b > $2 LIMIT $3"), 3);
    EXPECT_EQ(parameter_count("SELECT * FROM t WHERE a = $2 OR a = $10"), 10);
    EXPECT_EQ(parameter_count("SELECT '$5' FROM t WHERE a = $1"), 1);
    EXPECT_EQ(parameter_count("SELECT a$1 FROM t"), 0);
}

TEST(IndexBuild, ParsesTableAndColumnsAndRefusesTheRest) {
    auto t = parse_index_target("conversation_message( conversation_id , created_at)");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->first, "conversation_message");
    EXPECT_EQ(t->second, (std::vector<std::string>{"conversation_id", "created_at"}));
    for (const char* bad : {"conversation_message", "(a)", "t(a,)", "t()", "t(a) trailing", "t a)"})
        EXPECT_FALSE(parse_index_target(bad)) << bad;
}

}  // namespace
}  // namespace yw::ops
