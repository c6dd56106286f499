// RB-17's rules over synthetic facts: months ahead, missing months, oversized months, balance of full past
// months against the median, a partition that is not a month's, and the maintainer's freshness.
#include "ops/partition_health.hpp"

#include <gtest/gtest.h>

namespace yw::ops {
namespace {

constexpr int kNow = 2026 * 12 + 11;  // December 2026

PartitionSnapshot window(int back, int ahead, long long bytes = 100ll << 20, long long rows = 1000) {
    PartitionSnapshot s;
    s.current_month = kNow;
    for (int m = kNow - back; m <= kNow + ahead; ++m) {
        MonthPartition p;
        p.month = m;
        p.name = "conversation_message_" + month_text(m);
        p.bound = "FOR VALUES FROM (…) TO (…)";
        p.bytes = m > kNow ? 8192 : bytes;
        p.rows = m > kNow ? 0 : rows;
        s.months.push_back(p);
    }
    s.success_s_ago = 60;
    s.run_s_ago = 60;
    s.run_instance = "host:1";
    return s;
}

const Finding& find(const Report& r, const std::string& name) {
    for (const auto& f : r.findings)
        if (f.name == name) return f;
    throw std::runtime_error("no finding " + name);
}

Level worst(const Report& r) {
    Level w = Level::kOk;
    for (const auto& f : r.findings) w = std::max(w, f.level);
    return w;
}

TEST(PartitionHealth, MonthNamesParseAndPrintBothWays) {
    EXPECT_EQ(month_of("conversation_message_2024_12"), 2024 * 12 + 11);
    EXPECT_EQ(month_text(2024 * 12 + 11), "2024_12");
    for (const char* bad :
         {"conversation_message_2024_13", "conversation_message_2024_00", "conversation_message_24_12",
          "conversation_message_default", "other_2024_12", "conversation_message_2024-12"})
        EXPECT_EQ(month_of(bad), -1) << bad;
}

TEST(PartitionHealth, TheProductionWindowIsHealthy) {
    auto r = assess_partitions(window(24, 2));
    EXPECT_EQ(worst(r), Level::kOk);
    EXPECT_EQ(find(r, "months ahead").value, "2");
    EXPECT_EQ(find(r, "missing months").value, "0");
    EXPECT_EQ(r.data.at("months_ahead"), 2);
    EXPECT_EQ(r.data.at("partitions").as_array().size(), 27u);
}

TEST(PartitionHealth, MonthsAheadAreWarningUnderTwoAndCriticalUnderOne) {
    EXPECT_EQ(find(assess_partitions(window(24, 1)), "months ahead").level, Level::kWarning);
    auto none = assess_partitions(window(24, 0));
    EXPECT_EQ(find(none, "months ahead").level, Level::kCritical);
    EXPECT_FALSE(none.next_steps.empty());
    auto s = window(24, 2);
    s.months.erase(s.months.begin() + 24);  // the current month
    auto current = assess_partitions(s);
    EXPECT_EQ(find(current, "months ahead").value, "-1");
    EXPECT_EQ(find(current, "months ahead").level, Level::kCritical);
    // A gap stops the count: next month missing, the one after present.
    s = window(24, 2);
    s.months.erase(s.months.begin() + 25);
    EXPECT_EQ(find(assess_partitions(s), "months ahead").value, "0");
}

TEST(PartitionHealth, MissingMonthsOfTheWindowAreNamed) {
    auto s = window(24, 2);
    s.months.erase(s.months.begin() + 3);
    auto r = assess_partitions(s);
    EXPECT_EQ(find(r, "missing months").level, Level::kWarning);
    EXPECT_EQ(find(r, "missing months").detail, month_text(kNow - 21));
}

TEST(PartitionHealth, MonthsOver800MbWarnAndOver1GbAreCritical) {
    auto s = window(24, 2);
    s.months[20].bytes = 900ll << 20;
    s.months[21].bytes = (1ll << 30) + 1;
    auto r = assess_partitions(s);
    EXPECT_EQ(find(r, month_text(s.months[20].month)).level, Level::kWarning);
    EXPECT_EQ(find(r, month_text(s.months[21].month)).level, Level::kCritical);
    EXPECT_NE(find(r, month_text(s.months[21].month)).detail.find("smaller partitions"), std::string::npos);
    EXPECT_EQ(worst(r), Level::kCritical);
}

TEST(PartitionHealth, FullPastMonthsWithinTenPercentOfTheMedianAreBalanced) {
    auto s = window(24, 2);
    s.months[10].bytes = (100ll << 20) * 109 / 100;  // +9 %
    EXPECT_EQ(find(assess_partitions(s), "size balance").level, Level::kOk);
    s.months[11].bytes = (100ll << 20) * 115 / 100;  // +15 %
    auto r = assess_partitions(s);
    EXPECT_EQ(find(r, "size balance").level, Level::kWarning);
    EXPECT_NE(find(r, "size balance").detail.find(month_text(s.months[11].month) + " +15 %"),
              std::string::npos);
    // The current month is not full, and empty months (before the first message) are not compared.
    s = window(24, 2);
    s.months[24].bytes = 1 << 20;
    for (int i = 0; i < 20; ++i) s.months[i].rows = 0, s.months[i].bytes = 8192;
    EXPECT_EQ(find(assess_partitions(s), "size balance").level, Level::kOk);
    // Too few months with rows to compare.
    for (int i = 0; i < 23; ++i) s.months[i].rows = 0;
    EXPECT_EQ(find(assess_partitions(s), "size balance").value, "n/a");
}

TEST(PartitionHealth, ADefaultPartitionIsFlagged) {
    auto s = window(24, 2);
    s.months.push_back({"conversation_message_default", -1, "DEFAULT", 8192, 0});
    auto r = assess_partitions(s);
    EXPECT_EQ(find(r, "conversation_message_default").level, Level::kWarning);
}

TEST(PartitionHealth, AMaintainerWithoutSuccessForTwoIntervalsIsCritical) {
    PartitionThresholds t;
    t.interval = std::chrono::seconds(3600);
    auto s = window(24, 2);
    s.success_s_ago = 7200;
    EXPECT_EQ(find(assess_partitions(s, t), "maintainer last success").level, Level::kOk);
    s.success_s_ago = 7201;
    s.run_error = "canceling statement due to lock timeout";
    auto r = assess_partitions(s, t);
    EXPECT_EQ(find(r, "maintainer last success").level, Level::kCritical);
    EXPECT_NE(find(r, "maintainer last success").detail.find("lock timeout"), std::string::npos);
    s.success_s_ago.reset();
    s.run_s_ago.reset();
    EXPECT_EQ(find(assess_partitions(s, t), "maintainer last success").value, "never");
}

TEST(PartitionHealth, UnreadableFactsAreUnknown) {
    PartitionSnapshot s;
    s.error = "connection refused";
    auto r = assess_partitions(s);
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].level, Level::kUnknown);
}

}  // namespace
}  // namespace yw::ops
