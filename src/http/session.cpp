// The per-connection request loop: keep-alive, limits, timeouts, request ids and the access log.
#include "http/session.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstring>
#include <exception>

#include "common/logging.hpp"
#include "http/error_response.hpp"
#include "http/request_id.hpp"

namespace yw::http {
namespace asio = boost::asio;
namespace json = boost::json;
namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// The first read of a request (into the session's own array): most requests' header fits.
constexpr std::size_t kFirstRead = 512;
// How much of a refused request we read and discard, and for how long, before closing (see linger_close).
constexpr std::size_t kLingerBytes = 1024 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::string_view kRequestIdHeader = "X-Request-Id";
// A response buffer larger than this is freed once written rather than kept for the connection's next one.
constexpr std::size_t kKeptResponseCapacity = 16 * 1024;
// Room for the raw bytes of one request beyond its header and body limits: chunk-size lines, extensions,
// trailers, and a pipelined request's first bytes.
constexpr std::size_t kReadSlack = 8 * 1024;

std::size_t read_buffer_limit(const ServerOptions& options) {
    return options.header_limit + options.body_limit + kReadSlack;
}

void log_access(std::string_view request_id, std::string_view method, std::string_view path, unsigned status,
                std::chrono::steady_clock::time_point started, std::string_view client_ip,
                std::string_view error) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    ms = std::round(ms * 1000) / 1000;
    if (error.empty()) {
        log::info("request", {{"request_id", json::string_view(request_id)},
                              {"method", json::string_view(method)},
                              {"path", json::string_view(path)},
                              {"status", status},
                              {"duration_ms", ms},
                              {"client_ip", json::string_view(client_ip)}});
    } else {
        log::warn("request", {{"request_id", json::string_view(request_id)},
                              {"method", json::string_view(method)},
                              {"path", json::string_view(path)},
                              {"status", status},
                              {"duration_ms", ms},
                              {"client_ip", json::string_view(client_ip)},
                              {"error", json::string_view(error)}});
    }
}

// Hands a finished request to the observer (request metrics). Refused requests matched no route.
void notify(const ServerOptions& options, beast::http::verb method, std::string_view route, unsigned status,
            std::chrono::steady_clock::time_point started) {
    if (!options.on_response) return;
    options.on_response({method, route, status, std::chrono::steady_clock::now() - started});
}

bool is_protocol_error(const beast::error_code& ec) {
    static const auto& category = beast::http::make_error_code(beast::http::error::bad_target).category();
    // The client leaving mid-request is not a malformed request.
    return ec.category() == category && ec != beast::http::error::end_of_stream &&
           ec != beast::http::error::partial_message;
}

