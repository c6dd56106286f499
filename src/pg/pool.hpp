// A bounded pool of async connections to one endpoint.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "pg/connection.hpp"

namespace yw::pg {

struct PoolOptions {
    std::string name;  // "primary", "replica-1": the label in metrics and logs
    std::string conninfo;
    int size = 16;
    std::chrono::milliseconds acquire_timeout{2000};
    std::chrono::milliseconds connect_timeout{2000};
    bool prepare = false;  // named prepared statements (direct connections only, not PgBouncer)
};

struct PoolStats {
    int size = 0;     // the bound
    int open = 0;     // connections open or being opened
    int idle = 0;     // open and waiting in the pool
    int waiting = 0;  // callers queued for a connection
    unsigned long long acquire_timeouts = 0;
    unsigned long long connect_failures = 0;
};

class Pool;

// A connection on loan; goes back to the pool (or is dropped when broken) when the lease ends.
class Lease {
  public:
    Lease() = default;
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }
    explicit operator bool() const { return conn_ != nullptr; }

  private:
    void give_back();
    Pool* pool_ = nullptr;
    std::unique_ptr<Connection> conn_;
};

// At most `size` open, callers queue for at most the acquire timeout, broken connections are dropped and
// their slot reopened on demand.
class Pool {
  public:
    explicit Pool(PoolOptions options);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    ~Pool();

    // An idle connection, a new one when below the bound, or the next one released — until the deadline or
    // the acquire timeout, whichever is first (kTimeout, "pool exhausted"). Must be awaited on a strand or a
    // single-threaded executor: a release hands the connection over by posting to the waiter's executor.
    boost::asio::awaitable<Result<Lease>> acquire(Deadline deadline);

    // acquire + exec + release: one statement.
    boost::asio::awaitable<Result<ResultSet>> exec(const Query& query, Params params, Deadline deadline);

    PoolStats stats() const;
    const PoolOptions& options() const { return options_; }

    // Closes the idle connections. For shutdown, after requests drained and before the io_context goes: a
    // connection's socket belongs to it.
    void close();

  private:
    friend class Lease;
    struct Waiter {
        explicit Waiter(boost::asio::any_io_executor ex) : timer(std::move(ex)) {}
        boost::asio::steady_timer timer;
        std::unique_ptr<Connection> handed;  // a connection released to this waiter
        bool slot = false;                   // or the right to open a new one (a broken one was dropped)
        bool done = false;                   // served; the releaser must not touch it again
    };

    void release(std::unique_ptr<Connection> conn);
    boost::asio::awaitable<Result<Lease>> open_new(Deadline deadline);

    const PoolOptions options_;
    mutable std::mutex mutex_;
    std::deque<std::unique_ptr<Connection>> idle_;
    std::deque<std::shared_ptr<Waiter>> waiters_;
    int open_ = 0;
    unsigned long long acquire_timeouts_ = 0;
    unsigned long long connect_failures_ = 0;
};

}  // namespace yw::pg
