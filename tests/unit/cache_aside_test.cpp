// The cache against a scripted Redis (fake_redis.hpp): a miss loads once and fills with the stamp it saw, a
// hit does not load, concurrent misses share one load and one fill, and Redis failing (down, slow, refusing
// the fill) never reaches the caller. The Lua scripts on a real Redis: tests/integration/cache_test.cpp.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache.hpp"
#include "fake_redis.hpp"

namespace yw::cache {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::FakeRedis;
namespace reply = testing::reply;

const std::string kUser = "{\"id\":\"u1\",\"name\":\"Ada\"}";

// Every script call (the cache's scripts are its own: told apart here by their keys and arguments).
std::vector<FakeRedis::Call> scripts(const FakeRedis& fake) {
    std::vector<FakeRedis::Call> out;
    for (const auto& call : fake.calls())
        if (call.kind == FakeRedis::Call::Kind::kEval) out.push_back(call);
    return out;
}

void expect_user(const Result<Fetched>& r, Outcome outcome) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->json, kUser);
    EXPECT_EQ(r->outcome, outcome);
}

struct CacheTest : ::testing::Test {
    asio::io_context io;
    FakeRedis fake;
    CacheOptions options;
    std::string key = user_key("t1", "u1");
    int loads = 0;
    std::vector<Cache::FillLsn> fills;   // what each load was told to read
    Result<std::string> loaded = kUser;  // what the database answers

    Cache::Loader loader() {
        return [this](Cache::FillLsn fill) -> asio::awaitable<Result<std::string>> {
            ++loads;
            fills.push_back(fill);
            co_return loaded;
        };
    }
    // The cache under test, made with `options` as the test set them, on the fake.
    Cache& cache() {
        if (!made) {
            made.emplace(options);
            made->attach(&fake);
        }
        return *made;
    }
    Result<Fetched> get() { return testing::run(io, cache().get(Namespace::kUsers, key, loader())); }
    NamespaceStats users() { return cache().stats().at(0); }

  private:
    std::optional<Cache> made;
};

TEST_F(CacheTest, AMissLoadsAndFillsWithTheStampItSawThenAHitDoesNotLoad) {
    fake.on("MGET", reply::array({reply::nil(), reply::text("1700000000000001")}));
    fake.on("EVALSHA", reply::integer(1));

    auto miss = get();
    expect_user(miss, Outcome::kMiss);
    EXPECT_EQ(loads, 1);
    ASSERT_EQ(fake.calls().size(), 2u);
    EXPECT_EQ(fake.calls()[0].args, (redis::Command{"MGET", key, stamp_key(key)}));
    auto fill = scripts(fake).at(0);
    EXPECT_EQ(fill.keys, (std::vector<std::string>{key, stamp_key(key)}));
    ASSERT_EQ(fill.argv.size(), 3u);
    EXPECT_EQ(fill.argv[0], "1700000000000001");  // stored only if no write moved the stamp meanwhile
    EXPECT_EQ(fill.argv[1], kUser);
    int ttl = std::stoi(fill.argv[2]);  // 300 s ± 10 %
    EXPECT_GE(ttl, 270);
    EXPECT_LE(ttl, 330);

    fake.on("MGET", reply::array({reply::text(kUser), reply::nil()}));
    auto hit = get();
    expect_user(hit, Outcome::kHit);
    EXPECT_EQ(loads, 1);
    EXPECT_EQ(scripts(fake).size(), 1u);
    auto s = users();
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.loads, 1u);
    EXPECT_EQ(s.errors, 0u);
}

TEST_F(CacheTest, AFillReadsAtLeastTheWritePositionOfTheKeysStamp) {
    fake.on("EVALSHA", reply::integer(1));
    fake.on("MGET", reply::array({reply::nil(), reply::text("1700000000000001 000000000A1B2C3D")}));
    expect_user(get(), Outcome::kMiss);
    fake.on("MGET", reply::array({reply::nil(), reply::nil()}));  // no write within the stamp's TTL
    expect_user(get(), Outcome::kMiss);
    fake.on("MGET",
            reply::array({reply::nil(), reply::text("1700000000000001")}));  // an older version's stamp
    expect_user(get(), Outcome::kMiss);
    fake.on("MGET", reply::array({reply::nil(), reply::text("1700000000000001 zz")}));  // garbled
    expect_user(get(), Outcome::kMiss);
    fake.set_down(true);  // not going to be stored: a plain read
    expect_user(get(), Outcome::kBypass);
    ASSERT_EQ(fills.size(), 5u);
    EXPECT_EQ(fills[0], Cache::FillLsn(0xA1B2C3DULL));
    EXPECT_EQ(fills[1], Cache::FillLsn(0));
    EXPECT_EQ(fills[2], Cache::FillLsn(Cache::kUnknownLsn));
    EXPECT_EQ(fills[3], Cache::FillLsn(Cache::kUnknownLsn));
    EXPECT_EQ(fills[4], std::nullopt);
}

