// The real server in-process on an ephemeral port, driven over HTTP by Beast's sync client: /health against a
// closed database port, errors, limits, malformed input, keep-alive, timeouts and graceful stop.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <regex>
#include <thread>

#include "common/logging.hpp"
#include "health/checker.hpp"
#include "health/routes.hpp"
#include "http/error_response.hpp"
#include "http/request_id.hpp"
#include "http/server.hpp"

namespace yw::http {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using asio::ip::tcp;
using beast::http::status;
using beast::http::verb;

// Nothing listens on port 1: the probe fails at once with "connection refused".
constexpr const char* kClosedDatabase = "postgresql://app_user@127.0.0.1:1/ywmessaging?connect_timeout=1";

// The production routes (/health) plus /slow, whose handler reports that it started and then takes a while:
// the way to have a request in flight while stop() runs.
class TestServer {
  public:
    explicit TestServer(ServerOptions options = base_options())
        : checker_(kClosedDatabase, std::chrono::seconds(2)) {
        Router router;
        health::add_routes(router, checker_);
        router.add(verb::get, "/slow", [this](RequestContext&) { return slow(); });
        router.add(verb::get, "/hold", [this](RequestContext&) { return hold(); });
        server_ = std::make_unique<Server>(std::move(options), std::move(router));
        Status started = server_->start();
        EXPECT_TRUE(started.ok()) << started.error().message;
    }

    static ServerOptions base_options() {
        ServerOptions options;
        options.host = "127.0.0.1";
        options.port = 0;
        options.threads = 2;
        return options;
    }

    Server& server() { return *server_; }
    std::uint16_t port() const { return server_->port(); }
    std::future<void> slow_started() { return slow_started_.get_future(); }
    int holding() const { return holding_; }

  private:
    asio::awaitable<Response> slow() {
        slow_started_.set_value();
        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(300));
        co_await timer.async_wait(asio::use_awaitable);
        Response res{status::ok, 11};
        res.body() = "done";
        co_return res;
    }

    // Any number at once, each busy for 500 ms: connections that are being served.
    asio::awaitable<Response> hold() {
        ++holding_;
        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(500));
        co_await timer.async_wait(asio::use_awaitable);
        --holding_;
        Response res{status::ok, 11};
        res.body() = "held";
        co_return res;
    }

    health::Checker checker_;
    std::promise<void> slow_started_;
    std::atomic<int> holding_{0};
    std::unique_ptr<Server> server_;
};

class Client {
  public:
    explicit Client(std::uint16_t port) { socket_.connect({asio::ip::make_address("127.0.0.1"), port}); }

    Response send(Request req) {
        req.set(beast::http::field::host, "127.0.0.1");
        req.prepare_payload();
        beast::http::write(socket_, req);
        return read();
    }

    Response get(std::string target) { return send(Request{verb::get, target, 11}); }

    Response read() {
        Response res;
        beast::http::read(socket_, buffer_, res);
        return res;
    }

    // A response, or the error that stood in for one (the server closed without answering, …).
    boost::system::error_code try_read(Response& res) {
        boost::system::error_code ec;
        beast::http::read(socket_, buffer_, res, ec);
        return ec;
    }

    void write_raw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

    // Waits until the server closes the connection (true), sends something or stays silent for `within`
    // (false): a connection left open fails the test instead of hanging it.
    bool closed_by_server(std::chrono::milliseconds within = std::chrono::seconds(10)) {
        if (buffer_.size() > 0) return false;
        pollfd pfd{socket_.native_handle(), POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(within.count())) != 1) return false;
        char byte = 0;
        boost::system::error_code ec;
        socket_.read_some(asio::buffer(&byte, 1), ec);
        return ec == asio::error::eof || ec == asio::error::connection_reset;
    }

  private:
    asio::io_context io_;
    tcp::socket socket_{io_};
    beast::flat_buffer buffer_;
};

json::value body_of(const Response& res) { return json::parse(res.body()); }

class HttpServer : public ::testing::Test {
  protected:
    void SetUp() override { log::init(log::Level::kError, log::Format::kJson); }
};

TEST_F(HttpServer, BindsAnEphemeralPort) {
    TestServer s;
    EXPECT_NE(s.port(), 0);
}

