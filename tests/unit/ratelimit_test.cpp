// The rate-limit math: tiers, GCRA (burst, refill, retry-after, window edges), the sliding usage estimate,
// the whitelist match and the HTTP fields of a decision.
#include <gtest/gtest.h>

#include "ratelimit/headers.hpp"
#include "ratelimit/policy.hpp"

namespace yw::ratelimit {
namespace {

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kT0 = 1'732'519'800 * kSecond;  // any wall-clock instant

Policy tier(const char* name, std::optional<int> burst = std::nullopt) { return *policy_for(name, burst); }

// Requests arriving every `step_us` from `start` for `duration_us`: how many are admitted.
int admitted(const Policy& p, std::int64_t& tat, std::int64_t start, std::int64_t duration_us,
             std::int64_t step_us) {
    int n = 0;
    for (std::int64_t t = start; t < start + duration_us; t += step_us) {
        Verdict v = gcra(p, tat, t);
        if (v.allowed) ++n;
        tat = v.tat_us;
    }
    return n;
}

TEST(RateLimitPolicy, TiersAndBurstOverride) {
    EXPECT_EQ(tier("free").limit, 10);
    EXPECT_EQ(tier("free").burst, 2);
    EXPECT_EQ(tier("standard").limit, 100);
    EXPECT_EQ(tier("standard").burst, 20);
    EXPECT_EQ(tier("professional").limit, 1000);
    EXPECT_EQ(tier("professional").burst, 100);
    EXPECT_EQ(tier("enterprise").limit, 10000);
    EXPECT_EQ(tier("enterprise").burst, 1000);
    EXPECT_EQ(tier("standard", 50).burst, 50);  // RB-16 4b
    EXPECT_EQ(tier("standard", 0).burst, 0);
    EXPECT_FALSE(policy_for("gold").ok());
    EXPECT_EQ(tier("enterprise").interval_us(), 6000);  // 60 s / 10000, exact for every tier
}

TEST(RateLimitGcra, AFreshKeyTakesItsBurstPlusOneAtOnce) {
    Policy p = tier("standard");  // 100/min, burst 20
    std::int64_t tat = 0;
    int n = 0;
    for (int i = 0; i < 50; ++i) {
        Verdict v = gcra(p, tat, kT0);
        tat = v.tat_us;
        if (v.allowed) {
            ++n;
            EXPECT_EQ(v.remaining, 20 - i);  // counts down to 0 on the 21st
        }
    }
    EXPECT_EQ(n, 21);
}

TEST(RateLimitGcra, OneWindowAdmitsExactlyLimitPlusBurst) {
    for (const char* name : {"free", "standard", "professional", "enterprise"}) {
        Policy p = tier(name);
        std::int64_t tat = 0;
        // Hammering far faster than the limit for exactly one minute.
        EXPECT_EQ(admitted(p, tat, kT0, 60 * kSecond, p.interval_us() / 4), p.limit + p.burst) << name;
    }
}

TEST(RateLimitGcra, NoDoubleLimitAtWindowEdges) {
    // A fixed window would admit `limit` just before its edge and `limit` again just after. GCRA: any window
    // of one minute, wherever it starts, holds at most limit + burst.
    Policy p = tier("standard");
    std::int64_t tat = 0;
    int first = admitted(p, tat, kT0, 59 * kSecond, kSecond / 10);
    int across = admitted(p, tat, kT0 + 59 * kSecond, 2 * kSecond, kSecond / 100);
    std::int64_t tat2 = 0;
    int window = admitted(p, tat2, kT0, 60 * kSecond, kSecond / 100);
    EXPECT_LE(window, p.limit + p.burst);
    EXPECT_LE(first + across, p.limit + p.burst + 2);  // 61 s: at most two more intervals' worth
}

TEST(RateLimitGcra, RetryAfterIsExactlyWhenTheNextRequestPasses) {
    Policy p = tier("free");  // one request per 6 s, burst 2
    std::int64_t tat = 0;
    for (int i = 0; i < 3; ++i) tat = gcra(p, tat, kT0).tat_us;
    Verdict denied = gcra(p, tat, kT0 + kSecond);
    ASSERT_FALSE(denied.allowed);
    EXPECT_EQ(denied.tat_us, tat);  // a denial costs nothing
    EXPECT_EQ(denied.retry_after_us, 5 * kSecond);
    EXPECT_EQ(denied.reset_after_us, 17 * kSecond);
    EXPECT_FALSE(gcra(p, tat, kT0 + kSecond + denied.retry_after_us - 1).allowed);
    Verdict ok = gcra(p, tat, kT0 + kSecond + denied.retry_after_us);
    EXPECT_TRUE(ok.allowed);
    EXPECT_EQ(ok.remaining, 0);
}

TEST(RateLimitGcra, RefillsOneIntervalAtATimeAndCapsAtTheBurst) {
    Policy p = tier("free");
    std::int64_t tat = 0;
    for (int i = 0; i < 3; ++i) tat = gcra(p, tat, kT0).tat_us;
    EXPECT_EQ(gcra_remaining(p, tat, kT0), 0);
    EXPECT_EQ(gcra_remaining(p, tat, kT0 + 6 * kSecond), 1);
    EXPECT_EQ(gcra_remaining(p, tat, kT0 + 12 * kSecond), 2);
    EXPECT_EQ(gcra_remaining(p, tat, kT0 + 18 * kSecond), 3);
    EXPECT_EQ(gcra_remaining(p, tat, kT0 + 3600 * kSecond), 3);  // idle for an hour: still burst + 1
}

TEST(RateLimitGcra, ZeroBurstSpacesRequestsEvenly) {
    Policy p = tier("free", 0);
    std::int64_t tat = 0;
    EXPECT_TRUE(gcra(p, tat, kT0).allowed);
    tat = gcra(p, tat, kT0).tat_us;
    EXPECT_FALSE(gcra(p, tat, kT0 + 6 * kSecond - 1).allowed);
    EXPECT_TRUE(gcra(p, tat, kT0 + 6 * kSecond).allowed);
}

TEST(RateLimitLease, GrantIsAtMostASixteenthOfTheRoomAndNeverZero) {
    EXPECT_EQ(lease_grant(1, 128), 1);
    EXPECT_EQ(lease_grant(31, 128), 1);  // near the limit: one request at a time
    EXPECT_EQ(lease_grant(32, 128), 2);
    EXPECT_EQ(lease_grant(1001, 128), 62);  // enterprise, full burst
    EXPECT_EQ(lease_grant(1'000'000, 128), 128);
    EXPECT_EQ(lease_grant(1'000'000, 1), 1);  // want 1: no lease
}

TEST(RateLimitLease, LeasesAdmitWhatSingleRequestsWouldAndNoMore) {
    // Draining a fresh enterprise key (1001 at once) with leases of up to 128 hands out exactly the room
    // single requests would get, and the grants shrink to 1 as the room runs out.
    Policy p = tier("enterprise");
    std::int64_t tat = 0, total = 0, last = 0;
    for (int i = 0; i < 2000; ++i) {
        Verdict v = gcra(p, tat, kT0, 128);
        if (!v.allowed) break;
        EXPECT_LE(v.granted, 128);
        EXPECT_LE(v.granted * kLeaseShare, std::max<std::int64_t>(kLeaseShare, (v.remaining + v.granted)));
        total += v.granted;
        last = v.granted;
        tat = v.tat_us;
    }
    EXPECT_EQ(total, 1001);
    EXPECT_EQ(last, 1);
    Verdict denied = gcra(p, tat, kT0, 128);
    EXPECT_FALSE(denied.allowed);
    EXPECT_EQ(denied.granted, 0);
    EXPECT_EQ(denied.retry_after_us, p.interval_us());
}

TEST(RateLimitGcra, LocalShareDividesLimitAndBurst) {
    Policy p = local_share(tier("standard"), 4);
    EXPECT_EQ(p.limit, 25);
    EXPECT_EQ(p.burst, 5);
    EXPECT_EQ(local_share(tier("free"), 100).limit, 1);  // never zero
    EXPECT_EQ(local_share(tier("free"), 1), tier("free"));
}

TEST(RateLimitUsage, SlidingCountWeightsThePreviousBucket) {
    constexpr std::int64_t kMinute = 60 * kSecond;
    std::int64_t bucket = kT0 / kMinute;
    std::int64_t start = bucket * kMinute;
    EXPECT_EQ(sliding_count(bucket, 30, 60, kMinute, start), 90);                 // all of the previous
    EXPECT_EQ(sliding_count(bucket, 30, 60, kMinute, start + 30 * kSecond), 60);  // half of it
    EXPECT_EQ(sliding_count(bucket - 1, 40, 99, kMinute, start + 45 * kSecond),
              10);                                                    // last write a bucket ago
    EXPECT_EQ(sliding_count(bucket - 2, 40, 99, kMinute, start), 0);  // older: nothing
    EXPECT_EQ(sliding_count(-1, 0, 0, kMinute, start), 0);            // never used
}

TEST(RateLimitWhitelist, AddressesAndNetworks) {
    std::vector<std::string> list{"192.168.1.1", "10.0.0.0/8", "2001:db8::/32"};
    EXPECT_TRUE(ip_whitelisted(list, "192.168.1.1"));
    EXPECT_FALSE(ip_whitelisted(list, "192.168.1.2"));
    EXPECT_TRUE(ip_whitelisted(list, "10.20.30.40"));
    EXPECT_FALSE(ip_whitelisted(list, "11.0.0.1"));
    EXPECT_TRUE(ip_whitelisted(list, "2001:db8::7"));
    EXPECT_TRUE(ip_whitelisted(list, "::ffff:10.1.2.3"));  // IPv4 seen through an IPv6 socket
    EXPECT_FALSE(ip_whitelisted(list, "not an ip"));
    EXPECT_FALSE(ip_whitelisted({}, "10.0.0.1"));
    EXPECT_FALSE(ip_whitelisted({"garbage", "10.0.0.0/99"}, "10.0.0.1"));
}

TEST(RateLimitHeaders, AdmittedAndRefused) {
    Decision d;
    d.source = Source::kRedis;
    d.policy = tier("standard");
    d.remaining = 7;
    d.reset_after_ms = 12'300;
    http::Response res{boost::beast::http::status::ok, 11};
    set_headers(res, d, 1000);
    EXPECT_EQ(res["X-RateLimit-Limit"], "100");
    EXPECT_EQ(res["X-RateLimit-Remaining"], "7");
    EXPECT_EQ(res["X-RateLimit-Reset"], "1013");
    EXPECT_EQ(res["X-RateLimit-Burst"], "20");
    EXPECT_EQ(res["RateLimit-Policy"], "\"standard\";q=100;w=60");
    EXPECT_EQ(res["RateLimit"], "\"standard\";r=7;t=13");

    d.allowed = false;
    d.remaining = 0;
    d.retry_after_ms = 1500;
    auto refused = refusal(d, 1000);
    EXPECT_EQ(refused.result_int(), 429);
    EXPECT_EQ(refused["Retry-After"], "2");
    EXPECT_NE(refused.body().find("\"error\":\"Too Many Requests\""), std::string::npos);
    EXPECT_NE(refused.body().find("\"retryAfter\":1500"), std::string::npos);
    EXPECT_EQ(refused["X-RateLimit-Remaining"], "0");

    Decision white;
    white.source = Source::kWhitelist;
    http::Response plain{boost::beast::http::status::ok, 11};
    set_headers(plain, white, 1000);
    EXPECT_EQ(plain.count("X-RateLimit-Limit"), 0u);

    Decision closed;
    closed.allowed = false;
    closed.source = Source::kFailClosed;
    closed.retry_after_ms = 1000;
    EXPECT_EQ(refusal(closed, 1000).result_int(), 503);
}

}  // namespace
}  // namespace yw::ratelimit
