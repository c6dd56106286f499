// One PostgreSQL connection driven by the Asio event loop.
#pragma once

#include <libpq-fe.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "pg/queries.hpp"
#include "pg/result_set.hpp"

namespace yw::pg {

using Deadline = std::chrono::steady_clock::time_point;
using Param = std::optional<std::string>;  // nullopt is SQL NULL
using Params = std::vector<Param>;

// The name of a query's prepared statement: "registry.name/<FNV-1a of its SQL, 8 hex digits>".
std::string statement_name(const Query& query);

// libpq in non-blocking mode, every call bounded by a deadline, so no thread ever blocks on the database.
//
// Not thread-safe: one coroutine uses a connection at a time (a pool hands it out).
class Connection {
  public:
    // Opens a connection without blocking (PQconnectStart/PQconnectPoll). kUnavailable when the server
    // refuses or fails, kTimeout when the deadline passes first. A host name in `conninfo` is resolved
    // synchronously by libpq: use addresses where that matters.
    static boost::asio::awaitable<Result<std::unique_ptr<Connection>>> connect(
        boost::asio::any_io_executor executor, std::string conninfo, Deadline deadline);

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    // Runs one statement of the registry with text parameters, as an unnamed statement
    // (PQsendQueryParams), because PgBouncer in transaction pooling cannot keep named ones. When the deadline
    // passes the query is cancelled on the server, kTimeout is returned and the connection is broken.
    // GCC 12 rejects a braced list inside a co_await expression ("array used as initializer"): build the
    // Params in a statement of their own, then `co_await conn.exec(query, std::move(params), deadline)`.
    boost::asio::awaitable<Result<ResultSet>> exec(const Query& query, Params params, Deadline deadline);

    // Runs one registry statement through the simple query protocol (PQsendQuery), without parameters: the
    // only protocol PgBouncer's admin console speaks (SHOW POOLS). Deadline and cancellation as exec().
    boost::asio::awaitable<Result<ResultSet>> exec_simple(const Query& query, Deadline deadline);

    // True once the connection cannot be reused (lost, or a query was abandoned mid-flight): drop it.
    bool broken() const { return broken_; }

    // Whether an idle connection's peer has gone (closed, reset, or sent something unasked, like a shutdown
    // notice): one non-blocking peek, no round trip. A pool checks before lending, so a restarted server or
    // PgBouncer costs no failed request.
    bool peer_gone() const;

    // Named prepared statements, one per registry query, prepared on first use: for direct connections
    // (PgBouncer 1.18 in transaction pooling cannot keep them). Should the server lose or not recognise a
    // statement this connection prepared (a pooler in between after all), the connection says so in the log
    // and goes on with unnamed statements; no query fails for it.
    void use_prepared_statements(bool on) { prepare_ = on; }
    bool uses_prepared_statements() const { return prepare_; }

  private:
    enum class Wait {
        kRead,       // the server sent something
        kWrite,      // the send buffer has room
        kReadWrite,  // either: while flushing, the server may talk first
    };
    enum class Ready {
        kReady,    // the socket is ready (or errored, which the next libpq call reports)
        kTimeout,  // the deadline passed first
        kFailed,   // the wait itself failed (descriptor gone): the connection is unusable
    };

    Connection(PGconn* conn, boost::asio::any_io_executor executor);

    void watch_socket();
    void unwatch_socket();
    boost::asio::awaitable<Ready> wait(Wait what, Deadline deadline);
    Error fail();
    Error lose_socket();
    Error abandon(const Query& query);
    boost::asio::awaitable<Result<ResultSet>> exec_prepared(const Query& query, int n,
                                                            const char* const* values, Deadline deadline);
    // Whether the last statement failed because its named statement was missing or taken on the server.
    bool statement_moved() const;
    // Flushes what was sent and reads its results until libpq says there are no more.
    boost::asio::awaitable<Result<ResultSet>> finish(const Query& query, Deadline deadline);

    PGconn* conn_;
    // Borrows libpq's socket: released before PQfinish (and whenever libpq may swap it), never closed by
    // Asio.
    boost::asio::posix::stream_descriptor socket_;
    bool broken_ = false;
    bool prepare_ = false;
    // Looked up by the registry's string_view, without building a string per call.
    struct NameHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    // The statements this session holds: registry name → statement_name().
    std::unordered_map<std::string, std::string, NameHash, std::equal_to<>> prepared_;
    std::string last_sqlstate_;  // of the last failed statement; empty when none failed
};

}  // namespace yw::pg
