// The cache's pure rules: key names carry the tenant, TTL jitter stays in its band, not-found entries, and
// single-flight (one load for many concurrent callers of a key, none left waiting when a load throws).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "cache/keys.hpp"
#include "cache/single_flight.hpp"
#include "common/error.hpp"

namespace yw::cache {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST(CacheKeys, CarryTheTenantAndTheNamespace) {
    EXPECT_EQ(user_key("t1", "u1"), "users:t1:u1");
    EXPECT_EQ(conversation_key("t1", "c1"), "conversations:t1:c1");
    EXPECT_EQ(first_page_key("t1", "c1"), "messages:t1:c1:first");
    EXPECT_NE(user_key("t1", "u1"), user_key("t2", "u1"));  // another tenant, another key
    EXPECT_EQ(namespace_of("users:t:u"), Namespace::kUsers);
    EXPECT_EQ(namespace_of("conversations:t:c"), Namespace::kConversations);
    EXPECT_EQ(namespace_of("messages:t:c:first"), Namespace::kMessages);
    EXPECT_EQ(namespace_of("rl:key:minute"), std::nullopt);
    EXPECT_EQ(namespace_of("users"), std::nullopt);
}

TEST(CacheKeys, ClearAllNeverTouchesRateLimits) {
    for (const auto& pattern : cache_patterns()) {
        EXPECT_EQ(pattern.back(), '*');
        EXPECT_NE(pattern.rfind("rl:", 0), 0u) << pattern;
        EXPECT_TRUE(namespace_of(pattern).has_value()) << pattern;
    }
}

TEST(CacheTtl, JitterStaysWithinTheBand) {
    EXPECT_EQ(jittered_ttl(300s, 0.1, 0.0), 270s);
    EXPECT_EQ(jittered_ttl(300s, 0.1, 0.5), 300s);
    EXPECT_EQ(jittered_ttl(300s, 0.1, 0.999999), 330s);
    EXPECT_EQ(jittered_ttl(300s, 0.0, 0.9), 300s);  // no jitter
    EXPECT_EQ(jittered_ttl(300s, 5.0, 0.0), 1s);    // clamped to 100 %, never below a second
    EXPECT_EQ(jittered_ttl(1s, 0.5, 0.0), 1s);
    for (double u = 0; u < 1; u += 0.01) {
        auto ttl = jittered_ttl(600s, 0.2, u);
        EXPECT_GE(ttl, 480s);
        EXPECT_LE(ttl, 720s);
    }
}

TEST(CacheEntries, NotFoundIsNeverMistakenForJson) {
    auto entry = not_found_entry("no such user");
    EXPECT_EQ(not_found_message(entry), "no such user");
    EXPECT_EQ(not_found_message(R"({"id":"x"})"), std::nullopt);
    EXPECT_EQ(not_found_message(""), std::nullopt);
}

using Flights = SingleFlight<Result<std::string>>;

Result<std::string> from_exception(const std::exception& e) {
    return make_error(ErrorCode::kInternal, e.what());
}

TEST(SingleFlight, ManyConcurrentCallersShareOneLoad) {
    asio::io_context io;
    Flights flights(from_exception);
    int loads = 0;
    std::vector<std::string> answers;
    Flights::Loader load = [&]() -> asio::awaitable<Result<std::string>> {
        ++loads;
        // Yield a few times: every other caller's coroutine starts (and must park) before the load ends.
        for (int i = 0; i < 3; ++i) co_await asio::post(io, asio::use_awaitable);
        co_return std::string("value");
    };
    for (int i = 0; i < 200; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto r = co_await flights.run("users:t:u", load);
                answers.push_back(r ? *r : r.error().message);
            },
            asio::detached);
    }
    io.run();
    EXPECT_EQ(loads, 1);
    ASSERT_EQ(answers.size(), 200u);
    for (const auto& a : answers) EXPECT_EQ(a, "value");
    EXPECT_EQ(flights.in_flight(), 0u);
}

TEST(SingleFlight, DifferentKeysAndLaterCallersLoadAgain) {
    asio::io_context io;
    Flights flights(from_exception);
    int loads = 0;
    Flights::Loader load = [&]() -> asio::awaitable<Result<std::string>> {
        ++loads;
        co_await asio::post(io, asio::use_awaitable);
        co_return std::to_string(loads);
    };
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            (void)co_await flights.run("a", load);
            (void)co_await flights.run("a", load);  // the first finished: nothing is kept
        },
        asio::detached);
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { (void)co_await flights.run("b", load); }, asio::detached);
    io.run();
    EXPECT_EQ(loads, 3);
}

TEST(SingleFlight, AThrowingLoadReleasesItsWaiters) {
    asio::io_context io;
    Flights flights(from_exception);
    int waiters_answered = 0;
    bool leader_threw = false;
    Flights::Loader load = [&]() -> asio::awaitable<Result<std::string>> {
        co_await asio::post(io, asio::use_awaitable);
        throw std::runtime_error("boom");
    };
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            try {
                (void)co_await flights.run("k", load);
            } catch (const std::runtime_error&) {
                leader_threw = true;
            }
        },
        asio::detached);
    for (int i = 0; i < 5; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto r = co_await flights.run("k", load);
                if (!r && r.error().message == "boom") ++waiters_answered;
            },
            asio::detached);
    }
    io.run();
    EXPECT_TRUE(leader_threw);
    EXPECT_EQ(waiters_answered, 5);
}

}  // namespace
}  // namespace yw::cache
