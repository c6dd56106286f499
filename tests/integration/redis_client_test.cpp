// The async Redis client against the topology's real Redis: commands, replies of every type, pipelining,
// EVALSHA with the NOSCRIPT fallback, calls from many threads, deadlines and a lost connection.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <set>
#include <thread>

#include "redis/client.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using redis::Client;
using redis::Command;
using redis::Reply;

// An io_context on a few threads, like ywmsgd's, with one client; runs coroutines to completion.
class RedisClient : public ::testing::Test {
  protected:
    void SetUp() override {
        work_.emplace(io_.get_executor());
        for (int i = 0; i < 3; ++i) threads_.emplace_back([this] { io_.run(); });
        redis::ClientOptions options;
        options.url = Topology::get().connections().redis;
        client_ = std::make_unique<Client>(io_.get_executor(), options);
        client_->start();
        for (int i = 0; i < 200 && !client_->connected(); ++i) std::this_thread::sleep_for(10ms);
        ASSERT_TRUE(client_->connected());
    }
    void TearDown() override {
        client_->close();
        work_.reset();
        io_.stop();
        for (auto& t : threads_) t.join();
        client_.reset();
    }

    // Result<T> has no default constructor, which co_spawn's futures need: hand the value over a promise.
    template <typename T>
    T run(asio::awaitable<T> task) {
        std::promise<T> promise;
        auto future = promise.get_future();
        asio::co_spawn(
            io_, [&]() -> asio::awaitable<void> { promise.set_value(co_await std::move(task)); },
            asio::detached);
        return future.get();
    }
    Result<Reply> cmd(Command c) {
        return run(client_->command(std::move(c), std::chrono::steady_clock::now() + 2s));
    }

    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;
    std::unique_ptr<Client> client_;
};

TEST_F(RedisClient, RepliesOfEveryType) {
    auto set = cmd({"SET", "test:client:s", std::string("a\0b", 3)});
    ASSERT_TRUE(set.ok()) << set.error().message;
    EXPECT_EQ(set->type, Reply::Type::kStatus);
    EXPECT_EQ(set->str, "OK");

    auto get = cmd({"GET", "test:client:s"});
    ASSERT_TRUE(get.ok());
    EXPECT_EQ(get->type, Reply::Type::kString);
    EXPECT_EQ(get->str, std::string("a\0b", 3));  // binary-safe

    auto missing = cmd({"GET", "test:client:missing"});
    ASSERT_TRUE(missing.ok());
    EXPECT_TRUE(missing->is_nil());

    auto incr = cmd({"INCRBY", "test:client:n", "5"});
    ASSERT_TRUE(incr.ok());
    EXPECT_TRUE(incr->is_integer());

    (void)cmd({"DEL", "test:client:l"});
    (void)cmd({"RPUSH", "test:client:l", "x", "y"});
    auto range = cmd({"LRANGE", "test:client:l", "0", "-1"});
    ASSERT_TRUE(range.ok());
    ASSERT_TRUE(range->is_array());
    ASSERT_EQ(range->elements.size(), 2u);
    EXPECT_EQ(range->elements[1].str, "y");

    auto wrong = cmd({"INCR", "test:client:l"});  // WRONGTYPE: a reply, not a transport error
    ASSERT_TRUE(wrong.ok());
    EXPECT_TRUE(wrong->is_error());
    EXPECT_NE(wrong->str.find("WRONGTYPE"), std::string::npos);
}

TEST_F(RedisClient, PipelineAnswersInOrder) {
    std::vector<Command> batch;
    (void)cmd({"DEL", "test:client:p"});
    for (int i = 0; i < 500; ++i) batch.push_back({"INCR", "test:client:p"});
    auto replies = run(client_->pipeline(std::move(batch), std::chrono::steady_clock::now() + 5s));
    ASSERT_TRUE(replies.ok()) << replies.error().message;
    ASSERT_EQ(replies->size(), 500u);
    for (int i = 0; i < 500; ++i) ASSERT_EQ((*replies)[i].integer, i + 1);
}

TEST_F(RedisClient, ManyThreadsShareOneClient) {
    (void)cmd({"DEL", "test:client:c"});
    constexpr int kCalls = 2000;
    std::vector<std::promise<Result<Reply>>> promises(kCalls);
    for (auto& promise : promises) {
        asio::co_spawn(
            io_,
            [this, &promise]() -> asio::awaitable<void> {
                Command c{"INCR", "test:client:c"};
                promise.set_value(
                    co_await client_->command(std::move(c), std::chrono::steady_clock::now() + 10s));
            },
            asio::detached);
    }
    std::set<std::int64_t> seen;
    for (auto& promise : promises) {
        auto r = promise.get_future().get();
        ASSERT_TRUE(r.ok()) << r.error().message;
        seen.insert(r->integer);
    }
    EXPECT_EQ(seen.size(), 2000u);  // every call got its own reply
    EXPECT_EQ(*seen.rbegin(), 2000);
}

