// BatchedLookups: concurrent lookups share rounds, each key once per round, and no lookup is answered by a
// round sent before it asked (what read-your-writes across instances rests on).
#include "common/batched_lookups.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <stdexcept>
#include <thread>

namespace yw {
namespace {

namespace asio = boost::asio;
using Lookups = BatchedLookups<std::uint64_t>;

// A store another process keeps raising: each key's value only grows. A round reads the values when it is
// sent, then takes a few turns of the io_context to come back, as a Redis round trip does.
struct RaisingStore {
    std::mutex mutex;
    std::map<std::string, std::uint64_t> values;
    std::vector<std::vector<std::string>> rounds;  // the keys of each round, as sent

    std::uint64_t get(const std::string& key) {
        std::lock_guard lock(mutex);
        return values[key];
    }
    void raise(const std::string& key) {
        std::lock_guard lock(mutex);
        ++values[key];
    }
    Lookups::Load loader(asio::io_context& io, int turns) {
        return [this, &io,
                turns](const std::vector<std::string>& keys) -> asio::awaitable<std::vector<std::uint64_t>> {
            std::vector<std::uint64_t> answers;
            {
                std::lock_guard lock(mutex);
                rounds.push_back(keys);
                for (const auto& k : keys) answers.push_back(values[k]);
            }
            for (int i = 0; i < turns; ++i) co_await asio::post(io, asio::use_awaitable);
            co_return answers;
        };
    }
};

TEST(BatchedLookups, NoLookupIsAnsweredByARoundSentBeforeItAsked) {
    asio::io_context io;
    RaisingStore store;
    Lookups lookups(store.loader(io, 3), 0);
    int stale = 0;
    int answered = 0;
    // The writer raises the key on every turn; 300 readers ask at staggered turns, each remembering what the
    // store held when it asked. A round sent before that may hold less: joining it would be a stale read.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 400; ++i) {
                store.raise("ryw:t1");
                co_await asio::post(io, asio::use_awaitable);
            }
        },
        asio::detached);
    for (int r = 0; r < 300; ++r) {
        asio::co_spawn(
            io,
            [&, r]() -> asio::awaitable<void> {
                for (int i = 0; i < r % 50; ++i) co_await asio::post(io, asio::use_awaitable);
                std::uint64_t at_ask = store.get("ryw:t1");
                std::uint64_t answer = co_await lookups.lookup("ryw:t1");
                if (answer < at_ask) ++stale;
                ++answered;
            },
            asio::detached);
    }
    io.run();
    EXPECT_EQ(answered, 300);
    EXPECT_EQ(stale, 0);
    auto stats = lookups.stats();
    EXPECT_EQ(stats.lookups, 300u);
    EXPECT_EQ(stats.rounds, store.rounds.size());
    EXPECT_GT(stats.rounds, 5u);    // more than one round: lookups kept arriving while rounds were out
    EXPECT_LT(stats.rounds, 100u);  // and they shared them: 300 lookups, far fewer round trips
}

TEST(BatchedLookups, ALookupAloneIsSentAtOnceAndTheWaitingOnesGoTogetherEachKeyOnce) {
    asio::io_context io;
    RaisingStore store;
    Lookups lookups(store.loader(io, 2), 0);
    std::map<std::string, std::uint64_t> answers;
    store.raise("b");
    store.raise("c");
    store.raise("c");
    for (const char* key : {"a", "b", "a", "c", "b"}) {
        asio::co_spawn(
            io, [&, key]() -> asio::awaitable<void> { answers[key] = co_await lookups.lookup(key); },
            asio::detached);
    }
    io.run();
    ASSERT_EQ(store.rounds.size(), 2u);
    EXPECT_EQ(store.rounds[0], (std::vector<std::string>{"a"}));            // the first, alone, at once
    EXPECT_EQ(store.rounds[1], (std::vector<std::string>{"b", "a", "c"}));  // the rest together, each once
    EXPECT_EQ(answers["a"], 0u);
    EXPECT_EQ(answers["b"], 1u);
    EXPECT_EQ(answers["c"], 2u);
    EXPECT_EQ(lookups.stats().lookups, 5u);
}

TEST(BatchedLookups, AFailedRoundAnswersTheFallbackAndTheNextRoundStillGoes) {
    asio::io_context io;
    int calls = 0;
    Lookups::Load load =
        [&](const std::vector<std::string>& keys) -> asio::awaitable<std::vector<std::uint64_t>> {
        ++calls;
        co_await asio::post(io, asio::use_awaitable);
        if (calls == 1) throw std::runtime_error("connection reset");
        if (calls == 2) co_return std::vector<std::uint64_t>{};  // an answer that lacks keys
        co_return std::vector<std::uint64_t>(keys.size(), 7);
    };
    Lookups lookups(load, 0);
    std::vector<std::uint64_t> answers;
    auto ask = [&]() -> asio::awaitable<void> { answers.push_back(co_await lookups.lookup("k")); };
    for (int i = 0; i < 3; ++i) asio::co_spawn(io, ask, asio::detached);  // round 1 (throws), round 2 (short)
    io.run();
    io.restart();
    asio::co_spawn(io, ask, asio::detached);  // round 3: nothing out, sent at once
    io.run();
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(answers, (std::vector<std::uint64_t>{0, 0, 0, 7}));
}

TEST(BatchedLookups, ManyThreadsNeverLoseALookupNorReadStale) {
    asio::io_context io;
    RaisingStore store;
    Lookups lookups(store.loader(io, 2), 0);
    std::atomic<int> answered{0};
    std::atomic<int> stale{0};
    constexpr int kLookups = 4000;
    for (int r = 0; r < kLookups; ++r) {
        asio::co_spawn(
            io,
            [&, r]() -> asio::awaitable<void> {
                std::string key = "ryw:t" + std::to_string(r % 7);
                for (int i = 0; i < r % 13; ++i) co_await asio::post(io, asio::use_awaitable);
                if (r % 3 == 0) store.raise(key);
                std::uint64_t at_ask = store.get(key);
                if (co_await lookups.lookup(key) < at_ask) ++stale;
                ++answered;
            },
            asio::detached);
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] { io.run(); });
    for (auto& t : threads) t.join();
    EXPECT_EQ(answered.load(), kLookups);
    EXPECT_EQ(stale.load(), 0);
    EXPECT_LT(lookups.stats().rounds, static_cast<unsigned long long>(kLookups));
}

}  // namespace
}  // namespace yw
