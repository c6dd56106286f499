// See metrics.hpp.
#include "pg/metrics.hpp"

namespace yw::pg {
namespace {

struct PoolMetric {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    long long (*value)(const PoolStats&);
};

constexpr PoolMetric kPoolMetrics[] = {
    {"yw_db_pool_connections_max", "gauge", "The pool's bound on open connections.",
     [](const PoolStats& s) -> long long { return s.size; }},
    {"yw_db_pool_connections_open", "gauge", "Connections open or being opened.",
     [](const PoolStats& s) -> long long { return s.open; }},
    {"yw_db_pool_connections_idle", "gauge", "Open connections waiting in the pool.",
     [](const PoolStats& s) -> long long { return s.idle; }},
    {"yw_db_pool_waiting_clients", "gauge", "Callers queued for a connection (RB-21: > 0 means exhausted).",
     [](const PoolStats& s) -> long long { return s.waiting; }},
    {"yw_db_pool_acquire_timeouts_total", "counter", "Callers that gave up waiting for a connection.",
     [](const PoolStats& s) -> long long { return static_cast<long long>(s.acquire_timeouts); }},
    {"yw_db_pool_connect_failures_total", "counter", "Connection attempts that failed.",
     [](const PoolStats& s) -> long long { return static_cast<long long>(s.connect_failures); }},
};

}  // namespace

void dump_metrics(prometheus::Writer& out, const std::vector<QueryTotals>& queries) {
    std::vector<std::string> labels;
    for (const auto& query : queries) labels.push_back(prometheus::label("query", query.name));
    out.family("yw_db_query_duration_seconds", "histogram", "Statement durations by query registry name.");
    for (std::size_t i = 0; i < queries.size(); ++i)
        out.histogram("yw_db_query_duration_seconds", labels[i], queries[i].latency);
    out.family("yw_db_query_errors_total", "counter", "Statements that failed, by query registry name.");
    for (std::size_t i = 0; i < queries.size(); ++i)
        out.sample("yw_db_query_errors_total", labels[i], queries[i].errors);
}

void dump_metrics(prometheus::Writer& out, const std::vector<Cluster::NamedStats>& pools) {
    std::vector<std::string> labels;
    for (const auto& pool : pools) labels.push_back(prometheus::label("pool", pool.name));
    for (const auto& metric : kPoolMetrics) {
        out.family(metric.name, metric.type, metric.help);
        for (std::size_t i = 0; i < pools.size(); ++i)
            out.sample(metric.name, labels[i], metric.value(pools[i].stats));
    }
}

void dump_metrics(prometheus::Writer& out, const MissingPartitionStats& stats) {
    out.family("yw_db_missing_partition_rows_total", "counter",
               "Rows refused because no partition covers them (writes failing: create the partition).");
    out.sample("yw_db_missing_partition_rows_total", {}, stats.rows);
}

void dump_metrics(prometheus::Writer& out, const RoutingStats& routing, const Snapshot* topology) {
    std::vector<std::string> labels;
    for (const auto& node : routing.nodes) prometheus::append_label(labels.emplace_back(), "node", node.name);
    out.family("yw_db_route_statements_total", "counter",
               "Statements sent, by node and kind (read or write).");
    for (std::size_t i = 0; i < routing.nodes.size(); ++i) {
        out.sample("yw_db_route_statements_total", labels[i] + ",kind=\"read\"", routing.nodes[i].reads);
        out.sample("yw_db_route_statements_total", labels[i] + ",kind=\"write\"", routing.nodes[i].writes);
    }
    out.family(
        "yw_db_route_reads_on_primary_total", "counter",
        "Reads sent to the primary: no replica fresh enough, or none had replayed the tenant's last write.");
    out.sample("yw_db_route_reads_on_primary_total", "reason=\"no_fresh_replica\"",
               routing.reads_on_primary_no_replica);
    out.sample("yw_db_route_reads_on_primary_total", "reason=\"tenant_write_not_replayed\"",
               routing.reads_on_primary_for_tenant);
    out.family("yw_db_route_reads_degraded_total", "counter",
               "Reads served by a lagging replica because no primary answered.");
    out.sample("yw_db_route_reads_degraded_total", "", routing.reads_degraded);
    out.family("yw_db_route_reads_retried_total", "counter",
               "Reads asked again elsewhere after their node failed.");
    out.sample("yw_db_route_reads_retried_total", "", routing.reads_retried);
    out.family("yw_db_route_writes_bypassing_pgbouncer_total", "counter",
               "Writes sent straight to the primary because PgBouncer did not lead to it.");
    out.sample("yw_db_route_writes_bypassing_pgbouncer_total", "", routing.writes_bypassing_pgbouncer);
    out.family(
        "yw_db_route_entry_failovers_total", "counter",
        "Statements moved straight to the primary at once because DATABASE_URL (PgBouncer) failed them.");
    out.sample("yw_db_route_entry_failovers_total", "", routing.entry_failovers);
    out.family("yw_db_route_fast_failures_total", "counter",
               "Statements refused at once because the node they need is known to be down (503).");
    out.sample("yw_db_route_fast_failures_total", "", routing.fast_failures);
    if (!topology) return;

    labels.clear();
    for (const auto& node : topology->nodes)
        prometheus::append_label(labels.emplace_back(), "node", node.name);
    out.family("yw_db_node_up", "gauge", "1 when the node answered the last probe.");
    for (std::size_t i = 0; i < labels.size(); ++i)
        out.sample("yw_db_node_up", labels[i], topology->nodes[i].healthy);
    out.family("yw_db_node_role", "gauge",
               "1 for the node's current role (primary, replica, fenced, unknown).");
    for (std::size_t i = 0; i < labels.size(); ++i) {
        std::string l = labels[i];
        prometheus::append_label(l, "role", to_string(topology->nodes[i].role));
        out.sample("yw_db_node_role", l, 1);
    }
    out.family("yw_db_node_readable", "gauge", "1 when reads may go to the replica (fresh, not paused).");
    for (std::size_t i = 0; i < labels.size(); ++i)
        out.sample("yw_db_node_readable", labels[i], topology->nodes[i].readable);
    // Only replicas that answered the last probe: an unreachable one has no lag to report (yw_db_node_up says
    // it is down), and a 0 would read as "caught up".
    out.family("yw_db_replica_lag_seconds", "gauge",
               "How far behind the primary each replica is, in seconds.");
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (topology->nodes[i].role == Role::kReplica && topology->nodes[i].healthy)
            out.sample_real("yw_db_replica_lag_seconds", labels[i],
                            static_cast<double>(topology->nodes[i].lag_ms) / 1000.0);
    }
    if (topology->pgbouncer_configured) {
        out.family("yw_db_pgbouncer_leads_to_primary", "gauge",
                   "1 when DATABASE_URL (PgBouncer) leads to the current primary; 0: writes bypass it.");
        out.sample("yw_db_pgbouncer_leads_to_primary", "", topology->pgbouncer_ok);
    }
}

void dump_metrics(prometheus::Writer& out, const QueryMonitor& monitor, const Cluster& cluster) {
    dump_metrics(out, monitor.totals());
    dump_metrics(out, cluster.pool_stats());
    auto topology = cluster.topology() ? cluster.topology()->snapshot() : nullptr;
    dump_metrics(out, cluster.routing_stats(), topology.get());
}

}  // namespace yw::pg
