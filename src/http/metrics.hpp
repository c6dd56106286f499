// Request and connection metrics of the transport, and the list of other modules' metrics GET /metrics adds.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/histogram.hpp"
#include "common/prometheus.hpp"
#include "http/options.hpp"
#include "http/server.hpp"

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

    // Other modules' metrics (rate limits, cache, Redis, the database), written after the requests' by GET
    // /metrics. Add before serving.
    using Source = std::function<void(prometheus::Writer&)>;
    void add_source(Source source);
    void dump_sources(prometheus::Writer& out) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<Source> sources_;
};

// The route label of requests that matched no route (404, 405, refused): one series, whatever the path.
inline constexpr std::string_view kUnmatchedRoute = "unmatched";

// yw_http_requests_total and yw_http_request_duration_seconds.
void dump_metrics(prometheus::Writer& out, const std::vector<Metrics::Series>& requests);
// The server's connections: open, limit, accepted, shed, refused (yw_http_connections_*).
void dump_metrics(prometheus::Writer& out, const ConnectionStats& stats);

}  // namespace yw::http
