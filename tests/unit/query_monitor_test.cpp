// The query monitor: RB-8's JSON shape, slow counting, sorting, the sliding window, health, totals, and
// recording from many threads.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <thread>
#include <vector>

#include "common/logging.hpp"
#include "pg/monitor.hpp"

namespace yw::pg {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

// A clock the test moves by hand, to step through the window.
class FakeClock {
  public:
    std::function<TimePoint()> function() {
        return [this] { return TimePoint(std::chrono::nanoseconds(ns_.load())); };
    }
    void advance(std::chrono::nanoseconds by) { ns_ += by.count(); }

  private:
    std::atomic<std::int64_t> ns_{std::chrono::nanoseconds(1000s).count()};
};

std::chrono::nanoseconds ms(double value) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(value * 1'000'000));
}

std::vector<std::string> keys(const json::object& object) {
    std::vector<std::string> out;
    for (const auto& entry : object) out.emplace_back(entry.key());
    return out;
}

const json::object& statistics(const json::value& report) { return report.at("statistics").as_object(); }
const json::array& slow_queries(const json::value& report) { return report.at("slowQueries").as_array(); }

class QueryMonitorTest : public ::testing::Test {
  protected:
    void SetUp() override { log::init(log::Level::kError, log::Format::kJson); }

    MonitorOptions options(int threshold_ms = 100) {
        return MonitorOptions{.window = 300s, .slow_threshold_ms = threshold_ms, .clock = clock.function()};
    }

    FakeClock clock;
};

TEST_F(QueryMonitorTest, EmptyReportHasRb8sExactShape) {
    QueryMonitor monitor(options());
    json::value report = monitor.report();
    ASSERT_TRUE(report.is_object());
    EXPECT_EQ(keys(report.as_object()), (std::vector<std::string>{"slowQueries", "statistics", "health"}));
    EXPECT_TRUE(slow_queries(report).empty());
    EXPECT_EQ(keys(statistics(report)),
              (std::vector<std::string>{"p50", "p90", "p95", "p99", "average", "total_queries"}));
    for (const auto& [key, value] : statistics(report)) {
        EXPECT_TRUE(value.is_number()) << key;
        EXPECT_EQ(value.to_number<double>(), 0) << key;
    }
    EXPECT_EQ(report.at("health").as_string(), "healthy");
}

TEST_F(QueryMonitorTest, SlowQueryEntriesHaveRb8sKeysAndCountOnlyWhatExceedsTheThreshold) {
    QueryMonitor monitor(options(100));
    monitor.record("messages.latest", ms(99), true);
    monitor.record("messages.latest", ms(100), true);  // at the threshold is not slower than it
    monitor.record("messages.latest", ms(100.001), true);
    monitor.record("messages.latest", ms(250.5), false);  // failed statements count too: a timeout is slow
    monitor.record("users.get", ms(5), true);

    json::value report = monitor.report();
    const json::array& slow = slow_queries(report);
    ASSERT_EQ(slow.size(), 1u);
    const json::object& entry = slow[0].as_object();
    EXPECT_EQ(keys(entry), (std::vector<std::string>{"query", "duration", "count", "threshold"}));
    EXPECT_EQ(entry.at("query").as_string(), "messages.latest");
    EXPECT_DOUBLE_EQ(entry.at("duration").to_number<double>(), 250.5);
    EXPECT_EQ(entry.at("count").to_number<std::uint64_t>(), 2u);
    EXPECT_EQ(entry.at("threshold").to_number<int>(), 100);
    EXPECT_EQ(statistics(report).at("total_queries").to_number<std::uint64_t>(), 5u);
}

TEST_F(QueryMonitorTest, SlowQueriesAreSortedSlowestFirstAndCappedAtTwenty) {
    QueryMonitor monitor(options(100));
    for (int i = 0; i < 25; ++i) {
        std::string name = "q" + std::to_string(i);
        monitor.record(name, ms(101 + i), true);
        monitor.record(name, ms(1), true);
    }
    monitor.record("tie.b", ms(124), true);
    monitor.record("tie.a", ms(124), true);

    json::value report = monitor.report();
    const json::array& slow = slow_queries(report);
    ASSERT_EQ(slow.size(), 20u);
    EXPECT_EQ(slow[0].at("query").as_string(), "q24");
    EXPECT_DOUBLE_EQ(slow[0].at("duration").to_number<double>(), 125);
    // Same duration: by name, so the order does not flicker between scrapes.
    EXPECT_EQ(slow[1].at("query").as_string(), "q23");
    EXPECT_EQ(slow[2].at("query").as_string(), "tie.a");
    EXPECT_EQ(slow[3].at("query").as_string(), "tie.b");
    for (std::size_t i = 1; i < slow.size(); ++i) {
        EXPECT_GE(slow[i - 1].at("duration").to_number<double>(), slow[i].at("duration").to_number<double>());
    }
    EXPECT_EQ(slow.back().at("query").as_string(), "q7");
}

