// Rate-limit administration against a scripted Redis (fake_redis.hpp): the analytics (RB-16) ask Redis for
// the most-blocked keys before the database, so what they make of Redis's answers is tested here without a
// server. The database here is a closed port: reaching it shows the analytics went on past Redis. Status,
// reset and the key changes read the key from the database first: tests/integration/ratelimit_test.cpp.
#include "messaging/ratelimit_admin.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>

#include "fake_redis.hpp"

namespace yw::messaging {
namespace {

namespace asio = boost::asio;
using testing::FakeRedis;
namespace reply = testing::reply;

struct RateLimitAdminTest : ::testing::Test {
    asio::io_context io;
    FakeRedis fake;
    pg::Cluster db{
        pg::ClusterOptions{.primary = {.name = "primary", .conninfo = "postgresql://app_user@127.0.0.1:1/x"}},
        nullptr};
    RateLimitAdmin admin{db, fake};

    ~RateLimitAdminTest() override { db.close(); }
    Result<Json> analytics() { return testing::run(io, admin.analytics()); }
    unsigned long long database_attempts() const { return db.pool_stats().at(0).stats.connect_failures; }
};

TEST_F(RateLimitAdminTest, AnErrorReplyFromRedisIsAnErrorNamingIt) {
    fake.on("ZUNION", reply::error("WRONGTYPE Operation against a key holding the wrong kind of value"));
    auto r = analytics();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
    EXPECT_NE(r.error().message.find("WRONGTYPE"), std::string::npos);
    EXPECT_EQ(fake.count("ZUNION"), 1u);
    EXPECT_EQ(database_attempts(), 0u);  // an unexpected answer stops there
}

TEST_F(RateLimitAdminTest, ASlowOrMissingRedisLeavesOutTheMostBlockedKeysOnly) {
    fake.on("ZUNION", make_error(ErrorCode::kTimeout, "redis: deadline passed"));
    auto r = analytics();
    EXPECT_EQ(fake.count("ZUNION"), 1u);
    EXPECT_EQ(database_attempts(), 1u);  // went on to the database's part of the analytics
    ASSERT_FALSE(r.ok());                // which, here, is not there
    EXPECT_NE(r.error().message.find("primary"), std::string::npos);

    fake.set_down(true);
    r = analytics();
    EXPECT_EQ(fake.count("ZUNION"), 2u);
    EXPECT_EQ(database_attempts(), 2u);
}

TEST_F(RateLimitAdminTest, TheMostBlockedQueryCoversThisHourAndTheLast) {
    fake.on("ZUNION", reply::array({}));
    (void)analytics();
    ASSERT_EQ(fake.calls().size(), 1u);
    const auto& args = fake.calls()[0].args;
    ASSERT_EQ(args.size(), 5u);
    EXPECT_EQ(args[1], "2");
    EXPECT_EQ(args[2].substr(0, 10), "rl:blocks:");
    EXPECT_EQ(std::stoll(args[2].substr(10)) - 1, std::stoll(args[3].substr(10)));
    EXPECT_EQ(args[4], "WITHSCORES");
}

}  // namespace
}  // namespace yw::messaging
