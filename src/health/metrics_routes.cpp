// GET /metrics/queries and GET /metrics: thin handlers over the query monitor and each module's metrics.
#include "health/metrics_routes.hpp"

#include <boost/beast/http/field.hpp>

#include "common/prometheus.hpp"
#include "http/error_response.hpp"
#include "pg/metrics.hpp"

namespace yw::health {
namespace {

namespace beast = boost::beast;
using http::Response;

// Scrapes and runbook checks want the numbers of now, never a cached copy.
constexpr std::string_view kNoStore = "no-store";

boost::asio::awaitable<Response> get_query_report(const pg::QueryMonitor& monitor) {
    Response res = http::json_response(beast::http::status::ok, monitor.report());
    res.set(beast::http::field::cache_control, kNoStore);
    co_return res;
}

boost::asio::awaitable<Response> get_exposition(const pg::QueryMonitor& monitor, const pg::Cluster& cluster,
                                                const http::Metrics& metrics) {
    Response res{beast::http::status::ok, 11};
    res.set(beast::http::field::content_type, prometheus::kContentType);
    res.set(beast::http::field::cache_control, kNoStore);
    prometheus::Writer out;
    http::dump_metrics(out, metrics.snapshot());
    pg::dump_metrics(out, monitor, cluster);
    metrics.dump_sources(out);
    res.body() = out.take();
    co_return res;
}

}  // namespace

void add_metrics_routes(http::Router& router, const pg::QueryMonitor& monitor, const pg::Cluster& cluster,
                        const http::Metrics& metrics) {
    router.add(beast::http::verb::get, "/metrics/queries",
               [&monitor](http::RequestContext&) { return get_query_report(monitor); });
    router.add(beast::http::verb::get, "/metrics", [&monitor, &cluster, &metrics](http::RequestContext&) {
        return get_exposition(monitor, cluster, metrics);
    });
}

}  // namespace yw::health