TEST_F(QueryMonitorTest, StatisticsAreInMillisecondsWithinTheHistogramsError) {
    QueryMonitor monitor(options(100));
    for (int i = 1; i <= 100; ++i) monitor.record("q", ms(i), true);  // 1 … 100 ms
    json::value report = monitor.report();
    const json::object& stats = statistics(report);
    EXPECT_NEAR(stats.at("p50").to_number<double>(), 50, 50.0 / 32);
    EXPECT_NEAR(stats.at("p90").to_number<double>(), 90, 90.0 / 32);
    EXPECT_NEAR(stats.at("p95").to_number<double>(), 95, 95.0 / 32);
    EXPECT_NEAR(stats.at("p99").to_number<double>(), 99, 99.0 / 32);
    EXPECT_DOUBLE_EQ(stats.at("average").to_number<double>(), 50.5);  // from the exact sum
    EXPECT_EQ(stats.at("total_queries").to_number<std::uint64_t>(), 100u);
}

TEST_F(QueryMonitorTest, MillisecondsAreRoundedToHundredths) {
    QueryMonitor monitor(options(1));
    monitor.record("q", std::chrono::microseconds(12'345), true);
    json::value report = monitor.report();
    EXPECT_DOUBLE_EQ(slow_queries(report)[0].at("duration").to_number<double>(), 12.35);
    EXPECT_DOUBLE_EQ(statistics(report).at("average").to_number<double>(), 12.35);
}

TEST_F(QueryMonitorTest, HealthFollowsP95) {
    QueryMonitor degraded(options(1000));
    for (int i = 0; i < 100; ++i) degraded.record("q", ms(400), true);
    EXPECT_EQ(degraded.report().at("health").as_string(), "degraded");

    QueryMonitor unhealthy(options(1000));
    for (int i = 0; i < 100; ++i) unhealthy.record("q", ms(700), true);
    EXPECT_EQ(unhealthy.report().at("health").as_string(), "unhealthy");

    QueryMonitor healthy(options(1000));
    for (int i = 0; i < 100; ++i) healthy.record("q", ms(250), true);
    EXPECT_EQ(healthy.report().at("health").as_string(), "healthy");
}

TEST_F(QueryMonitorTest, HealthFollowsTheSlowShare) {
    // p95 stays under 300 ms in all three; only the share of statements over 100 ms changes.
    auto health_with_slow = [this](int slow) {
        QueryMonitor monitor(options(100));
        for (int i = 0; i < 100 - slow; ++i) monitor.record("fast", ms(10), true);
        for (int i = 0; i < slow; ++i) monitor.record("slow", ms(150), true);
        return std::string(monitor.report().at("health").as_string());
    };
    EXPECT_EQ(health_with_slow(4), "healthy");
    EXPECT_EQ(health_with_slow(5), "degraded");
    EXPECT_EQ(health_with_slow(10), "degraded");
    EXPECT_EQ(health_with_slow(11), "unhealthy");
}

TEST_F(QueryMonitorTest, OldSamplesLeaveTheWindow) {
    QueryMonitor monitor(options(100));
    monitor.record("old", ms(500), true);
    clock.advance(200s);
    monitor.record("new", ms(20), true);
    EXPECT_EQ(statistics(monitor.report()).at("total_queries").to_number<std::uint64_t>(), 2u);

    // The window is 300 s in 30 s slots: a sample stays for at least 270 s and never past 300 s.
    clock.advance(69s);
    EXPECT_EQ(slow_queries(monitor.report()).size(), 1u);
    clock.advance(31s);
    json::value report = monitor.report();
    EXPECT_TRUE(slow_queries(report).empty());
    EXPECT_EQ(statistics(report).at("total_queries").to_number<std::uint64_t>(), 1u);
    EXPECT_NEAR(statistics(report).at("p99").to_number<double>(), 20, 20.0 / 32);

    clock.advance(300s);
    report = monitor.report();
    EXPECT_EQ(statistics(report).at("total_queries").to_number<std::uint64_t>(), 0u);
    EXPECT_EQ(report.at("health").as_string(), "healthy");
}

TEST_F(QueryMonitorTest, AReusedSlotForgetsItsOldCounts) {
    QueryMonitor monitor(options(100));
    monitor.record("q", ms(500), true);
    clock.advance(300s);  // the same slot of the ring, one window later
    monitor.record("q", ms(5), true);
    json::value report = monitor.report();
    EXPECT_EQ(statistics(report).at("total_queries").to_number<std::uint64_t>(), 1u);
    EXPECT_TRUE(slow_queries(report).empty());
}

TEST_F(QueryMonitorTest, TotalsAreCumulativeSortedAndCountErrors) {
    QueryMonitor monitor(options(100));
    monitor.record("users.get", ms(3), true);
    monitor.record("messages.latest", ms(0.5), true);
    monitor.record("messages.latest", ms(700), false);
    clock.advance(1000s);  // out of the window, not out of the totals

    std::vector<QueryTotals> totals = monitor.totals();
    ASSERT_EQ(totals.size(), 2u);
    EXPECT_EQ(totals[0].name, "messages.latest");
    EXPECT_EQ(totals[0].latency.count(), 2u);
    EXPECT_EQ(totals[0].latency.counts[0], 1u);  // ≤ 1 ms
    EXPECT_EQ(totals[0].latency.sum_us, 700'500u);
    EXPECT_EQ(totals[0].errors, 1u);
    EXPECT_EQ(totals[1].name, "users.get");
    EXPECT_EQ(totals[1].errors, 0u);
    EXPECT_EQ(statistics(monitor.report()).at("total_queries").to_number<std::uint64_t>(), 0u);
}

TEST_F(QueryMonitorTest, NamesBeyondTheLimitArePooled) {
    QueryMonitor monitor(options(100));
    for (int i = 0; i < 600; ++i) monitor.record("dynamic." + std::to_string(i), ms(1), true);
    std::vector<QueryTotals> totals = monitor.totals();
    EXPECT_EQ(totals.size(), 513u);
    std::uint64_t count = 0;
    for (const auto& t : totals) count += t.latency.count();
    EXPECT_EQ(count, 600u);
    EXPECT_EQ(totals.front().name, "(other)");
    EXPECT_EQ(totals.front().latency.count(), 88u);
}

TEST_F(QueryMonitorTest, MonitorsOnOneThreadDoNotShareShards) {
    auto first = std::make_unique<QueryMonitor>(options(100));
    QueryMonitor second(options(100));
    first->record("a", ms(1), true);
    second.record("b", ms(1), true);
    second.record("b", ms(1), true);
    EXPECT_EQ(statistics(first->report()).at("total_queries").to_number<std::uint64_t>(), 1u);
    EXPECT_EQ(statistics(second.report()).at("total_queries").to_number<std::uint64_t>(), 2u);
    first.reset();
    QueryMonitor third(options(100));  // may reuse the first one's memory: must start empty regardless
    EXPECT_EQ(statistics(third.report()).at("total_queries").to_number<std::uint64_t>(), 0u);
    third.record("c", ms(1), true);
    EXPECT_EQ(third.totals().size(), 1u);
}

TEST_F(QueryMonitorTest, RecordsFromManyThreadsWhileBeingRead) {
    QueryMonitor monitor(options(100));
    constexpr int kThreads = 4;
    constexpr int kPerThread = 20'000;
    std::atomic<bool> done{false};
    std::thread reader([&] {
        while (!done) {
            json::value report = monitor.report();
            ASSERT_LE(statistics(report).at("total_queries").to_number<std::uint64_t>(),
                      2u * kThreads * kPerThread);
        }
    });
    // Two rounds: the second round's threads adopt the shards the first round's left behind, and what the
    // first round recorded must survive that.
    for (int round = 0; round < 2; ++round) {
        std::vector<std::thread> writers;
        for (int t = 0; t < kThreads; ++t) {
            writers.emplace_back([&monitor, t] {
                for (int i = 0; i < kPerThread; ++i) {
                    monitor.record("q" + std::to_string((t + i) % 3), ms(i % 200), true);
                }
            });
        }
        for (auto& w : writers) w.join();
    }
    done = true;
    reader.join();

    json::value report = monitor.report();
    EXPECT_EQ(statistics(report).at("total_queries").to_number<std::uint64_t>(), 2u * kThreads * kPerThread);
    std::uint64_t slow = 0;
    for (const auto& entry : slow_queries(report)) slow += entry.at("count").to_number<std::uint64_t>();
    // i % 200 > 100 for 99 of every 200 values of i.
    EXPECT_EQ(slow, 2u * kThreads * (kPerThread / 200) * 99);
    EXPECT_EQ(slow_queries(report).size(), 3u);
}

}  // namespace
}  // namespace yw::pg
