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

    // What the connection is doing now; read from any thread (the acceptor picks connections to shed).
    enum class State {
        kIdle,     // waiting for the first byte of a request: nothing is lost by closing it
        kReading,  // a request is arriving (perhaps from a client that trickles it)
        kServing,  // a request is being handled or its response written
    };
    State state() const { return state_.load(std::memory_order_relaxed); }

    // Claims the connection for shedding when it is not serving and nobody claimed it yet; the claimer then
    // posts shed() to executor(). Any thread.
    bool claim_for_shedding();

    // All three must run on executor(). shed() closes the connection unless it started serving meanwhile.
    void close_if_idle();
    void shed();
    void close();

    boost::asio::any_io_executor executor() { return stream_.get_executor(); }

  private:
    using Clock = std::chrono::steady_clock;

    boost::asio::awaitable<bool> serve(Request request, Clock::time_point started);
    boost::asio::awaitable<void> refuse(Response response, const Request& partial, bool header_done,
                                        Clock::time_point started);
    boost::asio::awaitable<void> linger_close();
    void release_spare_memory();

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::string out_;  // the response being written, serialized whole (reused by the connection's responses)
    const Router& router_;
    const ServerOptions& options_;
    const std::atomic<bool>& stopping_;
    std::string client_ip_;
    std::atomic<State> state_{State::kReading};
    std::atomic<bool> shed_claimed_{false};
};

// Answers a connection the server cannot take (at its connection limit, every connection busy) with a 503
// and closes it, all within `timeout`.
boost::asio::awaitable<void> refuse_connection(boost::asio::ip::tcp::socket socket, std::size_t limit,
                                               std::chrono::milliseconds timeout);

}  // namespace yw::http
