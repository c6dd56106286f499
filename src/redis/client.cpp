// Async Redis client: connection state machine on a strand, FIFO of pending calls, hiredis for RESP.
#include "redis/client.hpp"

#include <hiredis/hiredis.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>

#include "common/logging.hpp"

namespace yw::redis {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

Reply convert(const redisReply* r) {
    Reply out;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.type = Reply::Type::kString;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = Reply::Type::kStatus;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = Reply::Type::kError;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = Reply::Type::kInteger;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = Reply::Type::kArray;
            out.elements.reserve(r->elements);
            for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
            break;
        default:  // REDIS_REPLY_NIL
            out.type = Reply::Type::kNil;
            break;
    }
    return out;
}

// RESP encoding of one command through hiredis.
bool append_command(std::string& out, const Command& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* cmd = nullptr;
    int len = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
    if (len < 0 || !cmd) return false;
    out.append(cmd, static_cast<size_t>(len));
    redisFreeCommand(cmd);
    return true;
}

Error unavailable(std::string why) { return make_error(ErrorCode::kUnavailable, "redis: " + std::move(why)); }

}  // namespace

Result<Endpoint> parse_redis_url(std::string_view text) {
    auto url = boost::urls::parse_uri(text);
    if (!url || (url->scheme() != "redis") || url->host().empty())
        return make_error(ErrorCode::kInvalidArgument, "redis URL must look like redis://host:port[/db]");
    Endpoint e;
    e.host = url->host_address();
    if (e.host.size() > 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
    if (url->has_port()) e.port = url->port_number();
    if (url->has_password()) e.password = url->password();
    std::string path = url->path();
    if (path.size() > 1) {
        try {
            e.db = std::stoi(path.substr(1));
        } catch (...) {
            return make_error(ErrorCode::kInvalidArgument, "redis URL: the path must be a database number");
        }
    }
    return e;
}

// One call in flight: `expected` replies, delivered in order.
struct Pending {
    Pending(const asio::any_io_executor& ex, size_t n) : expected(n), timer(ex) {}
    size_t expected;
    std::vector<Reply> replies;
    std::optional<Error> error;
    bool done = false;       // replies complete or error set: the waiter may go
    bool abandoned = false;  // the waiter gave up (deadline); replies are read and dropped
    Clock::time_point sent_at = Clock::now();
    asio::steady_timer timer;  // the waiter sleeps on it; cancelled when done
};

struct Client::Impl : std::enable_shared_from_this<Impl> {
    enum class State {
        kIdle,        // not connected; a reconnect may be scheduled
        kConnecting,  // TCP connect in progress
        kHandshake,   // connected; AUTH/SELECT in flight, only internal calls allowed
        kReady,       // serving calls
        kClosed,      // close() was called: nothing more happens
    };

    Impl(asio::any_io_executor ex, ClientOptions opts)
        : executor(ex),
          strand(asio::make_strand(ex)),
          options(std::move(opts)),
          socket(strand),
          retry_timer(strand),
          reader(redisReaderCreate()) {
        auto ep = parse_redis_url(options.url);
        if (ep)
            endpoint = *ep;
        else
            url_error = ep.error();
    }
    ~Impl() {
        if (reader) redisReaderFree(reader);
    }

    asio::any_io_executor executor;
    asio::strand<asio::any_io_executor> strand;
    ClientOptions options;
    Endpoint endpoint;
    std::optional<Error> url_error;
    tcp::socket socket;
    asio::steady_timer retry_timer;
    redisReader* reader;
    std::deque<std::shared_ptr<Pending>> pending;
    std::string out;       // encoded commands not yet handed to the socket
    bool writing = false;  // a write loop is running for the current generation
    State state = State::kIdle;
    std::uint64_t generation = 0;  // bumped per connection: stale loops notice and stop
    std::chrono::milliseconds backoff{0};

    std::atomic<bool> ready{false};
    std::atomic<std::uint64_t> commands{0}, errors{0}, timeouts{0}, reconnects{0}, connects{0},
        script_loads{0};

    // --- all below run on the strand ---

    asio::awaitable<Result<std::vector<Reply>>> submit(std::vector<Command> cmds, Deadline deadline,
                                                       bool internal) {
        bool usable = state == State::kReady || (internal && state == State::kHandshake);
        if (!usable) {
            ++errors;
            co_return unavailable(state == State::kClosed ? "client closed" : "not connected");
        }
        if (pending.size() >= options.max_pending) {
            ++errors;
            co_return unavailable("too many commands in flight");
        }
        auto p = std::make_shared<Pending>(strand, cmds.size());
        for (const auto& c : cmds) {
            if (!append_command(out, c))
                co_return make_error(ErrorCode::kInvalidArgument, "redis: bad command");
        }
        commands += cmds.size();
        pending.push_back(p);
        start_write();
        if (!p->done) {
            p->timer.expires_at(deadline);
            co_await p->timer.async_wait(kAwait);
        }
        if (!p->done) {
            p->abandoned = true;
            ++errors;
            ++timeouts;
            check_hung();
            co_return make_error(ErrorCode::kTimeout, "redis: command deadline passed");
        }
        if (p->error) {
            ++errors;
            co_return *p->error;
        }
        co_return std::move(p->replies);
    }

    static asio::awaitable<void> submit_into(std::shared_ptr<Impl> self, std::vector<Command> cmds,
                                             Deadline deadline,
                                             std::optional<Result<std::vector<Reply>>>* out) {
        *out = co_await self->submit(std::move(cmds), deadline, false);
    }

    // Replies come in order: when the oldest call has waited a whole command timeout, nothing is coming.
    void check_hung() {
        if (state != State::kReady || pending.empty()) return;
        if (Clock::now() - pending.front()->sent_at >= options.command_timeout)
            drop(generation, "no reply within the command timeout");
    }

    void start_write() {
        if (writing || out.empty() || state == State::kIdle || state == State::kClosed) return;
        writing = true;
        asio::co_spawn(strand, write_loop(shared_from_this(), generation), asio::detached);
    }

    static asio::awaitable<void> write_loop(std::shared_ptr<Impl> self, std::uint64_t gen) {
        while (gen == self->generation && !self->out.empty()) {
            std::string buf;
            buf.swap(self->out);
            auto [ec, n] = co_await asio::async_write(self->socket, asio::buffer(buf), kAwait);
            if (ec) {
                self->drop(gen, "write failed: " + ec.message());
                co_return;
            }
        }
        if (gen == self->generation) self->writing = false;
    }

    static asio::awaitable<void> read_loop(std::shared_ptr<Impl> self, std::uint64_t gen) {
        std::array<char, 16384> buf;
        while (gen == self->generation) {
            auto [ec, n] = co_await self->socket.async_read_some(asio::buffer(buf), kAwait);
            if (gen != self->generation) co_return;
            if (ec) {
                self->drop(gen, ec == asio::error::eof ? "connection closed by the server"
                                                       : "read failed: " + ec.message());
                co_return;
            }
            if (redisReaderFeed(self->reader, buf.data(), n) != REDIS_OK) {
                self->drop(gen, "protocol error");
                co_return;
            }
            for (;;) {
                void* raw = nullptr;
                if (redisReaderGetReply(self->reader, &raw) != REDIS_OK) {
                    self->drop(gen, "protocol error");
                    co_return;
                }
                if (!raw) break;
                auto* r = static_cast<redisReply*>(raw);
                Reply reply = convert(r);
                freeReplyObject(r);
                if (!self->deliver(std::move(reply))) {
                    self->drop(gen, "a reply nobody asked for");
                    co_return;
                }
            }
        }
    }

    bool deliver(Reply reply) {
        if (pending.empty()) return false;
        auto& p = pending.front();
        p->replies.push_back(std::move(reply));
        if (p->replies.size() == p->expected) {
            p->done = true;
            p->timer.cancel();
            pending.pop_front();
        }
        return true;
    }

    // Ends connection `gen`: every call in flight fails, and a reconnect is scheduled unless closed.
    void drop(std::uint64_t gen, const std::string& why, bool reconnect = true) {
        if (gen != generation) return;
        ++generation;
        bool was_ready = state == State::kReady;
        ready = false;
        boost::system::error_code ignored;
        socket.close(ignored);
        writing = false;
        out.clear();
        redisReaderFree(reader);
        reader = redisReaderCreate();
        auto failed = std::move(pending);
        pending.clear();
        for (auto& p : failed) {
            p->error = unavailable(why);
            p->done = true;
            p->timer.cancel();
        }
        if (state == State::kClosed) return;
        state = State::kIdle;
        if (was_ready) log::warn("redis connection lost", {{"reason", why.c_str()}});
        if (reconnect) schedule_connect();
    }

    void schedule_connect() {
        if (state != State::kIdle) return;
        state = State::kConnecting;
        asio::co_spawn(strand, connect_loop(shared_from_this()), asio::detached);
    }

    static asio::awaitable<void> connect_loop(std::shared_ptr<Impl> self) {
        if (self->backoff.count() > 0) {
            self->retry_timer.expires_after(self->backoff);
            co_await self->retry_timer.async_wait(kAwait);
        }
        while (self->state == State::kConnecting) {
            auto connected = co_await self->connect_once();
            if (self->state == State::kClosed) co_return;
            if (connected) {
                self->backoff = std::chrono::milliseconds(0);
                co_return;
            }
            if (self->connects == 0 && self->backoff.count() == 0) {
                log::warn("redis unavailable; retrying in the background",
                          {{"reason", connected.error().message.c_str()}});
            }
            self->backoff =
                std::clamp(self->backoff * 2, self->options.reconnect_min, self->options.reconnect_max);
            self->retry_timer.expires_after(self->backoff);
            co_await self->retry_timer.async_wait(kAwait);
        }
    }

    asio::awaitable<Status> connect_once() {
        if (url_error) co_return *url_error;
        auto deadline = Clock::now() + options.connect_timeout;
        asio::steady_timer timer(strand);
        timer.expires_at(deadline);
        tcp::resolver resolver(strand);
        auto resolved =
            co_await (resolver.async_resolve(endpoint.host, std::to_string(endpoint.port), kAwait) ||
                      timer.async_wait(kAwait));
        if (resolved.index() == 1) co_return unavailable("resolving " + endpoint.host + " timed out");
        auto [rec, results] = std::get<0>(resolved);
        if (rec) co_return unavailable("cannot resolve " + endpoint.host + ": " + rec.message());
        if (state != State::kConnecting) co_return unavailable("client closed");
        auto done = co_await (asio::async_connect(socket, results, kAwait) || timer.async_wait(kAwait));
        if (done.index() == 1) {
            boost::system::error_code ignored;
            socket.close(ignored);
            co_return make_error(ErrorCode::kTimeout, "redis: connect timed out");
        }
        if (auto ec = std::get<0>(std::get<0>(done)); ec) {
            boost::system::error_code ignored;
            socket.close(ignored);
            co_return unavailable("connect failed: " + ec.message());
        }
        if (state != State::kConnecting) co_return unavailable("client closed");
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        ++generation;
        state = State::kHandshake;
        asio::co_spawn(strand, read_loop(shared_from_this(), generation), asio::detached);
        std::vector<Command> hello;
        if (!endpoint.password.empty()) hello.push_back({"AUTH", endpoint.password});
        if (endpoint.db != 0) hello.push_back({"SELECT", std::to_string(endpoint.db)});
        hello.push_back({"PING"});
        auto replies = co_await submit(std::move(hello), deadline, true);
        Status result;
        if (!replies) {
            result = replies.error();
        } else {
            for (const auto& r : *replies) {
                if (r.is_error()) result = unavailable("handshake refused: " + r.str);
            }
        }
        if (!result) {
            if (state == State::kHandshake) {
                drop(generation, result.error().message, false);  // connect_loop retries itself
                state = State::kConnecting;
            }
            co_return result;
        }
        if (state != State::kHandshake) co_return unavailable("client closed");
        state = State::kReady;
        ready = true;
        if (connects++ > 0) ++reconnects;
        log::info("redis connected", {{"host", endpoint.host.c_str()}, {"port", endpoint.port}});
        co_return Status{};
    }

    void close_now() {
        if (state == State::kClosed) return;
        State before = state;
        state = State::kClosed;
        retry_timer.cancel();
        if (before != State::kIdle) drop(generation, "client closed");
        boost::system::error_code ignored;
        socket.close(ignored);
        ready = false;
    }
};

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

Client::~Client() { close(); }

void Client::start() {
    asio::post(impl_->strand, [impl = impl_] { impl->schedule_connect(); });
}

void Client::close() {
    auto impl = impl_;
    const auto* io = impl->executor.target<asio::io_context::executor_type>();
    if (impl->strand.running_in_this_thread() || (io && io->context().stopped())) {
        impl->close_now();
        return;
    }
    if (io && io->running_in_this_thread()) {
        // On a loop thread (a coroutine closing its client): never block the loop; the strand closes soon.
        asio::post(impl->strand, [impl] { impl->close_now(); });
        return;
    }
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    asio::post(impl->strand, [impl, done] {
        impl->close_now();
        done->set_value();
    });
    // A loop that never ran (startup failed) does not run the handler: then nobody else touches the state.
    if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) impl->close_now();
}

