// The limiter against a scripted Redis (fake_redis.hpp): the fallback while Redis is down or slow, remembered
// denials (no round trip until the key's retry time or a reset), and leases (one script call for many
// requests, unused room given back). The script's arithmetic itself is policy.cpp's, tested in
// ratelimit_test.cpp; the script on a real Redis is tested in tests/integration/ratelimit_test.cpp.
#include "ratelimit/limiter.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "fake_redis.hpp"

namespace yw::ratelimit {

// gtest prints a Source by name (found by argument-dependent lookup, hence outside the unnamed namespace).
[[maybe_unused]] static void PrintTo(Source source, std::ostream* out) {
    static constexpr const char* kNames[] = {"kDisabled",   "kWhitelist", "kRedis",    "kLease",
                                             "kRemembered", "kLocal",     "kFailOpen", "kFailClosed"};
    *out << kNames[static_cast<int>(source)];
}

namespace {

using namespace std::chrono_literals;
using testing::FakeRedis;
namespace reply = testing::reply;

// The script's answer: {allowed, remaining, retry_after µs, reset_after µs, epoch, granted}.
redis::Reply script_reply(bool allowed, std::int64_t remaining, std::int64_t retry_after_us,
                          std::int64_t reset_after_us, std::int64_t epoch, std::int64_t granted) {
    return reply::array({reply::integer(allowed ? 1 : 0), reply::integer(remaining),
                         reply::integer(retry_after_us), reply::integer(reset_after_us),
                         reply::integer(epoch), reply::integer(granted)});
}

// ARGV of the script: interval, tolerance, key id, want, giveback, lease share.
std::int64_t want_of(const FakeRedis::Call& call) { return std::atoll(call.argv.at(3).c_str()); }
std::int64_t giveback_of(const FakeRedis::Call& call) { return std::atoll(call.argv.at(4).c_str()); }

// Admits whatever is asked for: a key far from its limit.
void grant_everything(FakeRedis& fake) {
    fake.on_script(limiter_script(), [](const FakeRedis::Call& call) -> Result<redis::Reply> {
        return script_reply(true, 5000, 0, 1000, 0, want_of(call));
    });
}

// Refuses with the given retry time.
void refuse(FakeRedis& fake, std::chrono::microseconds retry_after) {
    fake.on_script(limiter_script(), script_reply(false, 0, retry_after.count(), retry_after.count(), 0, 0));
}

struct LimiterTest : ::testing::Test {
    boost::asio::io_context io;
    FakeRedis fake;
    Subject subject{"key-1", "standard", std::nullopt, nullptr};

    Decision check(Limiter& limiter) { return testing::run(io, limiter.check(subject, "192.0.2.1")); }
};

TEST_F(LimiterTest, RedisDownLimitsEachInstanceToItsShare) {
    fake.set_down(true);
    LimiterOptions options;
    options.instances = 2;  // standard: 100/min, burst 20 → 50/min, burst 10 here
    Limiter limiter(&fake, options);
    int allowed = 0;
    for (int i = 0; i < 15; ++i) {
        Decision d = check(limiter);
        EXPECT_EQ(d.source, Source::kLocal);
        EXPECT_EQ(d.policy.limit, 100);  // the headers show the key's global policy
        if (d.allowed) ++allowed;
    }
    EXPECT_EQ(allowed, 11);  // a fresh key's burst + 1 of the local share, not of the global policy
    EXPECT_TRUE(fake.calls().empty());  // down: no call is even tried
    auto s = limiter.stats();
    EXPECT_EQ(s.local_allowed, 11u);
    EXPECT_EQ(s.local_denied, 4u);
}

TEST_F(LimiterTest, AScriptTimeoutOrErrorReplyFallsBackAndIsCounted) {
    fake.on_script(limiter_script(), make_error(ErrorCode::kTimeout, "redis: deadline passed"));
    LimiterOptions options;
    options.max_lease = 1;
    Limiter limiter(&fake, options);
    Decision d = check(limiter);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.source, Source::kLocal);
    EXPECT_EQ(fake.evals(limiter_script()).size(), 1u);

