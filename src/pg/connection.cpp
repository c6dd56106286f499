// The async libpq connection: connect polling, send/flush/read loops and deadline cancellation.
#include "pg/connection.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <thread>

#include "common/logging.hpp"

namespace yw::pg {
namespace asio = boost::asio;
namespace {

// PQcancel blocks while it opens a connection to the server, so it runs on a short-lived thread of its own
// rather than on the event loop. Timeouts are rare; the cap keeps a database meltdown from spawning threads
// without bound (the abandoned connection is closed either way).
constexpr int kMaxCancelThreads = 8;
std::atomic<int> g_cancels_in_flight{0};

void cancel_in_background(PGcancel* cancel, std::string_view query_name) {
    if (!cancel) return;
    if (g_cancels_in_flight.fetch_add(1) >= kMaxCancelThreads) {
        g_cancels_in_flight.fetch_sub(1);
        PQfreeCancel(cancel);
        log::warn("query cancel skipped: too many cancels in flight",
                  {{"query", boost::json::string_view(query_name)}});
        return;
    }
    try {
        std::thread([cancel, name = std::string(query_name)] {
            char why[256] = {};
            if (!PQcancel(cancel, why, sizeof why))
                log::warn("query cancel failed", {{"query", name.c_str()}, {"error", why}});
            PQfreeCancel(cancel);
            g_cancels_in_flight.fetch_sub(1);
        }).detach();
    } catch (const std::system_error& e) {
        g_cancels_in_flight.fetch_sub(1);
        PQfreeCancel(cancel);
        log::warn("query cancel skipped: cannot start a thread",
                  {{"query", boost::json::string_view(query_name)}, {"error", e.what()}});
    }
}

}  // namespace

std::string statement_name(const Query& query) {
    std::uint32_t hash = 2166136261u;  // FNV-1a
    for (unsigned char c : query.sql) hash = (hash ^ c) * 16777619u;
    return fmt::format("{}/{:08x}", query.name, hash);
}

Connection::Connection(PGconn* conn, asio::any_io_executor executor)
    : conn_(conn), socket_(std::move(executor)) {}

Connection::~Connection() {
    unwatch_socket();
    PQfinish(conn_);
}

void Connection::watch_socket() {
    unwatch_socket();
    boost::system::error_code ec;
    socket_.assign(PQsocket(conn_), ec);
    if (ec) broken_ = true;
}

void Connection::unwatch_socket() {
    if (socket_.is_open()) socket_.release();
}

asio::awaitable<Result<std::unique_ptr<Connection>>> Connection::connect(asio::any_io_executor executor,
                                                                         std::string conninfo,
                                                                         Deadline deadline) {
    PGconn* raw = PQconnectStart(conninfo.c_str());
    if (!raw) co_return make_error(ErrorCode::kInternal, "out of memory starting a PostgreSQL connection");
    std::unique_ptr<Connection> conn(new Connection(raw, std::move(executor)));
    if (PQstatus(raw) == CONNECTION_BAD) co_return conn->fail();

    // libpq's contract: behave as if PQconnectPoll had asked to wait for writing.
    PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
    while (poll != PGRES_POLLING_OK) {
        if (poll == PGRES_POLLING_FAILED) co_return conn->fail();
        // PQconnectPoll may close this socket and open another (next address, next host, SSL retry), and
        // the new one can reuse the same number, so the socket is re-registered on every step.
        conn->watch_socket();
        Ready ready =
            co_await conn->wait(poll == PGRES_POLLING_READING ? Wait::kRead : Wait::kWrite, deadline);
        conn->unwatch_socket();
        if (ready == Ready::kTimeout)
            co_return make_error(ErrorCode::kTimeout, "connecting to PostgreSQL timed out");
        if (ready == Ready::kFailed) co_return conn->lose_socket();
        poll = PQconnectPoll(raw);
    }
    conn->watch_socket();
    if (conn->broken_ || PQsetnonblocking(raw, 1) != 0) co_return conn->fail();
    log_notices(raw);
    co_return std::move(conn);
}

asio::awaitable<Connection::Ready> Connection::wait(Wait what, Deadline deadline) {
    using asio::experimental::make_parallel_group;
    using asio::experimental::wait_for_one;
    asio::steady_timer timer(socket_.get_executor(), deadline);
    std::size_t first = 0;
    boost::system::error_code socket_ec;
    if (what == Wait::kReadWrite) {
        auto [order, read_ec, write_ec, timer_ec] =
            co_await make_parallel_group(
                socket_.async_wait(asio::posix::descriptor_base::wait_read, asio::deferred),
                socket_.async_wait(asio::posix::descriptor_base::wait_write, asio::deferred),
                timer.async_wait(asio::deferred))
                .async_wait(wait_for_one(), asio::use_awaitable);
        first = order[0] == 2 ? 1 : 0;
        socket_ec = order[0] == 0 ? read_ec : write_ec;
    } else {
        auto type = what == Wait::kRead ? asio::posix::descriptor_base::wait_read
                                        : asio::posix::descriptor_base::wait_write;
        auto [order, wait_ec, timer_ec] =
            co_await make_parallel_group(socket_.async_wait(type, asio::deferred),
                                         timer.async_wait(asio::deferred))
                .async_wait(wait_for_one(), asio::use_awaitable);
        first = order[0];
        socket_ec = wait_ec;
    }
    if (first == 1) co_return Ready::kTimeout;
    co_return socket_ec ? Ready::kFailed : Ready::kReady;
}

Error Connection::fail() {
    if (PQstatus(conn_) == CONNECTION_BAD) broken_ = true;
    return error_from_result(nullptr, conn_);
}

Error Connection::lose_socket() {
    broken_ = true;
    return make_error(ErrorCode::kUnavailable, "lost the PostgreSQL socket");
}

Error Connection::abandon(const Query& query) {
    // The server is still working on the query and libpq still expects its results: nothing short of a
    // new connection gets back to a known state, so cancel the work and retire this one.
    broken_ = true;
    cancel_in_background(PQgetCancel(conn_), query.name);
    return make_error(ErrorCode::kTimeout,
                      fmt::format("query {} passed its deadline and was cancelled", query.name));
}

asio::awaitable<Result<ResultSet>> Connection::exec(const Query& query, Params params, Deadline deadline) {
    if (broken_) co_return make_error(ErrorCode::kUnavailable, "the PostgreSQL connection is broken");
    last_sqlstate_.clear();
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        // Text parameters travel as C strings: a NUL would silently cut the value short, and PostgreSQL text
        // cannot hold one anyway. Refuse rather than store a prefix.
        if (p && p->find('\0') != std::string::npos) {
            co_return make_error(ErrorCode::kInvalidArgument,
                                 fmt::format("parameter ${} of {} contains a NUL character (\\u0000), which "
                                             "text cannot hold",
                                             values.size() + 1, query.name));
        }
        values.push_back(p ? p->c_str() : nullptr);
    }
    const int n = static_cast<int>(values.size());
    if (prepare_) {
        auto named = co_await exec_prepared(query, n, values.data(), deadline);
        if (named || !statement_moved()) co_return named;
        // The server does not hold a statement this session prepared (26000), or holds one by that name it
        // did not prepare (42P05): something between us and it, a PgBouncer in transaction pooling, hands
        // out server sessions per transaction. Neither ran the query; go on with unnamed statements.
        prepare_ = false;
        prepared_.clear();
        log::warn(
            "named prepared statements do not survive on this connection (a transaction pooler in "
            "between?): using unnamed statements",
            {{"query", boost::json::string_view(query.name)}, {"sqlstate", last_sqlstate_.c_str()}});
    }
    const std::string sql(query.sql);  // libpq wants a terminated string; the registry holds string_views
    if (!PQsendQueryParams(conn_, sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0))
        co_return fail();
    co_return co_await finish(query, deadline);
}

