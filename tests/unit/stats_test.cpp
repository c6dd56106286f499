// RB-10's statistics against values known in closed form and against samples of known distributions.
#include "ops/stats.hpp"

#include <gtest/gtest.h>

#include <random>

namespace yw::ops::stats {
namespace {

std::vector<double> normal(std::size_t n, double mean, double sd, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> d(mean, sd);
    std::vector<double> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Latency-like: a floor plus a long right tail.
std::vector<double> lognormal(std::size_t n, double median, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> d(std::log(median), 0.4);
    std::vector<double> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

TEST(Stats, QuantilesInterpolateLikeRAndNumPy) {
    std::vector<double> one_to_hundred(100);
    for (int i = 0; i < 100; ++i) one_to_hundred[i] = i + 1;
    EXPECT_DOUBLE_EQ(quantile(one_to_hundred, 0.5), 50.5);
    EXPECT_DOUBLE_EQ(quantile(one_to_hundred, 0.95), 95.05);
    EXPECT_DOUBLE_EQ(quantile(one_to_hundred, 0), 1);
    EXPECT_DOUBLE_EQ(quantile(one_to_hundred, 1), 100);
    EXPECT_DOUBLE_EQ(quantile({7}, 0.95), 7);
    EXPECT_DOUBLE_EQ(quantile({}, 0.5), 0);
}

TEST(Stats, TheMeansIntervalCoversTheTrueMeanAndNarrowsWithN) {
    auto s = summarize(normal(400, 100, 10, 7));
    EXPECT_EQ(s.n, 400u);
    EXPECT_LT(s.mean_low, 100);
    EXPECT_GT(s.mean_high, 100);
    // 95 % of a normal mean's interval is ±1.96·σ/√n ≈ ±0.98 here.
    EXPECT_NEAR(s.mean_high - s.mean_low, 2 * 1.96 * 10 / 20, 0.4);
    auto small = summarize(normal(25, 100, 10, 7));
    EXPECT_GT(small.mean_high - small.mean_low, s.mean_high - s.mean_low);
    EXPECT_LE(s.min, s.median);
    EXPECT_LE(s.median, s.p95);
    EXPECT_LE(s.p95, s.max);
    // Deterministic for a seed: the same report twice.
    EXPECT_EQ(summarize(normal(50, 1, 1, 3), 9).mean_low, summarize(normal(50, 1, 1, 3), 9).mean_low);
}

TEST(Stats, MannWhitneyOnSeparatedSamplesMatchesTheClosedForm) {
    std::vector<double> a, b;
    for (int i = 1; i <= 10; ++i) a.push_back(i);
    for (int i = 11; i <= 20; ++i) b.push_back(i);
    auto t = mann_whitney(a, b);
    EXPECT_DOUBLE_EQ(t.u, 0);
    // μ = 50, σ = √(10·10·21/12) = 13.2288; continuity-corrected z = −49.5/σ.
    EXPECT_NEAR(t.z, -3.7418, 1e-3);
    EXPECT_NEAR(t.p, 1.827e-4, 1e-5);
    EXPECT_NEAR(mann_whitney(b, a).z, 3.7418, 1e-3);
}

TEST(Stats, MannWhitneyWithTiesAndIdenticalSamples) {
    auto same = mann_whitney({1, 1, 1, 1}, {1, 1, 1, 1});
    EXPECT_EQ(same.p, 1);  // every value equal: no evidence
    auto tied = mann_whitney({1, 2, 2, 3}, {2, 2, 3, 3});
    EXPECT_GT(tied.p, 0.2);
    EXPECT_LT(tied.p, 1.0001);
}

TEST(Stats, SameDistributionIsRarelySignificantAndAShiftAlwaysIs) {
    int false_positives = 0;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        auto t = mann_whitney(lognormal(40, 10, seed), lognormal(40, 10, seed + 1000));
        false_positives += t.p < 0.01;
    }
    // α = 0.01: about 2 of 200 by chance; far more would mean a wrong variance.
    EXPECT_LE(false_positives, 8);
    for (std::uint64_t seed = 1; seed <= 50; ++seed) {
        auto t = mann_whitney(lognormal(40, 10, seed), lognormal(40, 5, seed + 1000));
        EXPECT_LT(t.p, 0.001) << seed;
        EXPECT_GT(t.z, 0) << "the first sample is the slower one";
    }
}

TEST(Stats, MedianChangeAndItsInterval) {
    auto before = lognormal(60, 10, 1), after = lognormal(60, 5, 2);
    auto c = median_change(before, after);
    EXPECT_NEAR(c.percent, -50, 10);
    EXPECT_LT(c.low, c.percent);
    EXPECT_GT(c.high, c.percent);
    EXPECT_LT(c.high, 0);  // the whole interval says faster
    auto aa = median_change(lognormal(60, 10, 3), lognormal(60, 10, 4));
    EXPECT_LT(aa.low, 0);
    EXPECT_GT(aa.high, 0);  // no change: the interval straddles 0
    EXPECT_EQ(median_change({}, {1}).percent, 0);
}

}  // namespace
}  // namespace yw::ops::stats
