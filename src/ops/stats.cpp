// See stats.hpp.
#include "ops/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace yw::ops::stats {
namespace {

constexpr int kResamples = 2000;

std::vector<double> sorted(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// One bootstrap resample of `v` into `out` (same size).
void resample(const std::vector<double>& v, std::vector<double>& out, std::mt19937_64& rng) {
    std::uniform_int_distribution<std::size_t> pick(0, v.size() - 1);
    out.resize(v.size());
    for (auto& x : out) x = v[pick(rng)];
}

double median_of(std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return quantile(v, 0.5);
}

}  // namespace

double quantile(const std::vector<double>& s, double q) {
    if (s.empty()) return 0;
    double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(s.size() - 1);
    auto lo = static_cast<std::size_t>(std::floor(pos));
    auto hi = std::min(lo + 1, s.size() - 1);
    return s[lo] + (pos - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

Summary summarize(const std::vector<double>& values, std::uint64_t seed) {
    Summary out;
    out.n = values.size();
    if (values.empty()) return out;
    auto s = sorted(values);
    out.min = s.front();
    out.max = s.back();
    out.median = quantile(s, 0.5);
    out.p95 = quantile(s, 0.95);
    out.mean = std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
    std::mt19937_64 rng(seed);
    std::vector<double> means, r;
    means.reserve(kResamples);
    for (int i = 0; i < kResamples; ++i) {
        resample(values, r, rng);
        means.push_back(std::accumulate(r.begin(), r.end(), 0.0) / static_cast<double>(r.size()));
    }
    std::sort(means.begin(), means.end());
    out.mean_low = quantile(means, 0.025);
    out.mean_high = quantile(means, 0.975);
    return out;
}

Change median_change(const std::vector<double>& before, const std::vector<double>& after,
                     std::uint64_t seed) {
    Change c;
    if (before.empty() || after.empty()) return c;
    auto b = before, a = after;
    double mb = median_of(b), ma = median_of(a);
    if (mb <= 0) return c;
    c.percent = 100.0 * (ma - mb) / mb;
    std::mt19937_64 rng(seed);
    std::vector<double> changes, rb, ra;
    changes.reserve(kResamples);
    for (int i = 0; i < kResamples; ++i) {
        resample(before, rb, rng);
        resample(after, ra, rng);
        double m = median_of(rb);
        if (m > 0) changes.push_back(100.0 * (median_of(ra) - m) / m);
    }
    std::sort(changes.begin(), changes.end());
    c.low = quantile(changes, 0.025);
    c.high = quantile(changes, 0.975);
    return c;
}

RankTest mann_whitney(const std::vector<double>& a, const std::vector<double>& b) {
    RankTest t;
    const double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size());
    if (a.empty() || b.empty()) return t;
    // Ranks of the pooled sample, ties getting their average rank.
    std::vector<std::pair<double, int>> pooled;
    pooled.reserve(a.size() + b.size());
    for (double x : a) pooled.emplace_back(x, 0);
    for (double x : b) pooled.emplace_back(x, 1);
    std::sort(pooled.begin(), pooled.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
    double rank_sum_a = 0, tie_term = 0;
    for (std::size_t i = 0; i < pooled.size();) {
        std::size_t j = i;
        while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
        double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;  // ranks i+1 … j
        double ties = static_cast<double>(j - i);
        tie_term += ties * ties * ties - ties;
        for (std::size_t k = i; k < j; ++k)
            if (pooled[k].second == 0) rank_sum_a += rank;
        i = j;
    }
    t.u = rank_sum_a - n1 * (n1 + 1) / 2.0;
    const double n = n1 + n2;
    const double mean = n1 * n2 / 2.0;
    const double variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)));
    if (variance <= 0) return t;  // every value equal: no evidence of any difference
    double diff = t.u - mean;
    double corrected = std::max(0.0, std::abs(diff) - 0.5);
    t.z = (diff < 0 ? -corrected : corrected) / std::sqrt(variance);
    t.p = std::erfc(std::abs(t.z) / std::sqrt(2.0));
    return t;
}

}  // namespace yw::ops::stats
