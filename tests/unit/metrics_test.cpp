// Request metrics and the Prometheus text exposition: format, cumulative buckets, escaping, bounded labels,
// and GET /metrics and /metrics/queries through the real server.
#include "http/metrics.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "common/logging.hpp"
#include "health/metrics_routes.hpp"
#include "http/server.hpp"
#include "pg/metrics.hpp"

namespace yw::http {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using beast::http::verb;

bool contains_line(const std::string& text, const std::string& line) {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l == line) return true;
    }
    return false;
}

// GET /metrics's first part: requests (http), then queries and pools (pg), each written by its module.
std::string exposition(const std::vector<Metrics::Series>& requests,
                       const std::vector<pg::QueryTotals>& queries,
                       const std::vector<pg::Cluster::NamedStats>& pools) {
    prometheus::Writer out;
    dump_metrics(out, requests);
    pg::dump_metrics(out, queries);
    pg::dump_metrics(out, pools);
    return out.take();
}

#define EXPECT_LINE(text, line) \
    EXPECT_TRUE(contains_line(text, line)) << "missing line: " << (line) << "\nin:\n" << (text)

// Checks what a Prometheus parser relies on: every line is HELP, TYPE or a sample; a family's HELP and TYPE
// come once, before its samples; a histogram's buckets never decrease and its +Inf bucket equals its _count.
void expect_valid_exposition(const std::string& text) {
    static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
    static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
    static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+))");
    static const std::regex kLe(R"((.*),le="([^"]*)\")");
    std::map<std::string, std::string> types;
    std::set<std::string> helped;
    std::string current;                        // the family whose samples may follow
    std::map<std::string, double> last_bucket;  // by series labels without le
    std::map<std::string, double> inf_bucket;
    std::istringstream in(text);
    ASSERT_FALSE(text.empty());
    ASSERT_EQ(text.back(), '\n');
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_match(line, m, kHelp)) {
            EXPECT_TRUE(helped.insert(m[1]).second) << "HELP twice: " << line;
            current = m[1];
        } else if (std::regex_match(line, m, kType)) {
            EXPECT_EQ(m[1], current) << "TYPE without its HELP: " << line;
            EXPECT_TRUE(types.emplace(m[1], m[2]).second) << "TYPE twice: " << line;
        } else if (std::regex_match(line, m, kSample)) {
            std::string name = m[1];
            std::string labels = m[2];
            double value = std::stod(m[3]);
            std::string family = name;
            if (types[current] == "histogram") {
                for (std::string suffix : {"_bucket", "_sum", "_count"}) {
                    if (name.ends_with(suffix)) family = name.substr(0, name.size() - suffix.size());
                }
            }
            EXPECT_EQ(family, current) << "sample outside its family: " << line;
            std::smatch le;
            if (name.ends_with("_bucket") && std::regex_match(labels, le, kLe)) {
                std::string key = name + "{" + le[1].str();
                EXPECT_GE(value, last_bucket[key]) << "buckets must be cumulative: " << line;
                last_bucket[key] = value;
                if (le[2] == "+Inf") inf_bucket[family + "{" + le[1].str()] = value;
            } else if (name.ends_with("_count") && types[current] == "histogram") {
                EXPECT_EQ(inf_bucket[family + "{" + labels], value) << "+Inf must equal _count: " << line;
            }
        } else {
            ADD_FAILURE() << "not an exposition line: " << line;
        }
    }
}

