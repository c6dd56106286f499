// A scripted stand-in for Redis behind redis::Commands, for unit tests of the modules built on it (limiter,
// cache, rate-limit administration). It is no Redis and runs no Lua: it answers what the test programmed, by
// the command's first argument or by a script's SHA, records every call, and can play the failures the
// callers must survive: down (not connected), a timeout, or a reply held back until the test releases it.
//
// Single-threaded: drive it from one io_context thread. Every call first yields to its executor, as the real
// client does, so a caller never gets its answer inline.
#pragma once

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis/commands.hpp"

namespace yw::testing {

// Reply builders.
namespace reply {
inline redis::Reply nil() { return {}; }
inline redis::Reply text(std::string s) { return {redis::Reply::Type::kString, std::move(s), 0, {}}; }
inline redis::Reply status(std::string s) { return {redis::Reply::Type::kStatus, std::move(s), 0, {}}; }
inline redis::Reply integer(std::int64_t n) { return {redis::Reply::Type::kInteger, {}, n, {}}; }
inline redis::Reply error(std::string s) { return {redis::Reply::Type::kError, std::move(s), 0, {}}; }
inline redis::Reply array(std::vector<redis::Reply> elements) {
    return {redis::Reply::Type::kArray, {}, 0, std::move(elements)};
}
}  // namespace reply

class FakeRedis final : public redis::Commands {
  public:
    // One call as received.
    struct Call {
        enum class Kind { kCommand, kPipeline, kEval };
        Kind kind = Kind::kCommand;
        redis::Command args;                   // kCommand: the command; kEval: {"EVALSHA", sha, numkeys, …}
        std::vector<redis::Command> commands;  // kPipeline: the batch
        std::string sha;                       // kEval
        std::vector<std::string> keys, argv;   // kEval: KEYS and ARGV
        redis::Deadline deadline;
    };
    // Makes the answer to one command (each command of a pipeline alone) or script from what it carried. An
    // Error is a transport failure (kTimeout, kUnavailable): in a pipeline it fails the whole batch.
    using Responder = std::function<Result<redis::Reply>(const Call&)>;

    // Answers to commands by their first argument (any case). "EVALSHA" answers the scripts with no answer
    // of their own. What nothing answers gets an error reply naming it.
    void on(std::string name, Responder responder) { by_name_[upper(name)] = std::move(responder); }
    void on(std::string name, Result<redis::Reply> fixed) {
        on(std::move(name), [fixed](const Call&) { return fixed; });
    }
    // Answers to one script, by its SHA.
    void on_script(const redis::Script& script, Responder responder) {
        by_sha_[script.sha1()] = std::move(responder);
    }
    void on_script(const redis::Script& script, Result<redis::Reply> fixed) {
        on_script(script, [fixed](const Call&) { return fixed; });
    }

    // Down: connected() is false and every call fails at once with kUnavailable (still recorded).
    void set_down(bool down) { down_ = down; }

    // Calls to `name` (first argument, or a script's SHA) wait until release(), or fail with kTimeout when
    // their deadline comes first.
    void hold(std::string name) { held_names_.push_back(upper(name)); }
    void hold(const redis::Script& script) { hold(script.sha1()); }
    // Lets every held call go on to its answer, and holds no more.
    void release() {
        held_names_.clear();
        for (auto& gate : gates_) gate->cancel();
        gates_.clear();
    }
    size_t waiting() const { return waiting_; }

    const std::vector<Call>& calls() const { return calls_; }
    // Commands received with this first argument, pipelined ones included; "EVALSHA" counts every script.
    size_t count(std::string_view name) const {
        const std::string wanted = upper(std::string(name));
        size_t n = 0;
        for (const auto& c : calls_) {
            if (c.kind == Call::Kind::kPipeline) {
                for (const auto& cmd : c.commands) n += !cmd.empty() && upper(cmd.front()) == wanted;
            } else {
                n += !c.args.empty() && upper(c.args.front()) == wanted;
            }
        }
        return n;
    }
    // The calls of one script, in order.
    std::vector<Call> evals(const redis::Script& script) const {
        std::vector<Call> out;
        for (const auto& c : calls_)
            if (c.kind == Call::Kind::kEval && c.sha == script.sha1()) out.push_back(c);
        return out;
    }

