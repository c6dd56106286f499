// The data layer's metrics for GET /metrics: statement latency by query name (yw_db_query_*), pool gauges
// (yw_db_pool_*), routing counters and the topology as this instance sees it (yw_db_route_*, yw_db_node_*),
// and rows refused for want of a partition.
#pragma once

#include <vector>

#include "common/prometheus.hpp"
#include "pg/cluster.hpp"
#include "pg/monitor.hpp"
#include "pg/result_set.hpp"

namespace yw::pg {

void dump_metrics(prometheus::Writer& out, const std::vector<QueryTotals>& queries);
void dump_metrics(prometheus::Writer& out, const std::vector<Cluster::NamedStats>& pools);
void dump_metrics(prometheus::Writer& out, const MissingPartitionStats& stats);
// `topology` may be null (no replicas configured).
void dump_metrics(prometheus::Writer& out, const RoutingStats& routing, const Snapshot* topology);
// Everything above of one cluster.
void dump_metrics(prometheus::Writer& out, const QueryMonitor& monitor, const Cluster& cluster);

}  // namespace yw::pg
