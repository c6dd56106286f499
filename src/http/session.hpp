// One client connection: reads requests, runs them through the router, writes responses, logs each one.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <string>

#include "http/options.hpp"
#include "http/request_context.hpp"
#include "http/router.hpp"

namespace yw::http {

class Session {
  public:
    // `socket` must carry its own strand: close_if_idle() and close() are posted to it from other threads.
    Session(boost::asio::ip::tcp::socket socket, const Router& router, const ServerOptions& options,
            const std::atomic<bool>& stopping);

    // Serves requests until the client leaves, a timeout passes, an error closes the connection, or the
    // server stops (then the request in flight completes with "Connection: close").
    boost::asio::awaitable<void> run();

    // Both must run on executor().
    void close_if_idle();
    void close();

    boost::asio::any_io_executor executor() { return stream_.get_executor(); }

  private:
    using Clock = std::chrono::steady_clock;

    boost::asio::awaitable<bool> serve(Request request, Clock::time_point started);
    boost::asio::awaitable<void> refuse(Response response, const Request& partial, bool header_done,
                                        Clock::time_point started);
    boost::asio::awaitable<void> linger_close();

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::string out_;  // the response being written, serialized whole (reused by the connection's responses)
    const Router& router_;
    const ServerOptions& options_;
    const std::atomic<bool>& stopping_;
    std::string client_ip_;
    // True while nothing of a next request has arrived: stop() may close the connection then.
    bool idle_ = false;
};

}  // namespace yw::http
