// GET /health, /livez and /readyz: thin handlers over Checker.
#include "health/routes.hpp"

#include <boost/beast/http/field.hpp>

#include "health/status.hpp"
#include "http/admin_token.hpp"
#include "http/error_response.hpp"

namespace yw::health {
namespace {

http::Response no_store(http::Response res) {
    res.set(boost::beast::http::field::cache_control, "no-store");
    return res;
}

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
    // A cached answer would hide an outage from the load balancer.
    co_return no_store(http::json_response(status, report));
}

// Kubernetes' probes: liveness touches nothing (a restart cures no database outage), readiness asks the
// primary (an instance that cannot reach it should get no traffic).
boost::asio::awaitable<http::Response> get_readyz(Checker& checker) {
    DatabaseStatus database = co_await checker.check_database();
    boost::json::object body{{"status", database.up ? "ready" : "not ready"}};
    if (database.up) {
        body["database_latency_ms"] = database.latency_ms;
    } else {
        body["reason"] = "the primary database does not answer: " + database.error;
    }
    co_return no_store(http::json_response(
        database.up ? boost::beast::http::status::ok : boost::beast::http::status::service_unavailable,
        body));
}

boost::asio::awaitable<http::Response> get_detailed(DetailedProber& prober, const std::string& admin_token,
                                                    const http::Request& request) {
    auto reading = co_await prober.reading();
    if (!reading) {
        co_return no_store(http::json_response(
            boost::beast::http::status::service_unavailable,
            boost::json::object{{"status", "unhealthy"},
                                {"timestamp", rfc3339(std::chrono::system_clock::now())}}));
    }
    const bool details = http::admin_token_matches(admin_token, http::bearer_token(request));
    auto status = overall(*reading) == Verdict::kUnhealthy ? boost::beast::http::status::service_unavailable
                                                           : boost::beast::http::status::ok;
    co_return no_store(
        http::json_response(status, details ? detailed_report(*reading) : summary_report(*reading)));
}

boost::asio::awaitable<http::Response> get_status_page() {
    http::Response res{boost::beast::http::status::ok, 11};
    res.set(boost::beast::http::field::content_type, "text/html; charset=utf-8");
    res.set("Content-Security-Policy", status_page_csp());
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.body() = std::string(status_page());
    co_return no_store(std::move(res));
}

boost::asio::awaitable<http::Response> get_status_data(http::RequestContext& ctx, DetailedProber& prober,
                                                       const History& history, pg::Cluster& db,
                                                       const std::string& admin_token) {
    if (admin_token.empty()) {
        co_return http::error_response(
            ctx, make_error(ErrorCode::kForbidden, "the status page's data needs YW_ADMIN_TOKEN to be set"));
    }
    if (!http::admin_token_matches(admin_token, http::bearer_token(ctx.request)))
        co_return http::error_response(ctx, make_error(ErrorCode::kUnauthenticated, "admin token required"));
    auto reading = co_await prober.reading();
    auto partitions = co_await partitions_json(db);
    boost::json::object guides{
        {"lag_ms", {kReplicaLagDegradedMs, kReplicaLagUnhealthyMs}},
        {"p95_ms", {kP95DegradedMs, kP95UnhealthyMs}},
        {"cache_hit_rate_percent", {kHitRateHealthyPercent, kHitRatePoorPercent}},
    };
    boost::json::object body{
        {"status", reading ? to_string(overall(*reading)) : "unhealthy"},
        {"timestamp", rfc3339(reading ? reading->taken : std::chrono::system_clock::now())},
        {"fields", reading ? graded_fields(*reading) : boost::json::array{}},
        {"history", history.to_json()},
        {"guides", std::move(guides)},
        {"partitions", std::move(partitions)}};
    co_return no_store(http::json_response(boost::beast::http::status::ok, body));
}

}  // namespace

void add_status_routes(http::Router& router, DetailedProber& prober, const History& history, pg::Cluster& db,
                       std::string admin_token) {
    router.add(boost::beast::http::verb::get, "/status",
               [](http::RequestContext&) { return get_status_page(); });
    router.add(boost::beast::http::verb::get, "/status/data",
               [&prober, &history, &db, token = std::move(admin_token)](http::RequestContext& ctx) {
                   return get_status_data(ctx, prober, history, db, token);
               });
}

void add_detailed_route(http::Router& router, DetailedProber& prober, std::string admin_token) {
    router.add(boost::beast::http::verb::get, "/health/detailed",
               [&prober, token = std::move(admin_token)](http::RequestContext& ctx) {
                   return get_detailed(prober, token, ctx.request);
               });
}

void add_routes(http::Router& router, Checker& checker, const pg::TopologyMonitor* topology,
                const partitions::Maintainer* maintainer) {
    router.add(boost::beast::http::verb::get, "/health",
               [&checker, topology, maintainer](http::RequestContext&) {
                   return get_health(checker, topology, maintainer);
               });
    router.add(boost::beast::http::verb::get, "/livez",
               [](http::RequestContext&) -> boost::asio::awaitable<http::Response> {
                   co_return no_store(http::json_response(boost::beast::http::status::ok,
                                                          boost::json::object{{"status", "alive"}}));
               });
    router.add(boost::beast::http::verb::get, "/readyz",
               [&checker](http::RequestContext&) { return get_readyz(checker); });
}

}  // namespace yw::health