    fake.on_script(limiter_script(), reply::error("ERR Error running script"));
    d = check(limiter);
    EXPECT_EQ(d.source, Source::kLocal);
    EXPECT_EQ(fake.evals(limiter_script()).size(), 2u);
    EXPECT_EQ(limiter.stats().redis_errors, 2u);
}

TEST_F(LimiterTest, OpenAndClosedFallbacksAdmitOrRefuseEverything) {
    fake.set_down(true);
    LimiterOptions options;
    options.fallback = Fallback::kOpen;
    Limiter open(&fake, options);
    for (int i = 0; i < 30; ++i) {
        Decision d = check(open);
        EXPECT_TRUE(d.allowed);
        EXPECT_EQ(d.source, Source::kFailOpen);
    }
    EXPECT_EQ(open.stats().fail_open, 30u);

    options.fallback = Fallback::kClosed;
    Limiter closed(&fake, options);
    Decision d = check(closed);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.source, Source::kFailClosed);
    EXPECT_EQ(d.retry_after_ms, 1000);
    EXPECT_EQ(closed.stats().fail_closed, 1u);
}

TEST_F(LimiterTest, ADeniedKeyIsDeniedLocallyUntilItsRetryTime) {
    refuse(fake, 40ms);
    Limiter limiter(&fake, LimiterOptions{});
    Decision first = check(limiter);
    EXPECT_FALSE(first.allowed);
    EXPECT_EQ(first.source, Source::kRedis);
    EXPECT_EQ(first.retry_after_ms, 40);
    for (int i = 0; i < 5; ++i) {
        Decision d = check(limiter);
        EXPECT_FALSE(d.allowed);
        EXPECT_EQ(d.source, Source::kRemembered);
        EXPECT_GE(d.retry_after_ms, 1);
        EXPECT_LE(d.retry_after_ms, 40);
    }
    EXPECT_EQ(fake.evals(limiter_script()).size(), 1u);  // one round trip for six refusals
    EXPECT_EQ(limiter.stats().remembered_denied, 5u);

    std::this_thread::sleep_for(50ms);  // past the retry time: Redis decides again
    grant_everything(fake);
    Decision later = check(limiter);
    EXPECT_TRUE(later.allowed);
    EXPECT_EQ(later.source, Source::kRedis);
    EXPECT_EQ(fake.evals(limiter_script()).size(), 2u);
}

TEST_F(LimiterTest, ForgetOrATierChangeEndsTheMemoryOfADenial) {
    refuse(fake, 60s);
    Limiter limiter(&fake, LimiterOptions{});
    EXPECT_EQ(check(limiter).source, Source::kRedis);
    EXPECT_EQ(check(limiter).source, Source::kRemembered);

    limiter.forget("key-1");  // this instance reset or changed the key
    EXPECT_EQ(check(limiter).source, Source::kRedis);
    EXPECT_EQ(fake.evals(limiter_script()).size(), 2u);

    subject.tier = "enterprise";  // another policy: what was remembered does not apply
    EXPECT_EQ(check(limiter).source, Source::kRedis);
    EXPECT_EQ(fake.evals(limiter_script()).size(), 3u);
}

TEST_F(LimiterTest, AResetElsewhereEndsTheMemoryWithTheNextEpochPoll) {
    refuse(fake, 60s);
    fake.on("GET", reply::text("0"));
    fake.on("EVAL", reply::integer(0));
    fake.on("ZINCRBY", reply::text("2"));
    fake.on("EXPIRE", reply::integer(1));
    LimiterOptions options;
    options.epoch_poll = 5ms;
    Limiter limiter(&fake, options);
    int epoch_changes = 0;
    limiter.on_epoch_change([&] { ++epoch_changes; });
    EXPECT_EQ(check(limiter).source, Source::kRedis);
    EXPECT_EQ(check(limiter).source, Source::kRemembered);
    EXPECT_EQ(check(limiter).source, Source::kRemembered);

    // The poll reports the two local refusals, which never reached the script, to the key's counters.
    limiter.start(io.get_executor());
    io.restart();
    for (int i = 0; i < 400 && fake.count("ZINCRBY") == 0; ++i) io.run_for(5ms);
    std::vector<FakeRedis::Call> reports;
    for (const auto& call : fake.calls())
        if (call.kind == FakeRedis::Call::Kind::kPipeline) reports.push_back(call);
    ASSERT_EQ(reports.size(), 1u);
    const auto& cmds = reports[0].commands;
    ASSERT_EQ(cmds.size(), 3u);
    EXPECT_EQ(cmds[0].at(3), state_key("key-1"));
    EXPECT_EQ(cmds[0].at(4), "2");  // HINCRBY blocks 2, where the key still exists
    EXPECT_EQ(cmds[1], (redis::Command{"ZINCRBY", cmds[1].at(1), "2", "key-1"}));
    EXPECT_EQ(epoch_changes, 0);  // rl:epoch has not moved

    // Another instance (or ywctl) reset a key: rl:epoch moved, and the next poll sees it.
    fake.on("GET", reply::text("1"));
    for (int i = 0; i < 400 && epoch_changes == 0; ++i) io.run_for(5ms);
    limiter.stop();
    io.run();
    EXPECT_EQ(epoch_changes, 1);
    EXPECT_EQ(limiter.stats().epoch_changes, 1u);

    grant_everything(fake);
    EXPECT_EQ(check(limiter).source, Source::kRedis);  // asked again: the denial is forgotten
}