asio::awaitable<Result<ResultSet>> Connection::exec_simple(const Query& query, Deadline deadline) {
    if (broken_) co_return make_error(ErrorCode::kUnavailable, "the PostgreSQL connection is broken");
    last_sqlstate_.clear();
    const std::string sql(query.sql);
    if (!PQsendQuery(conn_, sql.c_str())) co_return fail();
    co_return co_await finish(query, deadline);
}

asio::awaitable<Result<ResultSet>> Connection::exec_prepared(const Query& query, int n,
                                                             const char* const* values, Deadline deadline) {
    // Prepared on first use: the server plans once per connection (a generic plan prunes partitions at run
    // time) instead of on every call. Named after the registry entry and a hash of its SQL, so two versions
    // of a statement (a rolling upgrade) can never run each other's text.
    auto held = prepared_.find(query.name);
    if (held == prepared_.end()) {
        std::string name = statement_name(query);
        const std::string sql(query.sql);
        if (!PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr)) co_return fail();
        auto prepared = co_await finish(query, deadline);
        if (!prepared) co_return prepared.error();
        held = prepared_.emplace(std::string(query.name), std::move(name)).first;
    }
    const std::string& name = held->second;
    if (!PQsendQueryPrepared(conn_, name.c_str(), n, values, nullptr, nullptr, 0)) co_return fail();
    co_return co_await finish(query, deadline);
}

