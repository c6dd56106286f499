// Request counters in relaxed atomics behind a map that only grows, and the exposition text.
#include "http/metrics.hpp"

#include <fmt/format.h>

#include <atomic>
#include <iterator>
#include <map>
#include <shared_mutex>
#include <tuple>

namespace yw::http {
namespace {

struct AtomicBuckets {
    std::array<std::atomic<std::uint64_t>, LatencyBuckets::kBoundsUs.size() + 1> counts{};
    std::atomic<std::uint64_t> sum_us{0};
};

// (route, method, status): the order of snapshot().
using Key = std::tuple<std::string, std::string, unsigned>;

std::string_view method_label(boost::beast::http::verb method) {
    // Beast maps every method it does not know to verb::unknown: one label, however many a client invents.
    if (method == boost::beast::http::verb::unknown) return "other";
    return boost::beast::http::to_string(method);
}

void append_label(std::string& out, std::string_view name, std::string_view value) {
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    for (char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    out += '"';
}

// Prometheus measures time in seconds; "{}" gives the shortest text that reads back exactly (0.001, 2.5, 1).
std::string seconds(std::uint64_t us) { return fmt::format("{}", static_cast<double>(us) / 1e6); }

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// `labels` is the rendered label list of the series, without braces (may be empty).
void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
    if (labels.empty()) {
        fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
    } else {
        fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
    }
}

void histogram(std::string& out, std::string_view name, std::string_view labels,
               const LatencyBuckets& latency) {
    // Exposed buckets are cumulative: le="0.005" counts everything at or below 5 ms.
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < LatencyBuckets::kBoundsUs.size(); ++i) {
        cumulative += latency.counts[i];
        fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                       seconds(LatencyBuckets::kBoundsUs[i]), cumulative);
    }
    cumulative += latency.counts.back();
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, cumulative);
    fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n", name, labels, seconds(latency.sum_us));
    fmt::format_to(std::back_inserter(out), "{}_count{{{}}} {}\n", name, labels, cumulative);
}

struct PoolMetric {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    long long (*value)(const pg::PoolStats&);
};

constexpr PoolMetric kPoolMetrics[] = {
    {"yw_db_pool_connections_max", "gauge", "The pool's bound on open connections.",
     [](const pg::PoolStats& s) -> long long { return s.size; }},
    {"yw_db_pool_connections_open", "gauge", "Connections open or being opened.",
     [](const pg::PoolStats& s) -> long long { return s.open; }},
    {"yw_db_pool_connections_idle", "gauge", "Open connections waiting in the pool.",
     [](const pg::PoolStats& s) -> long long { return s.idle; }},
    {"yw_db_pool_waiting_clients", "gauge", "Callers queued for a connection (RB-21: > 0 means exhausted).",
     [](const pg::PoolStats& s) -> long long { return s.waiting; }},
    {"yw_db_pool_acquire_timeouts_total", "counter", "Callers that gave up waiting for a connection.",
     [](const pg::PoolStats& s) -> long long { return static_cast<long long>(s.acquire_timeouts); }},
    {"yw_db_pool_connect_failures_total", "counter", "Connection attempts that failed.",
     [](const pg::PoolStats& s) -> long long { return static_cast<long long>(s.connect_failures); }},
};

// Orders stored keys and lookups alike as views, so a lookup allocates nothing (and compiles with clang,
// whose tuple comparison across string and string_view libstdc++ 12 does not offer).
struct KeyLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
        return view(a) < view(b);
    }
    template <typename T>
    static std::tuple<std::string_view, std::string_view, unsigned> view(const T& t) {
        return {std::get<0>(t), std::get<1>(t), std::get<2>(t)};
    }
};

}  // namespace

struct Metrics::Impl {
    mutable std::shared_mutex mutex;
    std::map<Key, std::unique_ptr<AtomicBuckets>, KeyLess> series;  // grows only
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}

Metrics::~Metrics() = default;

void Metrics::add_source(Source source) { sources_.push_back(std::move(source)); }

std::string Metrics::sources_text() const {
    std::string out;
    for (const auto& source : sources_) out += source();
    return out;
}

void Metrics::observe(const RequestRecord& request) noexcept {
    std::string_view method = method_label(request.method);
    std::string_view route = request.route.empty() ? kUnmatchedRoute : request.route;
    std::uint64_t us = to_micros(request.duration);
    AtomicBuckets* buckets = nullptr;
    {
        std::shared_lock lock(impl_->mutex);
        auto it = impl_->series.find(std::tuple{route, method, request.status});
        if (it != impl_->series.end()) buckets = it->second.get();
    }
    if (!buckets) {
        try {
            std::unique_lock lock(impl_->mutex);
            auto& slot = impl_->series[Key{std::string(route), std::string(method), request.status}];
            if (!slot) slot = std::make_unique<AtomicBuckets>();
            buckets = slot.get();
        } catch (const std::exception&) {
            return;  // out of memory: the request was served, only its count is lost
        }
    }
    buckets->counts[LatencyBuckets::index_of(us)].fetch_add(1, std::memory_order_relaxed);
    buckets->sum_us.fetch_add(us, std::memory_order_relaxed);
}

