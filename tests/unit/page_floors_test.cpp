// PageFloors: a hint per conversation and page size, bounded, forgotten on demand.
#include "messaging/page_floors.hpp"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace yw::messaging
