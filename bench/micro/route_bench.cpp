// What the routing decision costs per statement (target: under 2 % of a request). Two levels:
//   - BM_RouteRead / BM_RouteWrite: the pure choice from a snapshot (src/pg/route.hpp);
//   - BM_ReadDecision: everything Cluster::exec does in-process before a read leaves for its node: the
//     snapshot's atomic load, the scope's read-your-writes position (mutex + hash lookup among 4096
//     tenants) and the choice. The shared position's Redis lookup is a network round trip, measured
//     end to end by bench/run.sh instead.
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "pg/cluster.hpp"
#include "pg/route.hpp"

namespace {

using yw::pg::Role;
using yw::pg::Snapshot;

Snapshot two_replicas() {
    Snapshot s;
    s.nodes = {{"primary", Role::kPrimary, true, false, 0, 5000},
               {"replica1", Role::kReplica, true, true, 3, 5000},
               {"replica2", Role::kReplica, true, true, 4, 4990}};
    s.primary = 0;
    s.pgbouncer_configured = true;
    s.round = 1;
    return s;
}

void BM_RouteRead(benchmark::State& state) {
    const Snapshot s = two_replicas();
    unsigned turn = 0;
    for (auto _ : state) {
        auto r = yw::pg::route_read(s, 4995, -1, turn++);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_RouteRead);

void BM_RouteWrite(benchmark::State& state) {
    const Snapshot s = two_replicas();
    for (auto _ : state) {
        auto r = yw::pg::route_write(s);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_RouteWrite);

void BM_ReadDecision(benchmark::State& state) {
    static std::atomic<std::shared_ptr<const Snapshot>> published{
        std::make_shared<const Snapshot>(two_replicas())};
    static yw::pg::WriteLsnTracker lsns;
    static std::vector<std::string> tenants = [] {
        std::vector<std::string> t;
        for (int i = 0; i < 4096; ++i)
            t.push_back("00000000-0000-4000-8000-" + std::to_string(100000000000 + i));
        for (size_t i = 0; i < t.size(); i += 2) lsns.note(t[i], 4000 + i);
        return t;
    }();
    static std::atomic<unsigned> next{0};
    size_t i = static_cast<size_t>(state.thread_index()) * 977;
    for (auto _ : state) {
        auto snapshot = published.load(std::memory_order_acquire);
        std::uint64_t required = lsns.required(tenants[i++ % tenants.size()]);
        auto r = yw::pg::route_read(*snapshot, required, -1, next.fetch_add(1, std::memory_order_relaxed));
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_ReadDecision)->Threads(1)->Threads(2);

}  // namespace
