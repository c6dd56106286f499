// GET /health: a thin handler over Checker.
#include "health/routes.hpp"

#include <boost/beast/http/field.hpp>

#include "http/error_response.hpp"

namespace yw::health {
namespace {

boost::asio::awaitable<http::Response> get_health(Checker& checker) {
    DatabaseStatus database = co_await checker.check_database();
    auto status =
        database.up ? boost::beast::http::status::ok : boost::beast::http::status::service_unavailable;
    http::Response res =
        http::json_response(status, health_report(database, std::chrono::system_clock::now()));
    // A cached answer would hide an outage from the load balancer.
    res.set(boost::beast::http::field::cache_control, "no-store");
    co_return res;
}

}  // namespace

void add_routes(http::Router& router, Checker& checker) {
    router.add(boost::beast::http::verb::get, "/health",
               [&checker](http::RequestContext&) { return get_health(checker); });
}

}  // namespace yw::health
