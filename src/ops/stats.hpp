// The statistics of RB-10's before/after (`ywctl query compare`): quantiles, a bootstrap interval of the mean
// and of the median's change, and the Mann–Whitney U test. Pure, deterministic for a given seed.
#pragma once

#include <cstdint>
#include <vector>

namespace yw::ops::stats {

// The q-quantile (0 … 1) of sorted values, interpolating between the two nearest ranks (Hyndman & Fan's
// type 7, R's and NumPy's default); 0 for no values.
double quantile(const std::vector<double>& sorted, double q);

struct Summary {
    std::size_t n = 0;
    double min = 0, median = 0, p95 = 0, max = 0;
    double mean = 0, mean_low = 0, mean_high = 0;  // the mean and its 95 % bootstrap interval
};
Summary summarize(const std::vector<double>& values, std::uint64_t seed = 1);

// The median's relative change from `before` to `after` in percent (negative: faster), with a 95 % bootstrap
// interval (both samples resampled independently).
struct Change {
    double percent = 0, low = 0, high = 0;
};
Change median_change(const std::vector<double>& before, const std::vector<double>& after,
                     std::uint64_t seed = 1);

// Two-sided Mann–Whitney U (Wilcoxon rank-sum) with the normal approximation, tie correction and continuity
// correction: does one sample tend to be larger than the other? No assumption of normality, which latencies
// (long right tails) never satisfy.
struct RankTest {
    double u = 0;  // U of the first sample
    double z = 0;
    double p = 1;
};
RankTest mann_whitney(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace yw::ops::stats
