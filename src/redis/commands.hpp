// redis::Commands: what the Redis-backed modules need of Redis.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

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

// The Redis-backed modules (rate limiter, cache, rate-limit administration) need one command, a pipeline, a
// script, and whether the connection is up. redis::Client implements it over the network; unit tests
// implement it with a fake that answers what the test scripts, so leases, remembered denials, fallbacks and
// single-flight are tested without a server.
//
// The calls. Transport failures are Errors: kUnavailable (not connected, connection lost) and kTimeout (the
// deadline passed); Redis error replies are Reply::Type::kError. Implementations are thread-safe.
class Commands {
  public:
    virtual ~Commands() = default;

    virtual boost::asio::awaitable<Result<Reply>> command(Command args, Deadline deadline) = 0;
    // Many commands written at once, answered in order: one round trip. The whole batch fails or succeeds
    // at the transport level; individual replies may still be kError.
    virtual boost::asio::awaitable<Result<std::vector<Reply>>> pipeline(std::vector<Command> commands,
                                                                        Deadline deadline) = 0;
    // EVALSHA script numkeys keys… args…, with the NOSCRIPT fallback described at Script.
    virtual boost::asio::awaitable<Result<Reply>> eval(const Script& script, std::vector<std::string> keys,
                                                       std::vector<std::string> args, Deadline deadline) = 0;
    // Whether calls can reach Redis right now; while false they fail at once with kUnavailable.
    virtual bool connected() const = 0;
};

// The server's clock from a TIME reply ({seconds, microseconds}) in µs since the epoch; nullopt for any other
// reply.
std::optional<std::int64_t> time_us(const Reply& reply);

}  // namespace yw::redis