std::vector<Metrics::Series> Metrics::snapshot() const {
    std::vector<Series> out;
    std::shared_lock lock(impl_->mutex);
    out.reserve(impl_->series.size());
    for (const auto& [key, buckets] : impl_->series) {
        Series& series = out.emplace_back();
        std::tie(series.route, series.method, series.status) = key;
        for (std::size_t i = 0; i < buckets->counts.size(); ++i) {
            series.latency.counts[i] = buckets->counts[i].load(std::memory_order_relaxed);
        }
        series.latency.sum_us = buckets->sum_us.load(std::memory_order_relaxed);
    }
    return out;
}

std::string exposition(const std::vector<Metrics::Series>& requests,
                       const std::vector<pg::QueryTotals>& queries,
                       const std::vector<pg::Cluster::NamedStats>& pools) {
    std::string out;
    std::vector<std::string> labels;

    labels.reserve(requests.size());
    for (const auto& series : requests) {
        std::string& l = labels.emplace_back();
        append_label(l, "method", series.method);
        append_label(l, "route", series.route);
        append_label(l, "status", std::to_string(series.status));
    }
    family(out, "yw_http_requests_total", "counter",
           "HTTP requests answered, by method, route pattern and status.");
    for (std::size_t i = 0; i < requests.size(); ++i) {
        sample(out, "yw_http_requests_total", labels[i], requests[i].latency.count());
    }
    family(out, "yw_http_request_duration_seconds", "histogram",
           "From the end of reading a request to the end of writing its response.");
    for (std::size_t i = 0; i < requests.size(); ++i) {
        histogram(out, "yw_http_request_duration_seconds", labels[i], requests[i].latency);
    }

    labels.clear();
    for (const auto& query : queries) append_label(labels.emplace_back(), "query", query.name);
    family(out, "yw_db_query_duration_seconds", "histogram", "Statement durations by query registry name.");
    for (std::size_t i = 0; i < queries.size(); ++i) {
        histogram(out, "yw_db_query_duration_seconds", labels[i], queries[i].latency);
    }
    family(out, "yw_db_query_errors_total", "counter", "Statements that failed, by query registry name.");
    for (std::size_t i = 0; i < queries.size(); ++i)
        sample(out, "yw_db_query_errors_total", labels[i], queries[i].errors);

    labels.clear();
    for (const auto& pool : pools) append_label(labels.emplace_back(), "pool", pool.name);
    for (const auto& metric : kPoolMetrics) {
        family(out, metric.name, metric.type, metric.help);
        for (std::size_t i = 0; i < pools.size(); ++i) {
            fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", metric.name, labels[i],
                           metric.value(pools[i].stats));
        }
    }
    return out;
}

std::string cache_exposition(const std::vector<cache::NamespaceStats>& stats) {
    struct Counter {
        std::string_view name;
        std::string_view help;
        std::uint64_t cache::NamespaceStats::*field;
    };
    static constexpr Counter kCounters[] = {
        {"yw_cache_hits_total", "Reads answered from Redis (not-found entries included).",
         &cache::NamespaceStats::hits},
        {"yw_cache_misses_total", "Reads not in Redis, answered from the database and stored.",
         &cache::NamespaceStats::misses},
        {"yw_cache_stale_total", "Loads not stored because a write deleted the key while they ran.",
         &cache::NamespaceStats::stale},
        {"yw_cache_errors_total", "Redis calls that failed (the read was answered from the database).",
         &cache::NamespaceStats::errors},
        {"yw_cache_loads_total", "Database loads behind the cache (one per key per process at a time).",
         &cache::NamespaceStats::loads},
    };
    std::string out;
    for (const auto& counter : kCounters) {
        family(out, counter.name, "counter", counter.help);
        for (const auto& s : stats) {
            std::string labels;
            append_label(labels, "namespace", cache::name_of(s.ns));
            sample(out, counter.name, labels, s.*counter.field);
        }
    }
    return out;
}

std::string missing_partition_exposition(const pg::MissingPartitionStats& stats) {
    std::string out;
    family(out, "yw_db_missing_partition_rows_total", "counter",
           "Rows refused because no partition covers them (writes failing: create the partition).");
    sample(out, "yw_db_missing_partition_rows_total", {}, stats.rows);
    return out;
}

