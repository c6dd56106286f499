// Request metrics, and the Prometheus text exposition of GET /metrics.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/cache.hpp"
#include "common/histogram.hpp"
#include "http/options.hpp"
#include "http/server.hpp"
#include "pg/cluster.hpp"
#include "pg/monitor.hpp"
#include "pg/result_set.hpp"

namespace yw::http {

// Requests counted by (method, route pattern, status), with their latency, since the process started. The
// labels are bounded: route patterns, not paths; Beast's verbs, other methods as "other"; status codes.
class Metrics {
  public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // Thread-safe. After a label set's first request, no allocation and no exclusive lock: a shared lock to
    // find the series and relaxed atomic increments.
    void observe(const RequestRecord& request) noexcept;

    struct Series {
        std::string method;  // "GET"
        std::string route;   // "/v1/users/{id}", or "unmatched"
        unsigned status = 0;
        LatencyBuckets latency;
    };
    // Sorted by route, method, status.
    std::vector<Series> snapshot() const;

    // More exposition text (rate limits, cache, Redis), appended to GET /metrics. Add before serving.
    using Source = std::function<std::string()>;
    void add_source(Source source);
    std::string sources_text() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<Source> sources_;
};

// The route label of requests that matched no route (404, 405, refused): one series, whatever the path.
inline constexpr std::string_view kUnmatchedRoute = "unmatched";

inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

// The text exposition format 0.0.4: requests (yw_http_*), query latency by name (yw_db_query_*) and pool
// gauges (yw_db_pool_*). Pure, for tests.
std::string exposition(const std::vector<Metrics::Series>& requests,
                       const std::vector<pg::QueryTotals>& queries,
                       const std::vector<pg::Cluster::NamedStats>& pools);

// The read cache's counters by namespace: yw_cache_{hits,misses,stale,errors,loads}_total. Pure, for tests.
std::string cache_exposition(const std::vector<cache::NamespaceStats>& stats);
// yw_db_missing_partition_rows_total. Pure, for tests.
std::string missing_partition_exposition(const pg::MissingPartitionStats& stats);
// The server's connections: open, limit, accepted, shed, refused (yw_http_connections_*). Pure, for tests.
std::string connection_exposition(const ConnectionStats& stats);
// Routing counters and the topology as this instance sees it (yw_db_route_*, yw_db_node_*). `topology` may be
// null (no replicas configured). Pure, for tests.
std::string routing_exposition(const pg::RoutingStats& routing, const pg::Snapshot* topology);

}  // namespace yw::http
