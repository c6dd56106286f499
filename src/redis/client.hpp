// Async Redis client on the Asio loop: one TCP connection, commands pipelined in FIFO order, every call
// bounded by a deadline, reconnect in the background with backoff. hiredis is used for the protocol only
// (redisFormatCommandArgv to encode, redisReader to parse); the socket is Asio's.
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

namespace yw::redis {

using Deadline = std::chrono::steady_clock::time_point;
using Command = std::vector<std::string>;  // {"SET", "k", "v"}: binary-safe arguments

// One RESP reply. Redis error replies ("-ERR …", "-NOSCRIPT …") are replies of type kError, not Errors:
// the transport worked; the caller decides what the error means.
struct Reply {
    enum class Type {
        kString,   // bulk string: `str`
        kInteger,  // `integer`
        kNil,      // nil bulk string or nil array (a missing key)
        kStatus,   // simple string such as "OK", "PONG": `str`
        kError,    // "-ERR …": `str` holds the message
        kArray,    // `elements`
    };
    Type type = Type::kNil;
    std::string str;
    std::int64_t integer = 0;
    std::vector<Reply> elements;

    bool is_nil() const { return type == Type::kNil; }
    bool is_error() const { return type == Type::kError; }
    bool is_string() const { return type == Type::kString || type == Type::kStatus; }
    bool is_integer() const { return type == Type::kInteger; }
    bool is_array() const { return type == Type::kArray; }
};

struct ClientOptions {
    std::string url;  // redis://[:password@]host:port[/db]
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds command_timeout{250};  // default deadline of the calls without one
    std::chrono::milliseconds reconnect_min{50};     // first retry after a lost connection
    std::chrono::milliseconds reconnect_max{2000};   // backoff doubles up to this
    size_t max_pending = 100000;                     // commands in flight beyond this fail at once
};

// A Lua script by source and SHA-1: eval() sends EVALSHA and, when Redis answers NOSCRIPT (restart, SCRIPT
// FLUSH), EVAL once, which also loads the script for the next calls.
class Script {
  public:
    explicit Script(std::string source);
    const std::string& source() const { return source_; }
    const std::string& sha1() const { return sha1_; }

  private:
    std::string source_;
    std::string sha1_;  // lowercase hex
};

struct ClientStats {
    std::uint64_t commands = 0;      // commands sent
    std::uint64_t errors = 0;        // calls that failed: not connected, timeout, connection lost
    std::uint64_t timeouts = 0;      // of which the deadline passed
    std::uint64_t reconnects = 0;    // connections established after the first one
    std::uint64_t connects = 0;      // connections established in total
    std::uint64_t script_loads = 0;  // NOSCRIPT fallbacks to EVAL
};

// Thread-safe: call from any thread or strand; the connection lives on the client's own strand and replies
// are matched to calls in FIFO order. While disconnected, calls fail at once with kUnavailable (no queueing:
// callers have fallbacks and must not wait for Redis). A call whose deadline passes returns kTimeout; its
// reply is discarded when it arrives. When nothing at all has come back for a whole command timeout while
// calls time out, the connection is considered hung and replaced.
//
// Lifetime: call close() before the io_context is destroyed (or stops running for good); the client object
// may be destroyed any time after close() returns.
class Client {
  public:
    Client(boost::asio::any_io_executor executor, ClientOptions options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts connecting (in the background); calls before the first connection fail with kUnavailable.
    void start();
    // Stops reconnecting, closes the socket and fails the calls in flight with kUnavailable.
    void close();

    // Transport errors (kUnavailable, kTimeout) are Errors; Redis error replies are Reply::Type::kError.
    boost::asio::awaitable<Result<Reply>> command(Command args, Deadline deadline);
    boost::asio::awaitable<Result<Reply>> command(Command args);  // deadline: now + command_timeout
    // Many commands written at once, answered in order: one round trip. The whole batch fails or succeeds
    // at the transport level; individual replies may still be kError.
    boost::asio::awaitable<Result<std::vector<Reply>>> pipeline(std::vector<Command> commands,
                                                                Deadline deadline);
    // EVALSHA script numkeys keys… args…, with the NOSCRIPT fallback described at Script.
    boost::asio::awaitable<Result<Reply>> eval(const Script& script, std::vector<std::string> keys,
                                               std::vector<std::string> args, Deadline deadline);

    bool connected() const;
    ClientStats stats() const;
    // yw_redis_connected, yw_redis_reconnects_total, yw_redis_errors_total.
    void dump_metrics(prometheus::Writer& out) const;
    const ClientOptions& options() const;

    struct Impl;  // public so that the implementation's free helpers may name it

  private:
    std::shared_ptr<Impl> impl_;  // shared with the connection's coroutines, which may outlive a call
};

// The server's clock from a TIME reply ({seconds, microseconds}) in µs since the epoch; nullopt for any other
// reply.
std::optional<std::int64_t> time_us(const Reply& reply);

// Parses redis://[:password@]host:port[/db] (port defaults to 6379, db to 0).
struct Endpoint {
    std::string host;
    std::uint16_t port = 6379;
    std::string password;
    int db = 0;
};
Result<Endpoint> parse_redis_url(std::string_view url);

}  // namespace yw::redis
