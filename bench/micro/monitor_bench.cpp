// What QueryMonitor::record() costs per statement, on one thread and on several at once.
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <string_view>

#include "pg/monitor.hpp"

namespace {

constexpr std::array<std::string_view, 8> kNames = {
    "messages.latest",   "messages.insert",     "users.get",        "users.list",
    "conversations.get", "conversations.touch", "api_keys.by_hash", "audit.insert"};

yw::pg::QueryMonitor& monitor() {
    static yw::pg::QueryMonitor instance(yw::pg::MonitorOptions{});
    return instance;
}

// Registry names cycle and durations spread over 0.1 … 200 ms, so the bucket and slow-count paths both run.
void BM_Record(benchmark::State& state) {
    auto& m = monitor();
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7;
    for (auto _ : state) {
        m.record(kNames[i % kNames.size()], std::chrono::microseconds(100 + (i * 7919) % 200'000), true);
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Record)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

// The reader's side: merging every shard's window, which the /metrics/queries handler pays per request.
void BM_Report(benchmark::State& state) {
    auto& m = monitor();
    for (std::size_t i = 0; i < 10'000; ++i) {
        m.record(kNames[i % kNames.size()], std::chrono::microseconds(100 + (i * 7919) % 200'000), true);
    }
    for (auto _ : state) benchmark::DoNotOptimize(m.report());
}
BENCHMARK(BM_Report);

}  // namespace

BENCHMARK_MAIN();