    boost::asio::awaitable<Result<redis::Reply>> command(redis::Command args,
                                                         redis::Deadline deadline) override {
        Call call{Call::Kind::kCommand, std::move(args), {}, {}, {}, {}, deadline};
        calls_.push_back(call);
        if (auto failed = co_await arrive(held(call), deadline)) co_return *failed;
        co_return answer(call);
    }

    boost::asio::awaitable<Result<std::vector<redis::Reply>>> pipeline(std::vector<redis::Command> commands,
                                                                       redis::Deadline deadline) override {
        Call batch{Call::Kind::kPipeline, {}, std::move(commands), {}, {}, {}, deadline};
        calls_.push_back(batch);
        bool hold_it = false;
        std::vector<Call> each;
        for (const auto& cmd : batch.commands) {
            each.push_back(Call{Call::Kind::kCommand, cmd, {}, {}, {}, {}, deadline});
            hold_it = hold_it || held(each.back());
        }
        if (auto failed = co_await arrive(hold_it, deadline)) co_return *failed;
        std::vector<redis::Reply> replies;
        for (const auto& call : each) {
            auto r = answer(call);
            if (!r) co_return r.error();
            replies.push_back(std::move(*r));
        }
        co_return replies;
    }

    boost::asio::awaitable<Result<redis::Reply>> eval(const redis::Script& script,
                                                      std::vector<std::string> keys,
                                                      std::vector<std::string> args,
                                                      redis::Deadline deadline) override {
        Call call{Call::Kind::kEval,
                  {"EVALSHA", script.sha1(), std::to_string(keys.size())},
                  {},
                  script.sha1(),
                  std::move(keys),
                  std::move(args),
                  deadline};
        for (const auto& k : call.keys) call.args.push_back(k);
        for (const auto& a : call.argv) call.args.push_back(a);
        calls_.push_back(call);
        if (auto failed = co_await arrive(held(call), deadline)) co_return *failed;
        co_return answer(call);
    }

    bool connected() const override { return !down_; }

  private:
    static std::string upper(std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::toupper(ch); });
        return s;
    }

    bool held(const Call& call) const {
        for (const auto& name : held_names_) {
            if (call.kind == Call::Kind::kEval && upper(call.sha) == name) return true;
            if (!call.args.empty() && upper(call.args.front()) == name) return true;
        }
        return false;
    }

    // Yields to the caller's executor, waits while held; an Error when the call fails before any answer.
    boost::asio::awaitable<std::optional<Error>> arrive(bool hold_it, redis::Deadline deadline) {
        auto executor = co_await boost::asio::this_coro::executor;
        co_await boost::asio::post(executor, boost::asio::use_awaitable);
        if (down_) co_return make_error(ErrorCode::kUnavailable, "redis: not connected");
        if (!hold_it) co_return std::nullopt;
        auto gate = std::make_shared<boost::asio::steady_timer>(executor, deadline);
        gates_.push_back(gate);
        ++waiting_;
        auto [ec] = co_await gate->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        --waiting_;
        if (ec != boost::asio::error::operation_aborted) {  // the deadline came first
            std::erase(gates_, gate);
            co_return make_error(ErrorCode::kTimeout, "redis: deadline passed");
        }
        if (down_) co_return make_error(ErrorCode::kUnavailable, "redis: connection lost");
        co_return std::nullopt;
    }

    Result<redis::Reply> answer(const Call& call) const {
        if (call.kind == Call::Kind::kEval) {
            if (auto it = by_sha_.find(call.sha); it != by_sha_.end()) return it->second(call);
        }
        const std::string name = call.args.empty() ? std::string() : upper(call.args.front());
        if (auto it = by_name_.find(name); it != by_name_.end()) return it->second(call);
        return reply::error("ERR fake: nothing scripted for " + name);
    }

    std::map<std::string, Responder> by_name_, by_sha_;
    std::vector<std::string> held_names_;
    std::vector<std::shared_ptr<boost::asio::steady_timer>> gates_;
    size_t waiting_ = 0;
    bool down_ = false;
    std::vector<Call> calls_;
};

// Runs one coroutine to its end on `io` (which must have no other endless work) and returns its value.
template <typename T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
    std::optional<T> out;
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await std::move(task)); },
        [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    io.restart();
    io.run();
    return std::move(*out);
}

}  // namespace yw::testing
