// Query strings (src/http/query.*): allowed names only, each once, percent-decoded, clear errors.
#include "http/query.hpp"

#include <gtest/gtest.h>

namespace yw::http {
namespace {

const std::vector<std::string_view> kAllowed{"limit", "after", "status"};

TEST(Query, DecodesAllowedParameters) {
    auto p = query_params("limit=50&after=a%2Fb%3d&status=open", kAllowed);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->at("limit"), "50");
    EXPECT_EQ(p->at("after"), "a/b=");
    EXPECT_EQ(p->at("status"), "open");
}

TEST(Query, EmptyPairsAndValuesAreFine) {
    auto p = query_params("&&limit=&status", kAllowed);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->at("limit"), "");
    EXPECT_EQ(p->at("status"), "");
    EXPECT_TRUE(query_params("", kAllowed)->empty());
}

TEST(Query, RefusesUnknownRepeatedAndMalformed) {
    auto unknown = query_params("limit=1&sort=desc", kAllowed);
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(unknown.error().message, "unknown query parameter 'sort'");
    // A name that is not plain lowercase is not echoed back.
    EXPECT_EQ(query_params("%3Cscript%3E=1", kAllowed).error().message, "unknown query parameter");
    EXPECT_EQ(query_params("limit=1&limit=2", kAllowed).error().message, "limit given twice");
    for (const char* bad : {"limit=%", "limit=%4", "limit=%zz", "after=%g0"}) {
        auto r = query_params(bad, kAllowed);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().message, "malformed query string") << bad;
    }
}

// The input Boost.URL's parse_query misread inside the fuzz replay (src/http/query.cpp).
TEST(Query, AValueMayHoldEqualsSigns) {
    auto p = query_params("limit=fore=eyJ0Iit=fore=eyJjoxf", kAllowed);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->at("limit"), "fore=eyJ0Iit=fore=eyJjoxf");
}

TEST(Query, PercentDecodeKeepsPlusAndDecodesAnyByte) {
    std::string out;
    ASSERT_TRUE(percent_decode("a+b%00%ff%41", out));
    EXPECT_EQ(out, std::string("a+b\0\xff"
                               "A",
                               6));
    EXPECT_FALSE(percent_decode("%", out));
    EXPECT_FALSE(percent_decode("abc%1", out));
}

}  // namespace
}  // namespace yw::http
