// GET /health: a thin handler over Checker.
#include "health/routes.hpp"

#include <boost/beast/http/field.hpp>

#include "http/error_response.hpp"

namespace yw::health {
namespace {

boost::asio::awaitable<http::Response> get_health(Checker& checker, const pg::TopologyMonitor* topology) {
    DatabaseStatus database = co_await checker.check_database();
    auto snapshot = topology ? topology->snapshot() : nullptr;
    auto report = health_report(database, snapshot.get(), std::chrono::system_clock::now(),
                                pg::missing_partition_stats());
    auto status = report["status"] == "unhealthy" ? boost::beast::http::status::service_unavailable
                                                  : boost::beast::http::status::ok;
    http::Response res = http::json_response(status, report);
    // A cached answer would hide an outage from the load balancer.
    res.set(boost::beast::http::field::cache_control, "no-store");
    co_return res;
}

}  // namespace

void add_routes(http::Router& router, Checker& checker, const pg::TopologyMonitor* topology) {
    router.add(boost::beast::http::verb::get, "/health",
               [&checker, topology](http::RequestContext&) { return get_health(checker, topology); });
}

}  // namespace yw::health
