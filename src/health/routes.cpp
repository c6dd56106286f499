// GET /health: a thin handler over Checker.
#include "health/routes.hpp"

#include <boost/beast/http/field.hpp>

#include "http/error_response.hpp"

namespace yw::health {
namespace {

boost::asio::awaitable<http::Response> get_health(Checker& checker, const pg::TopologyMonitor* topology,
                                                  const partitions::Maintainer* maintainer) {
    DatabaseStatus database = co_await checker.check_database();
    auto snapshot = topology ? topology->snapshot() : nullptr;
    std::optional<partitions::MaintainerStatus> maintained;
    MaintainerView view;
    if (maintainer) {
        maintained = maintainer->status();
        view = {&*maintained, maintainer->options().interval};
    }
    auto report = health_report(database, snapshot.get(), std::chrono::system_clock::now(),
                                pg::missing_partition_stats(), view);
    auto status = report["status"] == "unhealthy" ? boost::beast::http::status::service_unavailable
                                                  : boost::beast::http::status::ok;
    http::Response res = http::json_response(status, report);
    // A cached answer would hide an outage from the load balancer.
    res.set(boost::beast::http::field::cache_control, "no-store");
    co_return res;
}

}  // namespace

void add_routes(http::Router& router, Checker& checker, const pg::TopologyMonitor* topology,
                const partitions::Maintainer* maintainer) {
    router.add(boost::beast::http::verb::get, "/health",
               [&checker, topology, maintainer](http::RequestContext&) {
                   return get_health(checker, topology, maintainer);
               });
}

}  // namespace yw::health
