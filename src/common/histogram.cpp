// Bucket arithmetic of the log-linear histogram and the fixed latency buckets.
#include "common/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace yw {

std::uint64_t to_micros(std::chrono::nanoseconds duration) noexcept {
    auto ns = std::max<std::int64_t>(duration.count(), 0);
    return static_cast<std::uint64_t>((ns + 500) / 1000);
}

std::size_t Histogram::bucket_of(std::uint64_t us) noexcept {
    us = std::min(us, kMaxTrackable);
    if (us < kSubBuckets) return static_cast<std::size_t>(us);
    // Octave e (2^e ≤ us < 2^(e+1)) is split into kSubBuckets buckets of width 2^shift.
    int shift = std::bit_width(us) - 1 - kSubBucketBits;
    auto sub = (us >> shift) - kSubBuckets;
    return static_cast<std::size_t>(kSubBuckets + static_cast<std::uint64_t>(shift) * kSubBuckets + sub);
}

std::uint64_t Histogram::bucket_low(std::size_t index) noexcept {
    if (index < kSubBuckets) return index;
    auto shift = (index - kSubBuckets) / kSubBuckets;
    auto sub = (index - kSubBuckets) % kSubBuckets;
    return (kSubBuckets + sub) << shift;
}

std::uint64_t Histogram::bucket_high(std::size_t index) noexcept {
    if (index < kSubBuckets) return index;
    auto shift = (index - kSubBuckets) / kSubBuckets;
    return bucket_low(index) + (std::uint64_t{1} << shift) - 1;
}

void Histogram::record(std::uint64_t us) noexcept {
    ++counts_[bucket_of(us)];
    ++count_;
    sum_ += us;
    max_ = std::max(max_, us);
}

void Histogram::merge(const Histogram& other) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
}

void Histogram::reset() noexcept { *this = Histogram{}; }

double Histogram::percentile(double p) const noexcept {
    if (count_ == 0) return 0;
    p = std::clamp(p, 0.0, 100.0);
    // The nearest-rank definition: the smallest value with at least p % of the values at or below it.
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            double mid = (static_cast<double>(bucket_low(i)) + static_cast<double>(bucket_high(i))) / 2;
            return std::min(mid, static_cast<double>(max_));
        }
    }
    return static_cast<double>(max_);  // unreachable while count_ is the sum of counts_
}

std::size_t LatencyBuckets::index_of(std::uint64_t us) noexcept {
    return static_cast<std::size_t>(std::lower_bound(kBoundsUs.begin(), kBoundsUs.end(), us) -
                                    kBoundsUs.begin());
}

void LatencyBuckets::record(std::uint64_t us) noexcept {
    ++counts[index_of(us)];
    sum_us += us;
}

void LatencyBuckets::merge(const LatencyBuckets& other) noexcept {
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
    sum_us += other.sum_us;
}

std::uint64_t LatencyBuckets::count() const noexcept {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    return n;
}

}  // namespace yw
