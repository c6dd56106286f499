// The HTTP/1.1 server: a listener, a session per connection, a pool of threads, and a graceful stop.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "http/options.hpp"
#include "http/router.hpp"

namespace yw::http {

class Session;

struct ConnectionStats {
    std::size_t open = 0;
    std::size_t limit = 0;                 // max_connections as clamped by the open-file limit
    unsigned long long accepted = 0;       // since start
    unsigned long long shed = 0;           // closed to make room for a new connection
    unsigned long long refused = 0;        // answered 503 at the limit, every connection busy
    unsigned long long accept_errors = 0;  // EMFILE and the like
};

// Raises this process's soft open-file limit to its hard limit (services often start with 1024, which a few
// hundred idle keep-alive connections exhaust). Returns the limit now in force.
std::uint64_t raise_open_file_limit();

// One io_context run by N threads, each connection on its own strand. Per-thread io_contexts with
// SO_REUSEPORT would pin each connection to one thread and, worse, split every database pool per thread:
// on small machines more PostgreSQL backends is exactly what hurts (docs/benchmarks.md: 16 backends outran 64
// on 2 cores). One shared context balances work across threads and keeps one bounded pool per endpoint.
class Server {
  public:
    Server(ServerOptions options, Router router);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();  // stop()s

    // Binds, listens and starts the threads. kUnavailable when the address cannot be bound.
    Status start();

    // The bound port: the one the kernel chose when options.port was 0. Valid after start().
    std::uint16_t port() const { return port_; }

    // The server's event loop, for background tasks that share its threads (the audit log's flusher). They
    // must finish before stop() returns, or be abandoned with it.
    boost::asio::any_io_executor executor() { return io_.get_executor(); }

    // Stops accepting, closes idle connections, lets requests in flight finish for up to shutdown_timeout,
    // then cuts the rest and joins the threads. Blocks; call it from outside the server's threads.
    void stop();

    ConnectionStats connection_stats() const;

  private:
    using Sessions = std::list<std::shared_ptr<Session>>;  // oldest first

    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> serve(std::shared_ptr<Session> session, Sessions::iterator position);
    // Under mutex_: closes the oldest connection not being served (idle ones first). False when every
    // connection is being served.
    bool shed_one();
    // Starts serving `socket` when there is room or room can be made; false (socket untouched) otherwise.
    bool admit(boost::asio::ip::tcp::socket& socket);
    // Retries admit() for a moment, then answers 503 and closes.
    boost::asio::awaitable<void> admit_or_refuse(boost::asio::ip::tcp::socket socket);

    const ServerOptions options_;
    const Router router_;

    mutable std::mutex mutex_;
    Sessions sessions_;                // open connections
    std::condition_variable drained_;  // signalled when sessions_ empties
    std::atomic<bool> stopping_{false};
    std::size_t max_connections_ = 0;                                               // set by start()
    unsigned long long accepted_ = 0, shed_ = 0, refused_ = 0, accept_errors_ = 0;  // under mutex_

    // Declared after what sessions reference, so that handlers still pending when the context is destroyed
    // find them alive.
    boost::asio::io_context io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::vector<std::thread> threads_;
    std::uint16_t port_ = 0;
};

}  // namespace yw::http
