// PageFloors: a hint per conversation and page size, bounded, forgotten on demand, shared through Redis.
#include "messaging/page_floors.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <string>

#include "fake_redis.hpp"

namespace yw::messaging {
namespace {

TEST(PageFloors, RemembersAFloorPerConversationAndPageSize) {
    PageFloors floors;
    const std::string a = "0192a9f0-0000-7000-8000-000000000001";
    const std::string b = "0192a9f0-0000-7000-8000-000000000002";
    EXPECT_FALSE(floors.find(a, 50));
    floors.remember(a, 50, 1'700'000'000'000'000);
    EXPECT_EQ(floors.find(a, 50), 1'700'000'000'000'000);
    EXPECT_FALSE(floors.find(a, 20)) << "a floor holds for the page size that was read";
    EXPECT_FALSE(floors.find(b, 50));
    floors.remember(a, 50, 1'700'000'000'000'123);  // a later full page moves it
    EXPECT_EQ(floors.find(a, 50), 1'700'000'000'000'123);
    floors.forget(a, 20);  // another size: nothing to forget
    EXPECT_TRUE(floors.find(a, 50));
    floors.forget(a, 50);
    EXPECT_FALSE(floors.find(a, 50));
}

TEST(PageFloors, StaysBoundedAndNeverAnswersForAnotherConversation) {
    PageFloors floors;
    const int n = static_cast<int>(PageFloors::kSlots) * 4;
    for (int i = 0; i < n; ++i) floors.remember("conversation-" + std::to_string(i), 50, i);
    int found = 0;
    for (int i = 0; i < n; ++i) {
        auto floor = floors.find("conversation-" + std::to_string(i), 50);
        if (!floor) continue;
        ++found;
        EXPECT_EQ(*floor, i) << "a slot answered for another conversation";
    }
    EXPECT_LE(found, static_cast<int>(PageFloors::kSlots));
    EXPECT_GT(found, static_cast<int>(PageFloors::kSlots) / 2);  // the newest entries mostly survive
}

// A Redis that keeps strings (GET, SET … PX, DEL), enough for the shared floors.
struct StringStore {
    std::map<std::string, std::string> values;
    void serve(testing::FakeRedis& redis) {
        redis.on("GET", [this](const testing::FakeRedis::Call& c) -> Result<redis::Reply> {
            auto it = values.find(c.args.at(1));
            return it == values.end() ? testing::reply::nil() : testing::reply::text(it->second);
        });
        redis.on("SET", [this](const testing::FakeRedis::Call& c) -> Result<redis::Reply> {
            values[c.args.at(1)] = c.args.at(2);
            return testing::reply::status("OK");
        });
        redis.on("DEL", [this](const testing::FakeRedis::Call& c) -> Result<redis::Reply> {
            return testing::reply::integer(static_cast<std::int64_t>(values.erase(c.args.at(1))));
        });
    }
};

template <typename F>
void run(F body) {
    boost::asio::io_context io;
    boost::asio::co_spawn(io, body(), boost::asio::detached);
    io.run();
}

TEST(PageFloors, AFloorOneProcessLearnedServesAnotherThroughRedis) {
    testing::FakeRedis redis;
    StringStore store;
    store.serve(redis);
    PageFloors first, second;  // two instances (or one before and after a restart)
    first.share(&redis);
    second.share(&redis);
    const std::string tenant = "0192a9f0-0000-7000-8000-00000000000a";
    const std::string conv = "0192a9f0-0000-7000-8000-000000000001";
    const std::string key = PageFloors::shared_key(tenant, conv, 50);
    EXPECT_EQ(key, "floors:" + tenant + ":" + conv + ":50");
    run([&]() -> boost::asio::awaitable<void> {
        EXPECT_FALSE(co_await second.lookup(tenant, conv, 50));
        co_await first.keep(tenant, conv, 50, 1'700'000'000'000'000, std::nullopt);
        EXPECT_EQ(store.values[key], "1700000000000000");
        EXPECT_EQ(co_await second.lookup(tenant, conv, 50), 1'700'000'000'000'000);
        EXPECT_EQ(second.find(conv, 50), 1'700'000'000'000'000) << "remembered locally: no GET next time";
        PageFloors third;
        third.share(&redis);
        EXPECT_FALSE(co_await third.lookup("0192a9f0-0000-7000-8000-00000000000b", conv, 50))
            << "another tenant's key in Redis (the SQL scopes every row to the tenant anyway)";
        EXPECT_FALSE(co_await third.lookup(tenant, conv, 20)) << "another page size";
        co_await second.drop(tenant, conv, 50);  // its window came back short
        EXPECT_FALSE(store.values.contains(key));
        EXPECT_FALSE(second.find(conv, 50));
    });
}

TEST(PageFloors, AnUnchangedFloorIsNotWrittenAgainAndRedisTroubleIsNoFloor) {
    testing::FakeRedis redis;
    StringStore store;
    store.serve(redis);
    PageFloors floors;
    floors.share(&redis);
    const std::string tenant = "t", conv = "0192a9f0-0000-7000-8000-000000000001";
    auto sets = [&] {
        size_t n = 0;
        for (const auto& c : redis.calls())
            n += c.kind == testing::FakeRedis::Call::Kind::kCommand && c.args[0] == "SET";
        return n;
    };
    run([&]() -> boost::asio::awaitable<void> {
        co_await floors.keep(tenant, conv, 50, 100, std::nullopt);
        co_await floors.keep(tenant, conv, 50, 100, 100);  // read from that floor, came back full: same floor
        EXPECT_EQ(sets(), 1u);
        co_await floors.keep(tenant, conv, 50, 200, 100);  // new messages moved it
        EXPECT_EQ(sets(), 2u);
        EXPECT_EQ(store.values[PageFloors::shared_key(tenant, conv, 50)], "200");

        PageFloors other;
        other.share(&redis);
        store.values[PageFloors::shared_key(tenant, conv, 20)] = "not a number";
        EXPECT_FALSE(co_await other.lookup(tenant, conv, 20)) << "garbage is no floor";
        store.values[PageFloors::shared_key(tenant, conv, 20)] = "-5";
        EXPECT_FALSE(co_await other.lookup(tenant, conv, 20)) << "nor is a negative one";
        redis.set_down(true);
        EXPECT_FALSE(co_await other.lookup(tenant, conv, 50)) << "Redis down: no floor, no error";
        co_await other.keep(tenant, conv, 50, 300, std::nullopt);  // remembered here, not shared
        EXPECT_EQ(other.find(conv, 50), 300);
    });
}

}  // namespace
}  // namespace yw::messaging
