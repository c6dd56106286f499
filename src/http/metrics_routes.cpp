// GET /metrics/queries and GET /metrics: thin handlers over the query monitor and the metrics registry.
#include "http/metrics_routes.hpp"

#include <boost/beast/http/field.hpp>

#include "http/error_response.hpp"

namespace yw::http {
namespace {

// Scrapes and runbook checks want the numbers of now, never a cached copy.
constexpr std::string_view kNoStore = "no-store";

boost::asio::awaitable<Response> get_query_report(const pg::QueryMonitor& monitor) {
    Response res = json_response(beast::http::status::ok, monitor.report());
    res.set(beast::http::field::cache_control, kNoStore);
    co_return res;
}

boost::asio::awaitable<Response> get_exposition(const pg::QueryMonitor& monitor, const pg::Cluster& cluster,
                                                const Metrics& metrics) {
    Response res{beast::http::status::ok, 11};
    res.set(beast::http::field::content_type, kExpositionContentType);
    res.set(beast::http::field::cache_control, kNoStore);
    res.body() = exposition(metrics.snapshot(), monitor.totals(), cluster.pool_stats());
    auto topology = cluster.topology() ? cluster.topology()->snapshot() : nullptr;
    res.body() += routing_exposition(cluster.routing_stats(), topology.get());
    res.body() += metrics.sources_text();
    co_return res;
}

}  // namespace

void add_metrics_routes(Router& router, const pg::QueryMonitor& monitor, const pg::Cluster& cluster,
                        const Metrics& metrics) {
    router.add(beast::http::verb::get, "/metrics/queries",
               [&monitor](RequestContext&) { return get_query_report(monitor); });
    router.add(beast::http::verb::get, "/metrics", [&monitor, &cluster, &metrics](RequestContext&) {
        return get_exposition(monitor, cluster, metrics);
    });
}

}  // namespace yw::http
