// Query monitoring (RB-8): every statement's duration per registry name, in fixed memory.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/histogram.hpp"

namespace yw::pg {

struct MonitorOptions {
    std::chrono::seconds window{300};  // the sliding window of /metrics/queries
    int slow_threshold_ms = 100;       // SLOW_QUERY_THRESHOLD_MS
    // Where the window's time comes from; tests inject their own to step past the window.
    std::function<std::chrono::steady_clock::time_point()> clock = std::chrono::steady_clock::now;
};

// One query name's totals since the monitor started: what Prometheus scrapes (counters never go down).
struct QueryTotals {
    std::string name;
    LatencyBuckets latency;
    std::uint64_t errors = 0;  // statements that failed (their durations are in `latency` too)
};

// The window's statements as RB-23's queries.* fields read them.
struct QuerySummary {
    double p95_ms = 0;        // queries.p95_latency
    double slow_percent = 0;  // queries.slow_query_percentage: slower than SLOW_QUERY_THRESHOLD_MS, 0 … 100
    std::uint64_t total = 0;  // statements in the window
};

// The interface is fixed by the data layer; the implementation lives in monitor.cpp.
class QueryMonitor {
  public:
    explicit QueryMonitor(MonitorOptions options);
    ~QueryMonitor();
    QueryMonitor(const QueryMonitor&) = delete;
    QueryMonitor& operator=(const QueryMonitor&) = delete;

    // Hot path, called from any thread after every statement: no allocation after a name's first use; the
    // only lock is this thread's shard, which the reader takes for a moment every few seconds.
    void record(std::string_view query_name, std::chrono::nanoseconds duration, bool ok) noexcept;

    // RB-8's shape, exactly: {"slowQueries":[{"query","duration","count","threshold"}],
    // "statistics":{"p50","p90","p95","p99","average","total_queries"},
    // "health":"healthy"|"degraded"|"unhealthy"}
    boost::json::value report() const;

    // Every name seen, sorted by name.
    std::vector<QueryTotals> totals() const;

    // report()'s p95 and slow share without the JSON: GET /health/detailed's queries.
    QuerySummary summary() const;

  private:
    struct Window {
        Histogram latency;
        std::uint64_t slow = 0;
    };
    // The sliding window's statements by query name.
    std::map<std::string, Window, std::less<>> windows() const;

    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace yw::pg