TEST_F(LimiterTest, LeasesServeABusyKeyWithFewScriptCallsAndNeverMoreThanGranted) {
    grant_everything(fake);
    Limiter limiter(&fake, LimiterOptions{});  // leases up to 128
    const int requests = 60;
    int from_redis = 0, from_lease = 0;
    for (int i = 0; i < requests; ++i) {
        Decision d = check(limiter);
        EXPECT_TRUE(d.allowed);
        from_redis += d.source == Source::kRedis;
        from_lease += d.source == Source::kLease;
    }

    auto evals = fake.evals(limiter_script());
    std::int64_t granted = 0;
    std::vector<std::int64_t> wants;
    for (const auto& call : evals) {
        wants.push_back(want_of(call));
        granted += want_of(call);  // grant_everything grants what is asked for
    }
    // One request at a time to start with, then doubling while the leases are used up in time.
    ASSERT_GE(wants.size(), 4u);
    EXPECT_EQ((std::vector<std::int64_t>{wants[0], wants[1], wants[2], wants[3]}),
              (std::vector<std::int64_t>{1, 2, 4, 8}));
    EXPECT_LE(evals.size(), 10u);  // 7 when every lease is used up in time; 60 without leases
    EXPECT_GE(granted, requests);  // what was admitted was granted by the script
    EXPECT_EQ(from_redis + from_lease, requests);
    EXPECT_GT(from_lease, 5 * from_redis);
    EXPECT_EQ(limiter.stats().lease_allowed, static_cast<std::uint64_t>(from_lease));
}

TEST_F(LimiterTest, ALeaseRunsOutWhenItsGrantIsSpent) {
    // The script grants one request whatever is asked: no lease can admit anything beyond it.
    fake.on_script(limiter_script(), script_reply(true, 5000, 0, 1000, 0, 1));
    Limiter limiter(&fake, LimiterOptions{});
    for (int i = 0; i < 10; ++i) EXPECT_EQ(check(limiter).source, Source::kRedis);
    EXPECT_EQ(fake.evals(limiter_script()).size(), 10u);
    EXPECT_EQ(limiter.stats().lease_allowed, 0u);
}

TEST_F(LimiterTest, AnExpiredLeaseGivesItsUnusedRoomBack) {
    grant_everything(fake);
    LimiterOptions options;
    options.lease_ttl = 20ms;
    Limiter limiter(&fake, options);
    // want 1 (granted 1), want 2 (granted 2: one left), then served from the lease, which asks for 4 more.
    EXPECT_EQ(check(limiter).source, Source::kRedis);
    EXPECT_EQ(check(limiter).source, Source::kRedis);
    EXPECT_EQ(check(limiter).source, Source::kLease);
    ASSERT_EQ(fake.evals(limiter_script()).size(), 3u);
    EXPECT_EQ(want_of(fake.evals(limiter_script())[2]), 4);

    std::this_thread::sleep_for(30ms);  // the lease expires with its 4 requests unused
    EXPECT_EQ(check(limiter).source, Source::kRedis);
    auto evals = fake.evals(limiter_script());
    ASSERT_EQ(evals.size(), 4u);
    EXPECT_EQ(giveback_of(evals[3]), 4);  // returned to the key's room
    EXPECT_EQ(want_of(evals[3]), 2);      // and the next lease is smaller
}

}  // namespace
}  // namespace yw::ratelimit
