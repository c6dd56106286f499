// UUIDv7: version and variant bits, time order, round trip through text.
#include "common/uuid7.hpp"

#include <gtest/gtest.h>

namespace yw {
namespace {

TEST(Uuid7, VersionAndVariant) {
    Uuid id = uuid7();
    EXPECT_EQ(id[6] >> 4, 7);
    EXPECT_EQ(id[8] >> 6, 2);
}

TEST(Uuid7, SortsInCreationOrderEvenWithinOneMillisecond) {
    std::string previous;
    for (int i = 0; i < 10000; ++i) {
        std::string s = to_string(uuid7());
        EXPECT_LT(previous, s);
        previous = s;
    }
}

TEST(Uuid7, EmbedsTheTimestamp) {
    auto when = std::chrono::system_clock::time_point(std::chrono::milliseconds(0x0123456789ab));
    std::string s = to_string(uuid7_at(when));
    EXPECT_EQ(s.substr(0, 13), "01234567-89ab");
}

TEST(Uuid7, TextRoundTrip) {
    Uuid id = uuid7();
    Uuid parsed{};
    ASSERT_TRUE(parse_uuid(to_string(id), parsed));
    EXPECT_EQ(id, parsed);
    ASSERT_TRUE(parse_uuid("0192F3A4-5B6C-7D8E-9FA0-B1C2D3E4F5A6", parsed));
    for (const char* bad : {"", "not-a-uuid", "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a",
                            "0192f3a45b6c-7d8e-9fa0-b1c2d3e4f5a6x", "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5ag"}) {
        EXPECT_FALSE(parse_uuid(bad, parsed)) << bad;
    }
}

}  // namespace
}  // namespace yw
