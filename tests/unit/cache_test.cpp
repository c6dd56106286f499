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
#include "cache/metrics.hpp"
#include "common/error.hpp"
#include "common/single_flight.hpp"
#include "ops/cache_admin.hpp"

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
    // The invalidation stamp shares the key's Redis Cluster slot and is no cache entry of any namespace.
    EXPECT_EQ(stamp_key("users:t1:u1"), "inv:{users:t1:u1}");
    EXPECT_EQ(namespace_of(stamp_key("users:t1:u1")), std::nullopt);
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

TEST(CacheStats, InfoParsingAndTheRb11HitRate) {
    std::string info =
        "# Stats\r\ntotal_commands_processed:5678\r\nexpired_keys:123\r\nevicted_keys:0\r\n"
        "keyspace_hits:4500\r\nkeyspace_misses:1000\r\n\r\n# Memory\r\nused_memory:1048576\r\n"
        "maxmemory_policy:volatile-lru\r\n";
    auto stats = ops::cache_stats_from_info(ops::parse_info(info));
    ASSERT_TRUE(stats.ok()) << stats.error().message;
    EXPECT_NEAR(*stats->hit_rate_percent(), 81.8, 0.05);  // RB-11's own example
    EXPECT_NEAR(*stats->expiration_rate_percent(), 100.0 * 123 / 5678, 1e-9);
    EXPECT_EQ(stats->used_memory, 1048576u);
    EXPECT_EQ(stats->maxmemory_policy, "volatile-lru");

    auto missing = ops::cache_stats_from_info(ops::parse_info("keyspace_hits:1\n"));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("keyspace_misses"), std::string::npos);
    ops::RedisCacheStats idle;
    EXPECT_FALSE(idle.hit_rate_percent().has_value());  // nothing to judge before any lookup

    EXPECT_EQ(ops::hit_rate_verdict(81.8), yw::Verdict::kHealthy);
    EXPECT_EQ(ops::hit_rate_verdict(70), yw::Verdict::kHealthy);
    EXPECT_EQ(ops::hit_rate_verdict(69.9), yw::Verdict::kDegraded);
    EXPECT_EQ(ops::hit_rate_verdict(50), yw::Verdict::kDegraded);
    EXPECT_EQ(ops::hit_rate_verdict(49.9), yw::Verdict::kUnhealthy);
}

TEST(CacheStats, ExpositionHasEveryCounterByNamespace) {
    std::vector<NamespaceStats> stats{{Namespace::kUsers, 7, 3, 1, 2, 4},
                                      {Namespace::kMessages, 0, 0, 0, 0, 0}};
    prometheus::Writer out;
    dump_metrics(out, stats);
    std::string text = out.take();
    EXPECT_NE(text.find("# TYPE yw_cache_hits_total counter\n"), std::string::npos) << text;
    EXPECT_NE(text.find("yw_cache_hits_total{namespace=\"users\"} 7\n"), std::string::npos) << text;
    EXPECT_NE(text.find("yw_cache_misses_total{namespace=\"users\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("yw_cache_stale_total{namespace=\"users\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("yw_cache_errors_total{namespace=\"users\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("yw_cache_loads_total{namespace=\"users\"} 4\n"), std::string::npos);
    EXPECT_NE(text.find("yw_cache_loads_total{namespace=\"messages\"} 0\n"), std::string::npos);
}

}  // namespace
}  // namespace yw::cache