TEST_F(HttpServer, HealthIs503WithUnhealthyJsonWhenTheDatabaseIsDown) {
    TestServer s;
    Client client(s.port());
    Response res = client.get("/health");
    EXPECT_EQ(res.result(), status::service_unavailable);
    EXPECT_EQ(res[beast::http::field::content_type], "application/json");
    EXPECT_TRUE(is_valid_request_id(res["X-Request-Id"]));
    json::object body = body_of(res).as_object();
    EXPECT_EQ(body.at("status").as_string(), "unhealthy");
    const json::object& db = body.at("checks").at("database").as_object();
    EXPECT_EQ(db.at("status").as_string(), "down");
    EXPECT_FALSE(db.at("error").as_string().empty());
    EXPECT_EQ(body.at("version").as_string(), health::kVersion);
    EXPECT_TRUE(std::regex_match(std::string(body.at("timestamp").as_string()),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST_F(HttpServer, EchoesASafeRequestIdAndReplacesAnUnsafeOne) {
    TestServer s;
    Client client(s.port());
    Request req{verb::get, "/nope", 11};
    req.set("X-Request-Id", "trace-7");
    EXPECT_EQ(client.send(req)["X-Request-Id"], "trace-7");
    req.set("X-Request-Id", "not safe; 1=1");
    std::string replaced(client.send(req)["X-Request-Id"]);
    EXPECT_NE(replaced, "not safe; 1=1");
    EXPECT_TRUE(is_valid_request_id(replaced));
}

TEST_F(HttpServer, UnknownPathIs404JsonAndWrongMethodIs405) {
    TestServer s;
    Client client(s.port());
    Response missing = client.get("/v1/nothing-here");
    EXPECT_EQ(missing.result(), status::not_found);
    EXPECT_EQ(body_of(missing).at("error").at("code").as_string(), "not_found");

    Response wrong = client.send(Request{verb::delete_, "/health", 11});
    EXPECT_EQ(wrong.result(), status::method_not_allowed);
    EXPECT_EQ(wrong[beast::http::field::allow], "GET");
    EXPECT_EQ(body_of(wrong).at("error").at("code").as_string(), "method_not_allowed");
}

TEST_F(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
    TestServer s;
    Client client(s.port());
    for (int i = 0; i < 3; ++i) {
        Response res = client.get("/nope");
        EXPECT_EQ(res.result(), status::not_found);
        EXPECT_TRUE(res.keep_alive());
    }
}

TEST_F(HttpServer, OversizedBodyIs413) {
    TestServer s;
    Client client(s.port());
    Request req{verb::post, "/health", 11};
    req.body() = std::string(70 * 1024, 'x');
    Response res = client.send(req);
    EXPECT_EQ(res.result(), status::payload_too_large);
    EXPECT_EQ(body_of(res).at("error").at("code").as_string(), "payload_too_large");
    EXPECT_TRUE(is_valid_request_id(res["X-Request-Id"]));
    EXPECT_FALSE(res.keep_alive());
}

// A chunk-size line, chunk extension or trailer that never ends: the header and body limits do not cover
// them, so only a bounded read buffer stops the client from growing the server's memory for as long as it
// sends. The answer comes after at most header + body limit + a few KB, not after the client gives up.
TEST_F(HttpServer, ChunkLinesAndTrailersThatNeverEndAre413NotUnboundedMemory) {
    TestServer s;
    const std::string endless(256 * 1024, 'e');  // over three times what the server may buffer
    for (std::string head : {std::string("2;"), std::string("2;name="), std::string("0\r\nX-Trailer: ")}) {
        Client client(s.port());
        client.write_raw("POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + head);
        try {
            client.write_raw(endless);
        } catch (const boost::system::system_error&) {
            // The server answered and closed before taking all of it: what this test wants.
        }
        Response res = client.read();
        EXPECT_EQ(res.result(), status::payload_too_large) << head;
        EXPECT_EQ(body_of(res).at("error").at("code").as_string(), "payload_too_large");
        EXPECT_FALSE(res.keep_alive());
    }
    Client next(s.port());
    EXPECT_EQ(next.get("/health").result(), status::service_unavailable);  // still serving (no database)
}

TEST(ConnectionLimit, IsTheConfiguredOneUnlessTheOpenFileLimitLeavesLess) {
    EXPECT_EQ(effective_max_connections(4096, 1048576, 256), 4096u);
    EXPECT_EQ(effective_max_connections(4096, 1024, 256), 768u);
    EXPECT_EQ(effective_max_connections(4096, 100, 256), 1u);
}

TEST_F(HttpServer, AtTheConnectionLimitTheOldestIdleConnectionMakesRoom) {
    ServerOptions options = TestServer::base_options();
    options.max_connections = 2;
    TestServer s(options);
    Client oldest(s.port());
    EXPECT_EQ(oldest.get("/nope").result(), status::not_found);
    Client second(s.port());
    EXPECT_EQ(second.get("/nope").result(), status::not_found);
    // Both idle on keep-alive (a session turns idle a moment after its client has the response): a third
    // client is served, and the oldest connection is the one closed.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Client third(s.port());
    EXPECT_EQ(third.get("/nope").result(), status::not_found);
    EXPECT_TRUE(oldest.closed_by_server());
    EXPECT_EQ(second.get("/nope").result(), status::not_found);
    auto stats = s.server().connection_stats();
    EXPECT_EQ(stats.shed, 1u);
    EXPECT_EQ(stats.refused, 0u);
    EXPECT_EQ(stats.limit, 2u);
}

TEST_F(HttpServer, AtTheConnectionLimitWithEveryConnectionBusyANewOneGets503) {
    ServerOptions options = TestServer::base_options();
    options.max_connections = 2;
    TestServer s(options);
    Client a(s.port());
    Client b(s.port());
    a.write_raw("GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    b.write_raw("GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    for (int i = 0; i < 200 && s.holding() < 2; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(s.holding(), 2);
    Client c(s.port());
    Response refused = c.read();
    EXPECT_EQ(refused.result(), status::service_unavailable);
    EXPECT_EQ(body_of(refused).at("error").at("code").as_string(), "unavailable");
    EXPECT_EQ(refused[beast::http::field::retry_after], "1");
    EXPECT_FALSE(refused.keep_alive());
    // The busy ones were not cut short.
    EXPECT_EQ(a.read().body(), "held");
    EXPECT_EQ(b.read().body(), "held");
    EXPECT_EQ(s.server().connection_stats().refused, 1u);
}

TEST_F(HttpServer, OversizedHeaderIs431) {
    TestServer s;
    Client client(s.port());
    Request req{verb::get, "/health", 11};
    req.set("X-Padding", std::string(9 * 1024, 'p'));
    EXPECT_EQ(client.send(req).result(), status::request_header_fields_too_large);
}

TEST_F(HttpServer, MalformedRequestIsRefusedAndTheServerKeepsServing) {
    TestServer s;
    for (std::string_view garbage :
         {std::string_view("NOT A REQUEST\r\n\r\n"), std::string_view("\x01\x02\x03\r\n\r\n"),
          std::string_view("GET /health HTTP/1.1\r\nno colon here\r\n\r\n")}) {
        Client client(s.port());
        client.write_raw(garbage);
        // The contract (session.cpp, refuse): a 400 invalid_argument naming the fault, Connection: close,
        // then the server half-closes at once (no waiting for the client or the linger time).
        Response res;
        auto ec = client.try_read(res);
        ASSERT_FALSE(ec) << "no answer to " << garbage << ": " << ec.message();
        EXPECT_EQ(res.result(), status::bad_request) << garbage;
        auto error = body_of(res).at("error");
        EXPECT_EQ(error.at("code").as_string(), "invalid_argument") << garbage;
        EXPECT_TRUE(std::string_view(error.at("message").as_string()).starts_with("malformed HTTP request: "))
            << error;
        EXPECT_TRUE(is_valid_request_id(res["X-Request-Id"])) << garbage;
        EXPECT_FALSE(res.keep_alive()) << garbage;
        EXPECT_TRUE(client.closed_by_server(std::chrono::seconds(1))) << garbage;
    }
    Client next(s.port());
    EXPECT_EQ(next.get("/health").result(), status::service_unavailable);
}

TEST_F(HttpServer, IdleConnectionIsClosedAtTheIdleTimeout) {
    ServerOptions options = TestServer::base_options();
    options.idle_timeout = std::chrono::milliseconds(200);
    TestServer s(options);
    Client client(s.port());
    EXPECT_TRUE(client.closed_by_server());
}

TEST_F(HttpServer, AClientTricklingItsHeadersIsCutOffAtTheReadTimeout) {
    ServerOptions options = TestServer::base_options();
    options.read_timeout = std::chrono::milliseconds(300);
    TestServer s(options);
    Client client(s.port());
    // One byte every 50 ms: the whole header would take about 3 s, ten times the read timeout.
    std::string request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    bool cut = false;
    for (char c : request) {
        try {
            client.write_raw(std::string_view(&c, 1));
        } catch (const boost::system::system_error&) {
            cut = true;  // the server closed the connection under us
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(cut || client.closed_by_server());
    // Others are still served.
    Client other(s.port());
    EXPECT_EQ(other.get("/health").result_int(), 503u);  // no database in this test: unhealthy, but answered
}

TEST_F(HttpServer, SecondServerOnTheSamePortFailsToStart) {
    TestServer first;
    ServerOptions options = TestServer::base_options();
    options.port = first.port();
    Server second(options, Router{});
    Status started = second.start();
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code, ErrorCode::kUnavailable);
}

TEST_F(HttpServer, StopLetsTheRequestInFlightFinishThenRefusesConnections) {
    TestServer s;
    Client client(s.port());
    auto started = s.slow_started();
    client.write_raw("GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    started.wait();
    auto stopped = std::async(std::launch::async, [&] { s.server().stop(); });

    Response res = client.read();
    EXPECT_EQ(res.result(), status::ok);
    EXPECT_EQ(res.body(), "done");
    EXPECT_FALSE(res.keep_alive());  // told to go away while the server drains
    stopped.get();

    asio::io_context io;
    tcp::socket late(io);
    boost::system::error_code ec;
    late.connect({asio::ip::make_address("127.0.0.1"), s.port()}, ec);
    EXPECT_EQ(ec, asio::error::connection_refused);
}

TEST_F(HttpServer, StopClosesIdleKeepAliveConnectionsWithoutWaitingForTheTimeout) {
    ServerOptions options = TestServer::base_options();
    options.shutdown_timeout = std::chrono::seconds(60);
    TestServer s(options);
    Client client(s.port());
    EXPECT_EQ(client.get("/nope").result(), status::not_found);

    auto begun = std::chrono::steady_clock::now();
    s.server().stop();
    // Not a speed check: waiting on this idle connection would have taken the whole shutdown timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - begun, std::chrono::seconds(30));
    EXPECT_TRUE(client.closed_by_server());
}

TEST(HealthReport, HealthyShape) {
    using namespace std::chrono;
    auto at = sys_days{year{2025} / 1 / 2} + hours(3) + minutes(4) + seconds(5) + milliseconds(678);
    json::value report = health::health_report({.up = true, .latency_ms = 1.5}, at);
    EXPECT_EQ(report,
              json::parse(R"({"status":"healthy","checks":{"database":{"status":"up","latency_ms":1.5}},
                                      "version":"0.1.0","timestamp":"2025-01-02T03:04:05.678Z"})"));
}

TEST(HealthReport, UnhealthyShape) {
    json::value report =
        health::health_report({.error = "connection refused"}, std::chrono::system_clock::now());
    EXPECT_EQ(report.at("status"), "unhealthy");
    EXPECT_EQ(report.at("checks"),
              json::parse(R"({"database":{"status":"down","error":"connection refused"}})"));
}

TEST(HealthReport, RowsWithoutAPartitionLatelyMakeItDegradedAndSayWhatToDo) {
    auto now = std::chrono::system_clock::now();
    auto ms = [](auto t) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    };
    json::value recent =
        health::health_report({.up = true, .latency_ms = 1}, nullptr, now,
                              {.rows = 3, .last_unix_ms = ms(now - std::chrono::seconds(5))});
    EXPECT_EQ(recent.at("status"), "degraded");
    EXPECT_EQ(recent.at("checks").at("partitions").at("status"), "missing");
    EXPECT_EQ(recent.at("checks").at("partitions").at("rows_refused"), 3);
    EXPECT_NE(json::serialize(recent.at("problems")).find("ywctl partitions ensure"), std::string::npos);
    // Long ago (the partition was created since): healthy again.
    json::value old = health::health_report({.up = true, .latency_ms = 1}, nullptr, now,
                                            {.rows = 3, .last_unix_ms = ms(now - std::chrono::hours(1))});
    EXPECT_EQ(old.at("status"), "healthy");
    EXPECT_FALSE(old.at("checks").as_object().contains("partitions"));
}

}  // namespace
}  // namespace yw::http