TEST_F(RedisClient, EvalShaLoadsTheScriptAfterNoscript) {
    ASSERT_TRUE(cmd({"SCRIPT", "FLUSH"}).ok());
    redis::Script script("return {KEYS[1], ARGV[1], 7}");
    std::vector<std::string> keys{"k1"}, args{"a1"};
    auto first = run(client_->eval(script, keys, args, std::chrono::steady_clock::now() + 2s));
    ASSERT_TRUE(first.ok()) << first.error().message;
    ASSERT_TRUE(first->is_array()) << first->str;
    EXPECT_EQ(first->elements[0].str, "k1");
    EXPECT_EQ(first->elements[2].integer, 7);
    EXPECT_EQ(client_->stats().script_loads, 1u);
    auto second = run(client_->eval(script, keys, args, std::chrono::steady_clock::now() + 2s));
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(client_->stats().script_loads, 1u);  // EVALSHA found it
}

TEST_F(RedisClient, DeadlinePassedIsATimeoutAndTheConnectionStaysUsable) {
    // BLPOP holds the reply for 1 s: the call gives up at its deadline; the late reply is dropped in order.
    auto slow =
        run(client_->command({"BLPOP", "test:client:never", "1"}, std::chrono::steady_clock::now() + 50ms));
    ASSERT_FALSE(slow.ok());
    EXPECT_EQ(slow.error().code, ErrorCode::kTimeout);
    EXPECT_GE(client_->stats().timeouts, 1u);
    auto after = cmd({"PING"});
    ASSERT_TRUE(after.ok()) << after.error().message;
    EXPECT_EQ(after->str, "PONG");  // not the BLPOP's nil: replies stay matched
}

TEST_F(RedisClient, KilledConnectionFailsFastThenReconnects) {
    auto id = cmd({"CLIENT", "ID"});
    ASSERT_TRUE(id.ok());
    auto before = client_->stats().connects;
    // Another connection kills ours: calls fail with kUnavailable, then the client reconnects by itself.
    redis::ClientOptions options;
    options.url = Topology::get().connections().redis;
    Client killer(io_.get_executor(), options);
    killer.start();
    for (int i = 0; i < 200 && !killer.connected(); ++i) std::this_thread::sleep_for(10ms);
    auto killed = run(killer.command({"CLIENT", "KILL", "ID", std::to_string(id->integer)},
                                     std::chrono::steady_clock::now() + 2s));
    ASSERT_TRUE(killed.ok());
    EXPECT_EQ(killed->integer, 1);
    killer.close();
    bool back = false;
    for (int i = 0; i < 300 && !back; ++i) {
        std::this_thread::sleep_for(10ms);
        back = client_->stats().connects > before && client_->connected();
    }
    ASSERT_TRUE(back);
    EXPECT_GE(client_->stats().reconnects, 1u);
    EXPECT_TRUE(cmd({"PING"}).ok());
}

TEST_F(RedisClient, UnreachableServerFailsAtOnce) {
    redis::ClientOptions options;
    options.url = fmt::format("redis://127.0.0.1:{}/0", free_port());
    Client nowhere(io_.get_executor(), options);
    nowhere.start();
    auto r = run(nowhere.command({"PING"}, std::chrono::steady_clock::now() + 2s));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_FALSE(nowhere.connected());
    nowhere.close();
}

TEST(RedisUrl, Parses) {
    auto e = redis::parse_redis_url("redis://:s3cret@10.0.0.5:6380/2");
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->host, "10.0.0.5");
    EXPECT_EQ(e->port, 6380);
    EXPECT_EQ(e->password, "s3cret");
    EXPECT_EQ(e->db, 2);
    EXPECT_FALSE(redis::parse_redis_url("http://x").ok());
}

TEST_F(RedisClient, TimeReplyInMicroseconds) {
    auto reply = cmd({"TIME"});
    ASSERT_TRUE(reply.ok());
    auto now = redis::time_us(*reply);
    ASSERT_TRUE(now.has_value());
    auto local = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    EXPECT_LT(std::llabs(*now - local), 60'000'000);  // the same machine's clock: within a minute
    EXPECT_FALSE(redis::time_us(Reply{}).has_value());
}

}  // namespace
}  // namespace yw::test