TEST_F(CacheTest, NotFoundIsCachedForTheNegativeTtlAndAnsweredFromRedis) {
    fake.on("MGET", reply::array({reply::nil(), reply::nil()}));
    fake.on("EVALSHA", reply::integer(1));
    loaded = make_error(ErrorCode::kNotFound, "no such user");

    auto first = get();
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.error().code, ErrorCode::kNotFound);
    auto fill = scripts(fake).at(0);
    EXPECT_EQ(fill.argv.at(1), not_found_entry("no such user"));
    EXPECT_EQ(fill.argv.at(2), "5");

    fake.on("MGET", reply::array({reply::text(fill.argv[1]), reply::nil()}));
    auto second = get();
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(second.error().message, "no such user");
    EXPECT_EQ(loads, 1);
}

TEST_F(CacheTest, ConcurrentMissesOfOneKeyShareOneLoadAndOneFill) {
    fake.on("MGET", reply::array({reply::nil(), reply::nil()}));
    fake.on("EVALSHA", reply::integer(1));
    fake.hold("MGET");  // the first lookup waits: every other caller arrives meanwhile
    options.timeout = 10s;

    const int callers = 20;
    std::vector<Result<Fetched>> answers;
    for (int i = 0; i < callers; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                Cache::Loader load = loader();  // named: GCC 12 and temporaries across a suspension
                auto answer = co_await cache().get(Namespace::kUsers, key, load);
                answers.push_back(std::move(answer));
            },
            asio::detached);
    }
    io.poll();  // every caller has started and is waiting
    EXPECT_EQ(fake.waiting(), 1u);
    EXPECT_TRUE(answers.empty());
    fake.release();
    io.run();

    ASSERT_EQ(answers.size(), static_cast<size_t>(callers));
    for (const auto& a : answers) expect_user(a, Outcome::kMiss);
    EXPECT_EQ(loads, 1);
    EXPECT_EQ(fake.count("MGET"), 1u);
    EXPECT_EQ(scripts(fake).size(), 1u);
    EXPECT_EQ(users().loads, 1u);
}

TEST_F(CacheTest, ASlowRedisFallsThroughToTheDatabaseWithoutAnError) {
    fake.on("MGET", reply::array({reply::nil(), reply::nil()}));
    fake.hold("MGET");  // never released: the cache's own deadline ends the wait
    options.timeout = 20ms;

    expect_user(get(), Outcome::kBypass);
    EXPECT_EQ(loads, 1);
    EXPECT_TRUE(scripts(fake).empty());  // Redis is failing: no fill is tried after the load
    EXPECT_EQ(users().errors, 1u);
}

TEST_F(CacheTest, RedisDownIsABypassAndAFailedFillStillAnswers) {
    fake.set_down(true);
    EXPECT_TRUE(cache().enabled());
    EXPECT_FALSE(cache().connected());
    expect_user(get(), Outcome::kBypass);
    EXPECT_EQ(users().errors, 1u);

    fake.set_down(false);
    fake.on("MGET", reply::array({reply::nil(), reply::nil()}));
    fake.on("EVALSHA", make_error(ErrorCode::kTimeout, "redis: deadline passed"));
    expect_user(get(), Outcome::kMiss);  // the fill failed: answered all the same
    EXPECT_EQ(users().errors, 2u);
    EXPECT_EQ(loads, 2);
}

TEST_F(CacheTest, ADatabaseErrorIsPassedOnAndNotCached) {
    fake.on("MGET", reply::array({reply::nil(), reply::nil()}));
    loaded = make_error(ErrorCode::kUnavailable, "database unavailable");
    auto r = get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_TRUE(scripts(fake).empty());
}

TEST_F(CacheTest, AWriteDuringTheLoadKeepsWhatItReadOutOfRedis) {
    fake.on("MGET", reply::array({reply::nil(), reply::nil()}));
    fake.on("EVALSHA", reply::integer(1));
    Cache::Loader load = [&](Cache::FillLsn) -> asio::awaitable<Result<std::string>> {
        ++loads;
        std::vector<std::string> written{key};
        co_await cache().invalidate(std::move(written),
                                    0x10);  // a write of the key lands while the load runs
        co_return kUser;
    };
    expect_user(testing::run(io, cache().get(Namespace::kUsers, key, load)),
                Outcome::kMiss);  // true when read
    auto evals = scripts(fake);
    ASSERT_EQ(evals.size(), 1u);  // the invalidation only: no fill
    EXPECT_EQ(evals[0].keys, (std::vector<std::string>{key, stamp_key(key)}));
    // The stamp's TTL and the write's WAL position, 16 hex digits (they compare as strings in the script).
    EXPECT_EQ(evals[0].argv, (std::vector<std::string>{"60", "0000000000000010"}));
    EXPECT_EQ(users().stale, 1u);
}

}  // namespace
}  // namespace yw::cache
