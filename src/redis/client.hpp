// Async Redis client on the Asio loop.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/prometheus.hpp"
#include "redis/commands.hpp"

namespace yw::redis {

struct ClientOptions {
    std::string url;  // redis://[:password@]host:port[/db]
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds command_timeout{250};  // no reply at all for this long: the connection is hung
    std::chrono::milliseconds reconnect_min{50};     // first retry after a lost connection
    std::chrono::milliseconds reconnect_max{2000};   // backoff doubles up to this
    size_t max_pending = 100000;                     // commands in flight beyond this fail at once
};

struct ClientStats {
    std::uint64_t commands = 0;      // commands sent
    std::uint64_t errors = 0;        // calls that failed: not connected, timeout, connection lost
    std::uint64_t timeouts = 0;      // of which the deadline passed
    std::uint64_t reconnects = 0;    // connections established after the first one
    std::uint64_t connects = 0;      // connections established in total
    std::uint64_t script_loads = 0;  // NOSCRIPT fallbacks to EVAL
};

// One TCP connection, commands pipelined in FIFO order, every call bounded by a deadline, reconnect in the
// background with backoff. hiredis is used for the protocol only (redisFormatCommandArgv to encode,
// redisReader to parse); the socket is Asio's.
//
// Thread-safe: call from any thread or strand; the connection lives on the client's own strand and replies
// are matched to calls in FIFO order. While disconnected, calls fail at once with kUnavailable (no queueing:
// callers have fallbacks and must not wait for Redis). A call whose deadline passes returns kTimeout; its
// reply is discarded when it arrives. When nothing at all has come back for a whole command timeout while
// calls time out, the connection is considered hung and replaced.
//
// Lifetime: call close() before the io_context is destroyed (or stops running for good); the client object
// may be destroyed any time after close() returns.
class Client final : public Commands {
  public:
    Client(boost::asio::any_io_executor executor, ClientOptions options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts connecting (in the background); calls before the first connection fail with kUnavailable.
    void start();
    // Stops reconnecting, closes the socket and fails the calls in flight with kUnavailable.
    void close();

    // The Commands calls (see commands.hpp): every call carries its own deadline.
    boost::asio::awaitable<Result<Reply>> command(Command args, Deadline deadline) override;
    boost::asio::awaitable<Result<std::vector<Reply>>> pipeline(std::vector<Command> commands,
                                                                Deadline deadline) override;
    boost::asio::awaitable<Result<Reply>> eval(const Script& script, std::vector<std::string> keys,
                                               std::vector<std::string> args, Deadline deadline) override;
    bool connected() const override;

    ClientStats stats() const;
    // yw_redis_connected, yw_redis_reconnects_total, yw_redis_errors_total.
    void dump_metrics(prometheus::Writer& out) const;
    const ClientOptions& options() const;

    struct Impl;  // public so that the implementation's free helpers may name it

  private:
    std::shared_ptr<Impl> impl_;  // shared with the connection's coroutines, which may outlive a call
};

// Parses redis://[:password@]host:port[/db] (port defaults to 6379, db to 0).
struct Endpoint {
    std::string host;
    std::uint16_t port = 6379;
    std::string password;
    int db = 0;
};
Result<Endpoint> parse_redis_url(std::string_view url);

}  // namespace yw::redis