TEST(Metrics, CountsRequestsByMethodRouteAndStatus) {
    Metrics metrics;
    metrics.observe({verb::get, "/v1/users/{id}", 200, 1ms});
    metrics.observe({verb::get, "/v1/users/{id}", 200, 30ms});
    metrics.observe({verb::get, "/v1/users/{id}", 404, 2ms});
    metrics.observe({verb::post, "", 404, 3s});
    metrics.observe({verb::unknown, "", 400, 1ms});

    std::vector<Metrics::Series> series = metrics.snapshot();
    ASSERT_EQ(series.size(), 4u);
    EXPECT_EQ(series[0].route, "/v1/users/{id}");
    EXPECT_EQ(series[0].method, "GET");
    EXPECT_EQ(series[0].status, 200u);
    EXPECT_EQ(series[0].latency.count(), 2u);
    EXPECT_EQ(series[0].latency.sum_us, 31'000u);
    EXPECT_EQ(series[1].status, 404u);
    // Requests that matched no route share one label, whatever their path; unknown methods share another.
    EXPECT_EQ(series[2].route, kUnmatchedRoute);
    EXPECT_EQ(series[2].method, "POST");
    EXPECT_EQ(series[3].route, kUnmatchedRoute);
    EXPECT_EQ(series[3].method, "other");
}

TEST(Metrics, ExpositionOfRequestsHasHelpTypeCumulativeBucketsSumAndCount) {
    Metrics metrics;
    metrics.observe({verb::get, "/v1/users/{id}", 200, 1ms});  // exactly on the 1 ms bound: le="0.001"
    metrics.observe({verb::get, "/v1/users/{id}", 200, 30ms});
    metrics.observe({verb::post, "", 404, 3s});  // above every bound: only +Inf
    std::string text = exposition(metrics.snapshot(), {}, {});
    expect_valid_exposition(text);

    EXPECT_LINE(text, "# TYPE yw_http_requests_total counter");
    EXPECT_LINE(text, R"(yw_http_requests_total{method="GET",route="/v1/users/{id}",status="200"} 2)");
    EXPECT_LINE(text, R"(yw_http_requests_total{method="POST",route="unmatched",status="404"} 1)");
    EXPECT_LINE(text, "# TYPE yw_http_request_duration_seconds histogram");
    const std::string get =
        R"(yw_http_request_duration_seconds_bucket{method="GET",route="/v1/users/{id}",status="200",)";
    EXPECT_LINE(text, get + R"(le="0.001"} 1)");
    EXPECT_LINE(text, get + R"(le="0.025"} 1)");
    EXPECT_LINE(text, get + R"(le="0.05"} 2)");
    EXPECT_LINE(text, get + R"(le="2.5"} 2)");
    EXPECT_LINE(text, get + R"(le="+Inf"} 2)");
    EXPECT_LINE(
        text,
        R"(yw_http_request_duration_seconds_sum{method="GET",route="/v1/users/{id}",status="200"} 0.031)");
    EXPECT_LINE(
        text,
        R"(yw_http_request_duration_seconds_count{method="GET",route="/v1/users/{id}",status="200"} 2)");
    const std::string post =
        R"(yw_http_request_duration_seconds_bucket{method="POST",route="unmatched",status="404",)";
    EXPECT_LINE(text, post + R"(le="2.5"} 0)");
    EXPECT_LINE(text, post + R"(le="+Inf"} 1)");
    EXPECT_LINE(text,
                R"(yw_http_request_duration_seconds_sum{method="POST",route="unmatched",status="404"} 3)");
}

TEST(Metrics, RealSamplesInBaseUnitsAreWrittenExactly) {
    prometheus::Writer w;
    w.family("yw_db_replica_lag_seconds", "gauge", "lag");
    w.sample_real("yw_db_replica_lag_seconds", "node=\"replica-1\"", 1.25);
    w.sample_real("yw_db_replica_lag_seconds", "node=\"replica-2\"", 0.001);
    w.sample_real("yw_db_replica_lag_seconds", "", 0.0);
    EXPECT_NE(w.text().find("yw_db_replica_lag_seconds{node=\"replica-1\"} 1.25\n"), std::string::npos)
        << w.text();
    EXPECT_NE(w.text().find("yw_db_replica_lag_seconds{node=\"replica-2\"} 0.001\n"), std::string::npos)
        << w.text();
    EXPECT_NE(w.text().find("yw_db_replica_lag_seconds 0\n"), std::string::npos) << w.text();
}

TEST(Metrics, LabelValuesAreEscaped) {
    Metrics::Series series{.method = "GET", .route = "/a\"b\\c\nd", .status = 200};
    series.latency.record(10);
    pg::QueryTotals query{.name = "odd\"name"};
    std::string text = exposition({series}, {query}, {});
    expect_valid_exposition(text);
    EXPECT_LINE(text, R"(yw_http_requests_total{method="GET",route="/a\"b\\c\nd",status="200"} 1)");
    EXPECT_LINE(text, R"(yw_db_query_errors_total{query="odd\"name"} 0)");
}

