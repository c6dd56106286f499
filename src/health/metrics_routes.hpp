// The metrics endpoints: GET /metrics/queries (RB-8) and GET /metrics (Prometheus).
#pragma once

#include "http/metrics.hpp"
#include "http/router.hpp"
#include "pg/cluster.hpp"
#include "pg/monitor.hpp"

namespace yw::health {

// GET /metrics/queries: the query monitor's report, application/json. GET /metrics: the text exposition of
// requests, queries, pools and routing, then the sources added to `metrics`. All three must outlive the
// router.
void add_metrics_routes(http::Router& router, const pg::QueryMonitor& monitor, const pg::Cluster& cluster,
                        const http::Metrics& metrics);

}  // namespace yw::health
