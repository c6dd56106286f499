// Listening, thread pool, connection registry and graceful shutdown.
#include "http/server.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>

#include "common/logging.hpp"
#include "http/session.hpp"

namespace yw::http {
namespace asio = boost::asio;
using asio::ip::tcp;
namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Accept errors such as EMFILE last until connections close: pause rather than spin (shedding an idle
// connection first, so the pause is short).
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(10);
// At the limit with every connection busy, how long a new connection waits for one to become sheddable.
constexpr auto kAdmissionWait = std::chrono::milliseconds(50);
constexpr auto kAdmissionStep = std::chrono::milliseconds(5);
// How long a refused connection may take to read its 503.
constexpr auto kRefusalTimeout = std::chrono::milliseconds(1000);

Result<tcp::endpoint> resolve(asio::io_context& io, const std::string& host, std::uint16_t port) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (!ec) return tcp::endpoint(address, port);
    tcp::resolver resolver(io);
    auto found = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || found.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("cannot resolve {}: {}", host, ec.message()));
    }
    return found.begin()->endpoint();
}

}  // namespace

std::uint64_t raise_open_file_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    return limit.rlim_cur == RLIM_INFINITY ? std::uint64_t{1} << 20 : limit.rlim_cur;
}

Server::Server(ServerOptions options, Router router)
    : options_(std::move(options)), router_(std::move(router)), acceptor_(asio::make_strand(io_)) {}

Server::~Server() { stop(); }

Status Server::start() {
    auto endpoint = resolve(io_, options_.host, options_.port);
    if (!endpoint) return endpoint.error();
    boost::system::error_code ec;
    acceptor_.open(endpoint->protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(*endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        acceptor_.close();
        return make_error(ErrorCode::kUnavailable, fmt::format("cannot listen on {}:{}: {}", options_.host,
                                                               options_.port, ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    rlimit files{};
    std::uint64_t file_limit = getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
                                   ? files.rlim_cur
                                   : std::uint64_t{1} << 20;
    max_connections_ =
        effective_max_connections(options_.max_connections, file_limit, options_.reserved_files);
    if (max_connections_ < options_.max_connections) {
        log::warn("the open-file limit lowers the connection limit",
                  {{"configured", options_.max_connections},
                   {"limit", max_connections_},
                   {"open_file_limit", file_limit}});
    }
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
    int threads =
        options_.threads > 0 ? options_.threads : static_cast<int>(std::thread::hardware_concurrency());
    for (int i = 0; i < std::max(threads, 1); ++i) threads_.emplace_back([this] { io_.run(); });
    return {};
}

asio::awaitable<void> Server::accept_loop() {
    for (;;) {
        tcp::socket socket(asio::make_strand(io_));
        auto [ec] = co_await acceptor_.async_accept(socket, kAwait);
        if (!acceptor_.is_open()) co_return;
        if (ec) {
            {
                std::lock_guard lock(mutex_);
                ++accept_errors_;
                // Out of files: an idle connection is the cheapest thing to give back.
                if (ec == asio::error::no_descriptors || ec.value() == ENFILE) shed_one();
            }
            log::warn("accept failed", {{"error", ec.message().c_str()}});
            asio::steady_timer pause(acceptor_.get_executor(), kAcceptRetryDelay);
            co_await pause.async_wait(kAwait);
            continue;
        }
        {
            std::lock_guard lock(mutex_);
            if (stopping_) co_return;
            ++accepted_;
        }
        if (!admit(socket)) {
            // Every connection is being served. One that has just written its response counts as serving
            // until its coroutine runs again: give the busy ones a moment before refusing, off the accept
            // loop.
            auto executor = socket.get_executor();
            asio::co_spawn(executor, admit_or_refuse(std::move(socket)), asio::detached);
        }
    }
}

bool Server::admit(tcp::socket& socket) {
    std::shared_ptr<Session> session;
    Sessions::iterator position;
    {
        // Checked under the lock stop() takes, so that stop() sees every session that will ever run.
        std::lock_guard lock(mutex_);
        if (stopping_) return true;  // the socket closes with its owner: nothing more to serve
        if (sessions_.size() >= max_connections_ && !shed_one()) return false;
        session = std::make_shared<Session>(std::move(socket), router_, options_, stopping_);
        position = sessions_.insert(sessions_.end(), session);
    }
    asio::co_spawn(session->executor(), serve(session, position), asio::detached);
    return true;
}

asio::awaitable<void> Server::admit_or_refuse(tcp::socket socket) {
    asio::steady_timer pause(socket.get_executor());
    for (auto waited = std::chrono::milliseconds(0); waited < kAdmissionWait; waited += kAdmissionStep) {
        pause.expires_after(kAdmissionStep);
        co_await pause.async_wait(kAwait);
        if (admit(socket)) co_return;
    }
    {
        std::lock_guard lock(mutex_);
        ++refused_;
    }
    co_await refuse_connection(std::move(socket), max_connections_, kRefusalTimeout);
}

bool Server::shed_one() {
    // Idle connections lose nothing; a request still arriving loses only itself (its client is the slowest).
    for (auto wanted : {Session::State::kIdle, Session::State::kReading}) {
        for (const auto& session : sessions_) {
            if (session->state() != wanted || !session->claim_for_shedding()) continue;
            ++shed_;
            asio::post(session->executor(), [session] { session->shed(); });
            return true;
        }
    }
    return false;
}

asio::awaitable<void> Server::serve(std::shared_ptr<Session> session, Sessions::iterator position) {
    co_await session->run();
    std::lock_guard lock(mutex_);
    sessions_.erase(position);
    if (sessions_.empty()) drained_.notify_all();
}

ConnectionStats Server::connection_stats() const {
    std::lock_guard lock(mutex_);
    return {sessions_.size(), max_connections_, accepted_, shed_, refused_, accept_errors_};
}

void Server::stop() {
    if (threads_.empty()) return;
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        open.assign(sessions_.begin(), sessions_.end());
    }
    std::promise<void> closed;
    asio::post(acceptor_.get_executor(), [this, &closed] {
        boost::system::error_code ec;
        acceptor_.close(ec);
        closed.set_value();
    });
    closed.get_future().wait();
    for (auto& session : open) asio::post(session->executor(), [session] { session->close_if_idle(); });
    {
        std::unique_lock lock(mutex_);
        if (!drained_.wait_for(lock, options_.shutdown_timeout, [this] { return sessions_.empty(); })) {
            log::warn("shutdown timeout passed; closing connections with requests in flight",
                      {{"connections", sessions_.size()}});
        }
    }
    // Requests are done and the threads still run: background tasks finish their work here.
    if (options_.on_drained) options_.on_drained();
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    // No thread runs the context any more, so touching the sessions from here is safe. Their suspended
    // handlers (one waiting on a slow query, say) are destroyed with the context.
    std::lock_guard lock(mutex_);
    for (const auto& session : sessions_) session->close();
    sessions_.clear();
}

}  // namespace yw::http
