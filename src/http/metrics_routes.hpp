// The metrics endpoints' routes: GET /metrics/queries (RB-8) and GET /metrics (Prometheus).
#pragma once

#include "http/metrics.hpp"
#include "http/router.hpp"
#include "pg/cluster.hpp"
#include "pg/monitor.hpp"

namespace yw::http {

// GET /metrics/queries: the query monitor's report, application/json. GET /metrics: the text exposition of
// requests, queries and pools. All three sources must outlive the router.
void add_metrics_routes(Router& router, const pg::QueryMonitor& monitor, const pg::Cluster& cluster,
                        const Metrics& metrics);

}  // namespace yw::http