TEST(Metrics, ExpositionOfQueriesAndPools) {
    pg::QueryTotals query{.name = "messages.latest", .errors = 1};
    query.latency.record(500);
    query.latency.record(700'000);
    pg::Cluster::NamedStats pool{
        .name = "primary",
        .stats = {
            .size = 16, .open = 5, .idle = 2, .waiting = 3, .acquire_timeouts = 7, .connect_failures = 1}};
    std::string text = exposition({}, {query}, {pool});
    expect_valid_exposition(text);

    EXPECT_LINE(text, "# TYPE yw_db_query_duration_seconds histogram");
    EXPECT_LINE(text, R"(yw_db_query_duration_seconds_bucket{query="messages.latest",le="0.001"} 1)");
    EXPECT_LINE(text, R"(yw_db_query_duration_seconds_bucket{query="messages.latest",le="0.5"} 1)");
    EXPECT_LINE(text, R"(yw_db_query_duration_seconds_bucket{query="messages.latest",le="1"} 2)");
    EXPECT_LINE(text, R"(yw_db_query_duration_seconds_sum{query="messages.latest"} 0.7005)");
    EXPECT_LINE(text, R"(yw_db_query_duration_seconds_count{query="messages.latest"} 2)");
    EXPECT_LINE(text, "# TYPE yw_db_query_errors_total counter");
    EXPECT_LINE(text, R"(yw_db_query_errors_total{query="messages.latest"} 1)");
    EXPECT_LINE(text, "# TYPE yw_db_pool_connections_max gauge");
    EXPECT_LINE(text, R"(yw_db_pool_connections_max{pool="primary"} 16)");
    EXPECT_LINE(text, R"(yw_db_pool_connections_open{pool="primary"} 5)");
    EXPECT_LINE(text, R"(yw_db_pool_connections_idle{pool="primary"} 2)");
    EXPECT_LINE(text, R"(yw_db_pool_waiting_clients{pool="primary"} 3)");
    EXPECT_LINE(text, "# TYPE yw_db_pool_acquire_timeouts_total counter");
    EXPECT_LINE(text, R"(yw_db_pool_acquire_timeouts_total{pool="primary"} 7)");
    EXPECT_LINE(text, R"(yw_db_pool_connect_failures_total{pool="primary"} 1)");
}

TEST(Metrics, ObservingFromManyThreadsLosesNothing) {
    Metrics metrics;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&metrics] {
            for (int i = 0; i < 10'000; ++i) {
                metrics.observe(
                    {verb::get, "/r", static_cast<unsigned>(200 + i % 2), std::chrono::microseconds(i)});
            }
        });
    }
    for (auto& t : threads) t.join();
    std::vector<Metrics::Series> series = metrics.snapshot();
    ASSERT_EQ(series.size(), 2u);
    EXPECT_EQ(series[0].latency.count(), 20'000u);
    EXPECT_EQ(series[1].latency.count(), 20'000u);
}

// A keep-alive client: requests on one connection are served in order, so each request's metrics are
// recorded before the next one is read.
class Client {
  public:
    explicit Client(std::uint16_t port) { socket_.connect({asio::ip::make_address("127.0.0.1"), port}); }

    Response get(std::string target) {
        Request req{verb::get, target, 11};
        req.set(beast::http::field::host, "127.0.0.1");
        beast::http::write(socket_, req);
        Response res;
        beast::http::read(socket_, buffer_, res);
        return res;
    }

  private:
    asio::io_context io_;
    asio::ip::tcp::socket socket_{io_};
    beast::flat_buffer buffer_;
};

TEST(MetricsRoutes, ServeTheQueryReportAndTheExpositionWithRequestMetrics) {
    log::init(log::Level::kError, log::Format::kJson);
    Metrics metrics;
    pg::QueryMonitor monitor(pg::MonitorOptions{});
    // Nothing connects: pool_stats() reads the pool's counters only.
    pg::Cluster cluster(
        pg::ClusterOptions{.primary = {.name = "primary", .conninfo = "postgresql://app_user@127.0.0.1:1/x"}},
        &monitor);
    monitor.record("messages.latest", 150ms, true);

    Router router;
    health::add_metrics_routes(router, monitor, cluster, metrics);
    router.add(verb::get, "/items/{id}", [](RequestContext&) -> asio::awaitable<Response> {
        co_return Response{beast::http::status::ok, 11};
    });
    ServerOptions options;
    options.port = 0;
    options.threads = 1;
    options.on_response = [&metrics](const RequestRecord& request) { metrics.observe(request); };
    Server server(std::move(options), std::move(router));
    ASSERT_TRUE(server.start().ok());
    Client client(server.port());

    EXPECT_EQ(client.get("/items/42").result_int(), 200u);
    EXPECT_EQ(client.get("/items/43?x=1").result_int(), 200u);
    EXPECT_EQ(client.get("/no/such/path").result_int(), 404u);

    Response report = client.get("/metrics/queries");
    EXPECT_EQ(report.result_int(), 200u);
    EXPECT_EQ(report[beast::http::field::content_type], "application/json");
    boost::json::value body = boost::json::parse(report.body());
    EXPECT_EQ(body.at("slowQueries").at(0).at("query").as_string(), "messages.latest");
    EXPECT_EQ(body.at("statistics").at("total_queries").to_number<int>(), 1);
    EXPECT_EQ(body.at("health").as_string(), "unhealthy");  // its one query was slow: a 100 % slow share

    Response scrape = client.get("/metrics");
    EXPECT_EQ(scrape.result_int(), 200u);
    EXPECT_EQ(scrape[beast::http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
    const std::string& text = scrape.body();
    expect_valid_exposition(text);
    // The route pattern, not the paths: both /items requests are one series.
    EXPECT_LINE(text, R"(yw_http_requests_total{method="GET",route="/items/{id}",status="200"} 2)");
    EXPECT_LINE(text, R"(yw_http_requests_total{method="GET",route="unmatched",status="404"} 1)");
    EXPECT_LINE(text, R"(yw_http_requests_total{method="GET",route="/metrics/queries",status="200"} 1)");
    EXPECT_LINE(text, R"(yw_db_query_duration_seconds_count{query="messages.latest"} 1)");
    EXPECT_LINE(text, R"(yw_db_pool_connections_max{pool="primary"} 16)");
    EXPECT_EQ(text.find("/items/42"), std::string::npos);
    EXPECT_EQ(text.find("/no/such/path"), std::string::npos);
    server.stop();
}

}  // namespace
}  // namespace yw::http
