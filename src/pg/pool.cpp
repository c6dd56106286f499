// Pool bookkeeping under one mutex; waits happen outside it, on the waiter's own timer and executor.
#include "pg/pool.hpp"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/logging.hpp"

namespace yw::pg {
namespace asio = boost::asio;

Lease& Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        give_back();
        pool_ = other.pool_;
        conn_ = std::move(other.conn_);
    }
    return *this;
}

Lease::~Lease() { give_back(); }

void Lease::give_back() {
    if (pool_ && conn_) pool_->release(std::move(conn_));
    conn_.reset();
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

void Pool::release(std::unique_ptr<Connection> conn) {
    std::shared_ptr<Waiter> waiter;
    {
        std::lock_guard lock(mutex_);
        if (conn->broken()) {
            --open_;
            conn.reset();
        }
        while (!waiters_.empty()) {
            waiter = std::move(waiters_.front());
            waiters_.pop_front();
            if (!waiter->done) break;
            waiter.reset();
        }
        if (!waiter) {
            if (conn) idle_.push_back(std::move(conn));
            return;
        }
        waiter->done = true;
        if (conn) {
            waiter->handed = std::move(conn);
        } else {
            waiter->slot = true;  // the dropped connection's place is theirs to reopen
            ++open_;
        }
    }
    // Wake the waiter on its own executor (its strand), so the timer is never touched from two threads.
    asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

asio::awaitable<Result<Lease>> Pool::open_new(Deadline deadline) {
    auto executor = co_await asio::this_coro::executor;
    auto connect_deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout);
    auto conn = co_await Connection::connect(executor, options_.conninfo, connect_deadline);
    if (!conn) {
        std::lock_guard lock(mutex_);
        --open_;
        ++connect_failures_;
        Error e = conn.error();
        e.message = fmt::format("{}: {}", options_.name, e.message);
        co_return e;
    }
    conn.value()->use_prepared_statements(options_.prepare);
    co_return Lease(this, std::move(conn.value()));
}

asio::awaitable<Result<Lease>> Pool::acquire(Deadline deadline) {
    deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.acquire_timeout);
    std::shared_ptr<Waiter> waiter;
    {
        std::lock_guard lock(mutex_);
        while (!idle_.empty()) {
            auto conn = std::move(idle_.back());  // the most recently used: warm caches, fewer idle sockets
            idle_.pop_back();
            if (!conn->peer_gone()) co_return Lease(this, std::move(conn));
            --open_;  // its server went away while it sat idle: drop it, try the next
        }
        if (open_ < options_.size) {
            ++open_;
        } else {
            waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
            waiter->timer.expires_at(deadline);
            waiters_.push_back(waiter);
        }
    }
    if (!waiter) co_return co_await open_new(deadline);

    boost::system::error_code ec;
    co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    {
        std::lock_guard lock(mutex_);
        if (!waiter->done) {
            waiter->done = true;  // timed out: the releaser will skip it
            ++acquire_timeouts_;
            co_return make_error(ErrorCode::kUnavailable,
                                 fmt::format("{}: connection pool exhausted ({} connections busy)",
                                             options_.name, options_.size));
        }
    }
    if (waiter->handed) co_return Lease(this, std::move(waiter->handed));
    co_return co_await open_new(deadline);
}

asio::awaitable<Result<ResultSet>> Pool::exec(const Query& query, Params params, Deadline deadline) {
    auto lease = co_await acquire(deadline);
    if (!lease) co_return lease.error();
    co_return co_await (*lease)->exec(query, std::move(params), deadline);
}

void Pool::close() {
    std::deque<std::unique_ptr<Connection>> closing;
    {
        std::lock_guard lock(mutex_);
        closing.swap(idle_);
        open_ -= static_cast<int>(closing.size());
    }
}

PoolStats Pool::stats() const {
    std::lock_guard lock(mutex_);
    int waiting = 0;
    for (const auto& w : waiters_) waiting += !w->done;
    return PoolStats{options_.size,    open_, static_cast<int>(idle_.size()), waiting, acquire_timeouts_,
                     connect_failures_};
}

}  // namespace yw::pg