bool Connection::statement_moved() const {
    return !broken_ && (last_sqlstate_ == "26000" || last_sqlstate_ == "42P05");
}

asio::awaitable<Result<ResultSet>> Connection::finish(const Query& query, Deadline deadline) {
    for (int pending = PQflush(conn_); pending != 0; pending = PQflush(conn_)) {
        if (pending < 0) co_return fail();
        Ready ready = co_await wait(Wait::kReadWrite, deadline);
        if (ready == Ready::kTimeout) co_return abandon(query);
        if (ready == Ready::kFailed) co_return lose_socket();
        // Reading whatever arrived keeps a server that is itself blocked on sending from deadlocking us.
        if (!PQconsumeInput(conn_)) co_return fail();
    }

    // One statement gives one result, but libpq's protocol is to read until PQgetResult returns null; the
    // first error wins over later results.
    std::optional<Result<ResultSet>> outcome;
    for (;;) {
        while (!PQisBusy(conn_)) {
            PGresult* result = PQgetResult(conn_);
            if (!result) {
                if (PQstatus(conn_) == CONNECTION_BAD) broken_ = true;
                if (!outcome) co_return make_error(ErrorCode::kInternal, "PostgreSQL returned no result");
                co_return std::move(*outcome);
            }
            ExecStatusType status = PQresultStatus(result);
            if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
                // COPY needs its own protocol; reaching it here leaves the connection mid-COPY.
                PQclear(result);
                broken_ = true;
                co_return make_error(ErrorCode::kInternal,
                                     fmt::format("query {} started a COPY", query.name));
            }
            if (status == PGRES_FATAL_ERROR) {
                const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
                last_sqlstate_ = sqlstate ? sqlstate : "";
            }
            Result<ResultSet> taken = take_result(result, conn_);
            if (!outcome || (outcome->ok() && !taken.ok())) outcome.emplace(std::move(taken));
        }
        Ready ready = co_await wait(Wait::kRead, deadline);
        if (ready == Ready::kTimeout) co_return abandon(query);
        if (ready == Ready::kFailed) co_return lose_socket();
        if (!PQconsumeInput(conn_)) co_return fail();
    }
}

bool Connection::peer_gone() const {
    if (broken_ || PQstatus(conn_) != CONNECTION_OK) return true;
    int fd = PQsocket(conn_);
    if (fd < 0) return true;
    char byte = 0;
    ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    return true;  // 0: closed; > 0: the peer spoke while idle, which a healthy server never does
}

}  // namespace yw::pg