asio::awaitable<Result<Reply>> Client::command(Command args, Deadline deadline) {
    std::vector<Command> one;
    one.push_back(std::move(args));
    auto replies = co_await pipeline(std::move(one), deadline);
    if (!replies) co_return replies.error();
    co_return std::move(replies->front());
}

asio::awaitable<Result<std::vector<Reply>>> Client::pipeline(std::vector<Command> commands,
                                                             Deadline deadline) {
    if (commands.empty()) co_return std::vector<Reply>{};
    auto impl = impl_;
    // Fast path: no hop to the strand when there is no connection to use.
    if (!impl->ready) {
        ++impl->errors;
        co_return unavailable("not connected");
    }
    // co_spawn needs a default-constructible result: the strand-side call writes into `out`.
    std::optional<Result<std::vector<Reply>>> out;
    co_await asio::co_spawn(impl->strand, Impl::submit_into(impl, std::move(commands), deadline, &out),
                            asio::use_awaitable);
    co_return std::move(*out);
}

asio::awaitable<Result<Reply>> Client::eval(const Script& script, std::vector<std::string> keys,
                                            std::vector<std::string> args, Deadline deadline) {
    Command cmd;
    cmd.reserve(3 + keys.size() + args.size());
    cmd.push_back("EVALSHA");
    cmd.push_back(script.sha1());
    cmd.push_back(std::to_string(keys.size()));
    for (auto& k : keys) cmd.push_back(std::move(k));
    for (auto& a : args) cmd.push_back(std::move(a));
    auto reply = co_await command(cmd, deadline);
    if (!reply || !reply->is_error() || !reply->str.starts_with("NOSCRIPT")) co_return reply;
    ++impl_->script_loads;
    cmd[0] = "EVAL";
    cmd[1] = script.source();
    co_return co_await command(std::move(cmd), deadline);
}

bool Client::connected() const { return impl_->ready; }

ClientStats Client::stats() const {
    ClientStats s;
    s.commands = impl_->commands;
    s.errors = impl_->errors;
    s.timeouts = impl_->timeouts;
    s.reconnects = impl_->reconnects;
    s.connects = impl_->connects;
    s.script_loads = impl_->script_loads;
    return s;
}

const ClientOptions& Client::options() const { return impl_->options; }

void Client::dump_metrics(prometheus::Writer& out) const {
    ClientStats s = stats();
    out.family("yw_redis_connected", "gauge", "Whether the Redis connection is up.");
    out.sample("yw_redis_connected", {}, connected());
    out.family("yw_redis_reconnects_total", "counter", "Connections re-established after a loss.");
    out.sample("yw_redis_reconnects_total", {}, s.reconnects);
    out.family("yw_redis_errors_total", "counter",
               "Redis calls that failed (not connected, timeout, connection lost).");
    out.sample("yw_redis_errors_total", {}, s.errors);
}

}  // namespace yw::redis
