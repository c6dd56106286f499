// The data layer's metrics for GET /metrics.
#pragma once

#include <vector>

#include "common/prometheus.hpp"
#include "pg/cluster.hpp"
#include "pg/monitor.hpp"
#include "pg/result_set.hpp"

namespace yw::pg {

// Statement latency by query name (yw_db_query_*).
void dump_metrics(prometheus::Writer& out, const std::vector<QueryTotals>& queries);
// Pool gauges (yw_db_pool_*).
void dump_metrics(prometheus::Writer& out, const std::vector<Cluster::NamedStats>& pools);
// Rows refused for want of a partition.
void dump_metrics(prometheus::Writer& out, const MissingPartitionStats& stats);
// Routing counters and the topology as this instance sees it (yw_db_route_*, yw_db_node_*).
// `topology` may be null (no replicas configured).
void dump_metrics(prometheus::Writer& out, const RoutingStats& routing, const Snapshot* topology);
// Everything above of one cluster.
void dump_metrics(prometheus::Writer& out, const QueryMonitor& monitor, const Cluster& cluster);

}  // namespace yw::pg
