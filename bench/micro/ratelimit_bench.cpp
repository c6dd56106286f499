// The limiter's arithmetic per request: GCRA (what the Redis script computes, and the local fallback runs
// in-process) and the whitelist match against a few networks.
#include <benchmark/benchmark.h>

#include "ratelimit/policy.hpp"

namespace {

void BM_Gcra(benchmark::State& state) {
    const auto policy = *yw::ratelimit::policy_for("professional");
    std::int64_t tat = 0, now = 1'000'000'000;
    for (auto _ : state) {
        auto v = yw::ratelimit::gcra(policy, tat, now);
        if (v.allowed) tat = v.tat_us;
        now += 40'000;  // 1500/min against a 1000/min limit: some denials
        benchmark::DoNotOptimize(v);
    }
}
BENCHMARK(BM_Gcra);

void BM_Whitelist(benchmark::State& state) {
    const std::vector<std::string> whitelist = {"192.168.1.10", "10.0.0.0/8", "2001:db8::/32",
                                                "172.16.0.0/12"};
    for (auto _ : state) {
        bool hit = yw::ratelimit::ip_whitelisted(whitelist, "203.0.113.77");
        benchmark::DoNotOptimize(hit);
    }
}
BENCHMARK(BM_Whitelist);

}  // namespace
