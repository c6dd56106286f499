// The log-linear histogram (bucket arithmetic, percentiles against exact ones, merge, clamping) and the fixed
// latency buckets.
#include "common/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace yw {
namespace {

// The histogram's promise: a percentile is read back as its bucket's midpoint, within 1/32 of the truth.
constexpr double kRelativeError = 1.0 / 32;

// Nearest-rank percentile of sorted values, the definition Histogram::percentile approximates.
double exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(sorted.size())));
    return static_cast<double>(sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1]);
}

void expect_close(double actual, double expected, const char* what) {
    EXPECT_LE(std::abs(actual - expected), expected * kRelativeError)
        << what << ": " << actual << " vs " << expected;
}

TEST(Histogram, EmptyIsAllZero) {
    Histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.sum(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.percentile(50), 0);
    EXPECT_EQ(h.percentile(100), 0);
}

TEST(Histogram, BucketsAreContiguousAndNarrow) {
    EXPECT_EQ(Histogram::bucket_low(0), 0u);
    for (std::size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
        ASSERT_EQ(Histogram::bucket_low(i + 1), Histogram::bucket_high(i) + 1) << i;
        std::uint64_t width = Histogram::bucket_high(i) - Histogram::bucket_low(i) + 1;
        ASSERT_LE(width * Histogram::kSubBuckets, std::max<std::uint64_t>(Histogram::bucket_low(i), 16)) << i;
    }
    EXPECT_EQ(Histogram::bucket_high(Histogram::kBuckets - 1), Histogram::kMaxTrackable);
    EXPECT_GE(Histogram::kMaxTrackable, 60'000'000u);  // at least 60 s
}

TEST(Histogram, EveryValueFallsInsideItsBucket) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 100'000; ++i) {
        std::uint64_t v = rng() % (Histogram::kMaxTrackable + 1);
        if (i < 2048) v = static_cast<std::uint64_t>(i);  // all the small, exact ones too
        std::size_t b = Histogram::bucket_of(v);
        ASSERT_LT(b, Histogram::kBuckets);
        ASSERT_LE(Histogram::bucket_low(b), v);
        ASSERT_GE(Histogram::bucket_high(b), v);
    }
}

TEST(Histogram, SmallValuesAreExact) {
    Histogram h;
    for (std::uint64_t v = 1; v <= 31; ++v) h.record(v);
    EXPECT_EQ(h.percentile(50), 16);
    EXPECT_EQ(h.percentile(100), 31);
    EXPECT_EQ(h.percentile(0), 1);
    EXPECT_EQ(h.sum(), 31u * 32 / 2);
}

TEST(Histogram, PercentilesOfAUniformDistributionAreWithinTheRelativeError) {
    Histogram h;
    std::vector<std::uint64_t> values;
    for (std::uint64_t v = 1; v <= 100'000; ++v) {
        h.record(v);
        values.push_back(v);
    }
    for (double p : {1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0}) {
        expect_close(h.percentile(p), exact_percentile(values, p), "uniform");
    }
    EXPECT_EQ(h.count(), 100'000u);
    EXPECT_EQ(h.sum(), std::uint64_t{100'000} * 100'001 / 2);
    EXPECT_EQ(h.max(), 100'000u);
}

TEST(Histogram, PercentilesOfALogNormalDistributionAreWithinTheRelativeError) {
    // Query latencies look like this: most around a few ms, a long tail into seconds.
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(std::log(5'000.0), 1.2);
    Histogram h;
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 200'000; ++i) {
        auto v = static_cast<std::uint64_t>(std::min(dist(rng), 30'000'000.0)) + 1;
        h.record(v);
        values.push_back(v);
    }
    std::sort(values.begin(), values.end());
    for (double p : {50.0, 90.0, 95.0, 99.0, 99.99}) {
        expect_close(h.percentile(p), exact_percentile(values, p), "lognormal");
    }
    EXPECT_EQ(h.max(), values.back());
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
    Histogram a, b, both;
    for (std::uint64_t v = 1; v < 50'000; v += 7) {
        a.record(v);
        both.record(v);
    }
    for (std::uint64_t v = 3; v < 2'000'000; v += 997) {
        b.record(v);
        both.record(v);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), both.count());
    EXPECT_EQ(a.sum(), both.sum());
    EXPECT_EQ(a.max(), both.max());
    for (double p : {10.0, 50.0, 90.0, 99.0, 100.0}) EXPECT_EQ(a.percentile(p), both.percentile(p)) << p;
}

TEST(Histogram, ValuesAboveTheRangeClampToTheLastBucket) {
    EXPECT_EQ(Histogram::bucket_of(Histogram::kMaxTrackable), Histogram::kBuckets - 1);
    EXPECT_EQ(Histogram::bucket_of(Histogram::kMaxTrackable + 1), Histogram::kBuckets - 1);
    EXPECT_EQ(Histogram::bucket_of(~std::uint64_t{0}), Histogram::kBuckets - 1);

    Histogram h;
    h.record(1'000);
    h.record(600'000'000);  // ten minutes
    EXPECT_EQ(h.count(), 2u);
    EXPECT_EQ(h.sum(), 600'001'000u);  // the sum and max keep the value as recorded
    EXPECT_EQ(h.max(), 600'000'000u);
    EXPECT_GE(h.percentile(100), 60'000'000);
    EXPECT_LE(h.percentile(100), 600'000'000);
    expect_close(h.percentile(50), 1'000, "below the clamped one");
}

TEST(Histogram, PercentileNeverExceedsTheMax) {
    Histogram h;
    h.record(983'041);  // just above its bucket's low end [983 040, 1 015 807]: the midpoint is above it
    EXPECT_EQ(h.percentile(100), 983'041);
    EXPECT_EQ(h.percentile(1), 983'041);
}

TEST(Histogram, ResetEmptiesIt) {
    Histogram h;
    h.record(123);
    h.reset();
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.percentile(99), 0);
}

TEST(Histogram, ToMicrosRoundsAndFloorsAtZero) {
    using std::chrono::nanoseconds;
    EXPECT_EQ(to_micros(nanoseconds(1'499)), 1u);
    EXPECT_EQ(to_micros(nanoseconds(1'500)), 2u);
    EXPECT_EQ(to_micros(nanoseconds(-5'000)), 0u);
    EXPECT_EQ(to_micros(std::chrono::seconds(90)), 90'000'000u);
}

TEST(HistogramLatencyBuckets, BoundsAreInclusiveUpperBounds) {
    EXPECT_EQ(LatencyBuckets::index_of(0), 0u);
    EXPECT_EQ(LatencyBuckets::index_of(1'000), 0u);  // le="0.001" includes exactly 1 ms
    EXPECT_EQ(LatencyBuckets::index_of(1'001), 1u);
    EXPECT_EQ(LatencyBuckets::index_of(2'500'000), LatencyBuckets::kBoundsUs.size() - 1);
    EXPECT_EQ(LatencyBuckets::index_of(2'500'001), LatencyBuckets::kBoundsUs.size());  // +Inf
}

TEST(HistogramLatencyBuckets, RecordAndMerge) {
    LatencyBuckets a, b;
    a.record(500);
    a.record(7'000);
    b.record(9'000'000);
    a.merge(b);
    EXPECT_EQ(a.count(), 3u);
    EXPECT_EQ(a.sum_us, 9'007'500u);
    EXPECT_EQ(a.counts[0], 1u);
    EXPECT_EQ(a.counts[3], 1u);  // (5 ms, 10 ms]
    EXPECT_EQ(a.counts.back(), 1u);
}

}  // namespace
}  // namespace yw