std::string connection_exposition(const ConnectionStats& c) {
    std::string out;
    family(out, "yw_http_connections_open", "gauge", "Client connections open now.");
    sample(out, "yw_http_connections_open", {}, c.open);
    family(out, "yw_http_connections_limit", "gauge",
           "Open connections at most (YW_MAX_CONNECTIONS, lowered by the open-file limit).");
    sample(out, "yw_http_connections_limit", {}, c.limit);
    family(out, "yw_http_connections_accepted_total", "counter", "Client connections accepted.");
    sample(out, "yw_http_connections_accepted_total", {}, c.accepted);
    family(out, "yw_http_connections_shed_total", "counter",
           "Connections closed at the limit to make room for a new one (oldest idle first).");
    sample(out, "yw_http_connections_shed_total", {}, c.shed);
    family(out, "yw_http_connections_refused_total", "counter",
           "Connections answered 503 at the limit because every connection was busy.");
    sample(out, "yw_http_connections_refused_total", {}, c.refused);
    family(out, "yw_http_accept_errors_total", "counter", "Failed accepts (out of file descriptors, …).");
    sample(out, "yw_http_accept_errors_total", {}, c.accept_errors);
    return out;
}

std::string routing_exposition(const pg::RoutingStats& routing, const pg::Snapshot* topology) {
    std::string out;
    std::vector<std::string> labels;
    for (const auto& node : routing.nodes) append_label(labels.emplace_back(), "node", node.name);
    family(out, "yw_db_route_statements_total", "counter",
           "Statements sent, by node and kind (read or write).");
    for (std::size_t i = 0; i < routing.nodes.size(); ++i) {
        sample(out, "yw_db_route_statements_total", labels[i] + ",kind=\"read\"", routing.nodes[i].reads);
        sample(out, "yw_db_route_statements_total", labels[i] + ",kind=\"write\"", routing.nodes[i].writes);
    }
    family(
        out, "yw_db_route_reads_on_primary_total", "counter",
        "Reads sent to the primary: no replica fresh enough, or none had replayed the tenant's last write.");
    sample(out, "yw_db_route_reads_on_primary_total", "reason=\"no_fresh_replica\"",
           routing.reads_on_primary_no_replica);
    sample(out, "yw_db_route_reads_on_primary_total", "reason=\"tenant_write_not_replayed\"",
           routing.reads_on_primary_for_tenant);
    family(out, "yw_db_route_reads_degraded_total", "counter",
           "Reads served by a lagging replica because no primary answered.");
    sample(out, "yw_db_route_reads_degraded_total", "", routing.reads_degraded);
    family(out, "yw_db_route_reads_retried_total", "counter",
           "Reads asked again elsewhere after their node failed.");
    sample(out, "yw_db_route_reads_retried_total", "", routing.reads_retried);
    family(out, "yw_db_route_writes_bypassing_pgbouncer_total", "counter",
           "Writes sent straight to the primary because PgBouncer did not lead to it.");
    sample(out, "yw_db_route_writes_bypassing_pgbouncer_total", "", routing.writes_bypassing_pgbouncer);
    family(out, "yw_db_route_entry_failovers_total", "counter",
           "Statements moved straight to the primary at once because DATABASE_URL (PgBouncer) failed them.");
    sample(out, "yw_db_route_entry_failovers_total", "", routing.entry_failovers);
    family(out, "yw_db_route_fast_failures_total", "counter",
           "Statements refused at once because the node they need is known to be down (503).");
    sample(out, "yw_db_route_fast_failures_total", "", routing.fast_failures);
    if (!topology) return out;

    labels.clear();
    for (const auto& node : topology->nodes) append_label(labels.emplace_back(), "node", node.name);
    family(out, "yw_db_node_up", "gauge", "1 when the node answered the last probe.");
    for (std::size_t i = 0; i < labels.size(); ++i)
        sample(out, "yw_db_node_up", labels[i], topology->nodes[i].healthy);
    family(out, "yw_db_node_role", "gauge",
           "1 for the node's current role (primary, replica, fenced, unknown).");
    for (std::size_t i = 0; i < labels.size(); ++i) {
        std::string l = labels[i];
        append_label(l, "role", pg::to_string(topology->nodes[i].role));
        sample(out, "yw_db_node_role", l, 1);
    }
    family(out, "yw_db_node_readable", "gauge", "1 when reads may go to the replica (fresh, not paused).");
    for (std::size_t i = 0; i < labels.size(); ++i)
        sample(out, "yw_db_node_readable", labels[i], topology->nodes[i].readable);
    family(out, "yw_db_replica_lag_milliseconds", "gauge", "How far behind the primary each replica is.");
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (topology->nodes[i].role == pg::Role::kReplica)
            sample(out, "yw_db_replica_lag_milliseconds", labels[i],
                   static_cast<std::uint64_t>(topology->nodes[i].lag_ms));
    }
    if (topology->pgbouncer_configured) {
        family(out, "yw_db_pgbouncer_leads_to_primary", "gauge",
               "1 when DATABASE_URL (PgBouncer) leads to the current primary; 0: writes bypass it.");
        sample(out, "yw_db_pgbouncer_leads_to_primary", "", topology->pgbouncer_ok);
    }
    return out;
}

}  // namespace yw::http