// The response as one contiguous buffer (status line, fields, body): written with one send, where Beast's
// serializer walks a buffer sequence with several entries per field — with the rate-limit fields, the largest
// share of a cache hit's CPU after the kernel (docs/benchmarks.md). Same bytes as beast::http::async_write
// for a prepared string_body response.
void serialize(const Response& res, std::string& out) {
    out.clear();
    out.reserve(256 + res.body().size());
    out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += fmt::format_int(res.result_int()).c_str();
    out += ' ';
    auto reason = res.reason();
    out.append(reason.empty() ? beast::http::obsolete_reason(res.result()) : reason);
    out += "\r\n";
    for (const auto& field : res) {
        out.append(field.name_string());
        out += ": ";
        out.append(field.value());
        out += "\r\n";
    }
    out += "\r\n";
    out += res.body();
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, const Router& router, const ServerOptions& options,
                 const std::atomic<bool>& stopping)
    : stream_(std::move(socket)),
      // Bounded: without a maximum, a chunk-size line, chunk extension or trailer that never ends grows the
      // buffer for as long as the client sends (the header and body limits do not cover those lines).
      buffer_(read_buffer_limit(options)),
      router_(router),
      options_(options),
      stopping_(stopping) {
    beast::error_code ec;
    auto peer = stream_.socket().remote_endpoint(ec);
    client_ip_ = ec ? "unknown" : peer.address().to_string();
    stream_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

asio::awaitable<void> Session::run() {
    // An idle connection holds no read buffer, since thousands may wait at once (docs/reliability.md,
    // connection-exhaustion): a request's first bytes land in this small array of the coroutine's frame, and
    // the buffer is allocated when they come.
    std::array<char, kFirstRead> first;
    for (;;) {
        if (buffer_.size() == 0) {
            if (stopping_) break;
            // Waiting for the first byte of the next request is what idle means: the idle timeout applies,
            // not the read timeout, and stop() may close the connection.
            release_spare_memory();
            state_ = State::kIdle;
            stream_.expires_after(options_.idle_timeout);
            auto [ec, n] = co_await stream_.async_read_some(asio::buffer(first), kAwait);
            if (ec) break;
            state_ = State::kReading;
            auto space = buffer_.prepare(n);
            std::memcpy(space.data(), first.data(), n);
            buffer_.commit(n);
        }
        beast::http::request_parser<beast::http::string_body> parser;
        parser.header_limit(options_.header_limit);
        parser.body_limit(options_.body_limit);
        stream_.expires_after(options_.read_timeout);
        auto [ec, bytes] = co_await beast::http::async_read(stream_, buffer_, parser, kAwait);
        auto started = Clock::now();
        if (ec == beast::http::error::body_limit) {
            co_await refuse(
                error_response(beast::http::status::payload_too_large, "payload_too_large",
                               fmt::format("the request body exceeds {} bytes", options_.body_limit)),
                parser.get(), parser.is_header_done(), started);
            break;
        }
        if (ec == beast::http::error::buffer_overflow) {
            co_await refuse(
                error_response(beast::http::status::payload_too_large, "payload_too_large",
                               fmt::format("the request holds a line (chunk size, chunk extension "
                                           "or trailer) or more data than {} bytes",
                                           buffer_.max_size())),
                parser.get(), parser.is_header_done(), started);
            break;
        }
        if (ec == beast::http::error::header_limit) {
            co_await refuse(
                error_response(beast::http::status::request_header_fields_too_large, "header_too_large",
                               fmt::format("the request header exceeds {} bytes", options_.header_limit)),
                parser.get(), parser.is_header_done(), started);
            break;
        }
        if (is_protocol_error(ec)) {
            co_await refuse(error_response(status_for(ErrorCode::kInvalidArgument),
                                           to_string(ErrorCode::kInvalidArgument),
                                           fmt::format("malformed HTTP request: {}", ec.message())),
                            parser.get(), parser.is_header_done(), started);
            break;
        }
        if (ec) break;  // the client left, or the read timeout passed
        state_ = State::kServing;
        bool again = co_await serve(parser.release(), started);
        state_ = State::kReading;
        if (!again) break;
    }
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

asio::awaitable<bool> Session::serve(Request request, Clock::time_point started) {
    RequestContext ctx{
        .request = request, .request_id = request_id_for(request[kRequestIdHeader]), .client_ip = client_ip_};
    Response res;
    try {
        res = co_await router_.dispatch(ctx);
    } catch (const std::exception& e) {
        // A handler bug must cost one request, not the process.
        res = error_response(ctx, make_error(ErrorCode::kInternal, e.what()));
    }
    bool keep_alive = request.keep_alive() && !stopping_;
    res.version(request.version());
    res.set(kRequestIdHeader, ctx.request_id);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    serialize(res, out_);
    stream_.expires_after(options_.write_timeout);
    auto [ec, bytes] = co_await asio::async_write(stream_, asio::buffer(out_), kAwait);
    log_access(ctx.request_id, request.method_string(), ctx.path, res.result_int(), started, client_ip_,
               ctx.error_detail);
    notify(options_, request.method(), ctx.route, res.result_int(), started);
    co_return keep_alive && !ec;
}

asio::awaitable<void> Session::refuse(Response res, const Request& partial, bool header_done,
                                      Clock::time_point started) {
    std::string request_id =
        request_id_for(header_done ? std::string_view(partial[kRequestIdHeader]) : std::string_view{});
    std::string_view target = header_done ? std::string_view(partial.target()) : std::string_view{};
    res.set(kRequestIdHeader, request_id);
    res.keep_alive(false);
    res.prepare_payload();
    serialize(res, out_);
    stream_.expires_after(options_.write_timeout);
    auto [ec, bytes] = co_await asio::async_write(stream_, asio::buffer(out_), kAwait);
    log_access(request_id, header_done ? partial.method_string() : "-", target.substr(0, target.find('?')),
               res.result_int(), started, client_ip_, {});
    notify(options_, header_done ? partial.method() : beast::http::verb::unknown, {}, res.result_int(),
           started);
    if (!ec) co_await linger_close();
}

asio::awaitable<void> Session::linger_close() {
    // Closing with unread bytes (the rest of a refused body) makes the kernel send a reset, and the client
    // may lose our response before reading it. Half-close, read and drop what is still coming, then close:
    // what nginx calls a lingering close. stop() may cut it short like any idle connection.
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    state_ = State::kIdle;
    stream_.expires_after(kLingerTime);
    std::array<char, 4096> scratch;
    for (std::size_t drained = 0; drained < kLingerBytes;) {
        auto [read_ec, n] = co_await stream_.async_read_some(asio::buffer(scratch), kAwait);
        if (read_ec) break;
        drained += n;
    }
    stream_.close();
}

void Session::release_spare_memory() {
    // An idle connection keeps no read buffer, and a response buffer only up to kKeptResponseCapacity: after
    // a large request or response they would pin that much memory for as long as the client keeps the
    // connection open (thousands of idle connections).
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    if (out_.capacity() > kKeptResponseCapacity) std::string().swap(out_);
}

bool Session::claim_for_shedding() {
    if (state() == State::kServing) return false;
    return !shed_claimed_.exchange(true);
}

void Session::close_if_idle() {
    if (state() == State::kIdle) close();
}

void Session::shed() {
    if (state() != State::kServing) {
        close();
        return;
    }
    shed_claimed_ = false;  // it started serving meanwhile: it may be shed later, once idle again
}

void Session::close() { stream_.close(); }

asio::awaitable<void> refuse_connection(asio::ip::tcp::socket socket, std::size_t limit,
                                        std::chrono::milliseconds timeout) {
    beast::tcp_stream stream(std::move(socket));
    Response res = error_response(beast::http::status::service_unavailable, "unavailable",
                                  fmt::format("the server holds its limit of {} connections, all of them "
                                              "busy; retry later",
                                              limit));
    res.set(beast::http::field::retry_after, "1");
    res.keep_alive(false);
    res.prepare_payload();
    std::string out;
    serialize(res, out);
    stream.expires_after(timeout);
    co_await asio::async_write(stream, asio::buffer(out), kAwait);  // the client may be gone: nothing to do
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream.close();
}

}  // namespace yw::http
