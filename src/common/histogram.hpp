// Latency distributions in fixed memory: log-linear (HDR-style) histograms and Prometheus-style buckets.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace yw {

// A duration as the histograms count it: whole microseconds, rounded to nearest; negative ones as 0.
std::uint64_t to_micros(std::chrono::nanoseconds duration) noexcept;

// Counts microsecond values in log-linear buckets: 16 linear sub-buckets per power of two, so a bucket is at
// most 1/16 of its lower bound wide and a percentile read back as the bucket's midpoint is within 1/32
// (3.2 %) of the true value. Values below 32 µs are exact. Values above kMaxTrackable (67 s) land in the last
// bucket; sum() and max() still see them as recorded.
//
// Not synchronised: the owner serialises access (the query monitor keeps one per thread shard, under the
// shard's mutex). record() never allocates.
class Histogram {
  public:
    static constexpr int kSubBucketBits = 4;
    static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;
    static constexpr int kMaxExponent = 26;
    static constexpr std::uint64_t kMaxTrackable = (std::uint64_t{1} << kMaxExponent) - 1;
    static constexpr std::size_t kBuckets = kSubBuckets + (kMaxExponent - kSubBucketBits) * kSubBuckets;

    void record(std::uint64_t us) noexcept;
    void merge(const Histogram& other) noexcept;
    void reset() noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t sum() const noexcept { return sum_; }  // µs
    std::uint64_t max() const noexcept { return max_; }  // µs; 0 when empty

    // The value at or below which p percent (0 … 100) of the values lie, in µs: the midpoint of the bucket
    // holding that rank, never above max(). 0 when empty.
    double percentile(double p) const noexcept;

    static std::size_t bucket_of(std::uint64_t us) noexcept;
    static std::uint64_t bucket_low(std::size_t index) noexcept;   // the smallest value the bucket holds
    static std::uint64_t bucket_high(std::size_t index) noexcept;  // the largest

  private:
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t max_ = 0;
};

// Counts over fixed upper bounds, 1 ms … 2.5 s then +Inf: what a Prometheus histogram exposes. Unlike the
// log-linear buckets above, "how many took at most 250 ms" is exact here. Not synchronised.
struct LatencyBuckets {
    static constexpr std::array<std::uint64_t, 11> kBoundsUs{
        1'000, 2'000, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000};

    // counts[i]: values in (kBoundsUs[i-1], kBoundsUs[i]]; the last one: values above every bound.
    std::array<std::uint64_t, kBoundsUs.size() + 1> counts{};
    std::uint64_t sum_us = 0;

    static std::size_t index_of(std::uint64_t us) noexcept;
    void record(std::uint64_t us) noexcept;
    void merge(const LatencyBuckets& other) noexcept;
    std::uint64_t count() const noexcept;
};

}  // namespace yw
