// Pure logic of the messaging layer: cursors, JSON bodies, timestamps, array literals.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <limits>

#include "common/json.hpp"
#include "common/time.hpp"
#include "messaging/cursor.hpp"
#include "messaging/json_body.hpp"
#include "messaging/rows.hpp"

namespace yw::messaging {
namespace {

TEST(Base64Url, RoundTripsEveryLength) {
    std::string data;
    for (int n = 0; n < 40; ++n) {
        std::string decoded;
        ASSERT_TRUE(base64url_decode(base64url_encode(data), decoded)) << n;
        EXPECT_EQ(decoded, data);
        data += static_cast<char>(n * 37);
    }
    std::string out;
    EXPECT_FALSE(base64url_decode("a", out));
    EXPECT_FALSE(base64url_decode("ab+c", out));
    EXPECT_FALSE(base64url_decode("ab=c", out));
    EXPECT_FALSE(base64url_decode("AB", out));  // non-zero leftover bits: a second spelling of "A"
}

TEST(Cursor, RoundTripAndScope) {
    CursorCodec codec("0123456789abcdef-secret");
    std::string c = codec.encode({"m", "tenant-1", "conv-1", "1732519800123456", "id-9"});
    auto fields = codec.decode(c, {"m", "tenant-1", "conv-1"});
    ASSERT_TRUE(fields.ok());
    EXPECT_EQ(fields->size(), 5u);
    EXPECT_EQ((*fields)[3], "1732519800123456");
    EXPECT_FALSE(codec.decode(c, {"m", "tenant-2", "conv-1"}).ok());  // another tenant
    EXPECT_FALSE(codec.decode(c, {"m", "tenant-1", "conv-2"}).ok());  // another conversation
    EXPECT_FALSE(codec.decode(c, {"u", "tenant-1"}).ok());            // another list
}

TEST(Cursor, EveryTamperingIsRejected) {
    CursorCodec codec("0123456789abcdef-secret");
    std::string c = codec.encode({"u", "t", "01a211b5-53c8-72fd-acbc-6aaf7186a8be"});
    for (size_t i = 0; i < c.size(); ++i) {
        std::string t = c;
        t[i] = t[i] == 'A' ? 'B' : 'A';
        if (t == c) continue;
        EXPECT_FALSE(codec.decode(t, {"u", "t"}).ok()) << i;
    }
    EXPECT_FALSE(codec.decode("", {}).ok());
    EXPECT_FALSE(codec.decode("nodot", {}).ok());
    EXPECT_FALSE(codec.decode(std::string(600, 'A') + ".AA", {}).ok());
    CursorCodec other("another-secret-of-16+");
    EXPECT_FALSE(other.decode(c, {"u", "t"}).ok());
}

TEST(JsonBody, RefusesAFieldNamedTwice) {
    std::vector<std::string_view> allowed = {"name", "tags", "meta"};
    auto twice = JsonBody::parse(R"({"name":"a","name":"b"})", allowed);
    ASSERT_FALSE(twice.ok());
    EXPECT_EQ(twice.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(twice.error().message.find("repeats a field"), std::string::npos) << twice.error().message;
    // Escapes spell the same name: still twice.
    EXPECT_FALSE(JsonBody::parse(R"({"name":"a","na\u006de":"b"})", allowed).ok());
    // Equal names in different objects are not a repeat.
    EXPECT_TRUE(JsonBody::parse(R"({"name":"a","meta":{"name":"b"}})", allowed).ok());
    EXPECT_FALSE(JsonBody::parse(R"({"meta":{"k":1,"k":2}})", allowed).ok());
}

TEST(JsonBody, RefusesNulInStringsNamingTheFieldInsteadOfKeepingAPrefix) {
    std::vector<std::string_view> allowed = {"content", "tags"};
    auto body = JsonBody::parse(R"({"content":"hi\u0000TAIL-hidden-part","tags":["a\u0000b"]})", allowed);
    ASSERT_TRUE(body.ok());
    auto content = body->string("content", 1, 1600);
    ASSERT_FALSE(content.ok());
    EXPECT_EQ(content.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(content.error().message.find("content"), std::string::npos);
    EXPECT_NE(content.error().message.find("NUL"), std::string::npos);
    EXPECT_FALSE(body->strings("tags", 10, 100).ok());
    auto only_nul = JsonBody::parse(R"({"content":"\u0000"})", allowed);
    ASSERT_TRUE(only_nul.ok());
    EXPECT_FALSE(only_nul->string("content", 1, 1600).ok());
}

TEST(JsonBody, RejectsWhatIsNotAnObjectOfKnownFields) {
    const std::vector<std::string_view> allowed{"name", "n"};
    EXPECT_FALSE(JsonBody::parse("", allowed).ok());
    EXPECT_FALSE(JsonBody::parse("{", allowed).ok());
    EXPECT_FALSE(JsonBody::parse("[]", allowed).ok());
    EXPECT_FALSE(JsonBody::parse("\"x\"", allowed).ok());
    auto unknown = JsonBody::parse(R"({"name":"a","admin":true})", allowed);
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().message, "unknown field 'admin'");
    auto deep = std::string(100, '[') + std::string(100, ']');
    EXPECT_FALSE(JsonBody::parse(R"({"name":)" + deep + "}", allowed).ok());
    EXPECT_FALSE(JsonBody::parse("{\"name\":\"\xff\"}", allowed).ok());  // invalid UTF-8
}

TEST(JsonBody, FieldsKnowAbsentNullAndValue) {
    const std::vector<std::string_view> allowed{"a", "b", "c", "n", "list"};
    auto body = JsonBody::parse(R"({"a":"x","b":null,"n":7,"list":["1.2.3.4"]})", allowed);
    ASSERT_TRUE(body.ok());
    auto a = body->string("a", 1, 10);
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(a->has_value());
    auto b = body->string("b", 1, 10, true);
    ASSERT_TRUE(b.ok());
    EXPECT_TRUE(b->present && b->null);
    EXPECT_FALSE(body->string("b", 1, 10, false).ok());
    auto c = body->string("c", 1, 10);
    ASSERT_TRUE(c.ok());
    EXPECT_FALSE(c->present);
    EXPECT_FALSE(body->string("n", 0, 10).ok());  // wrong type
    auto n = body->integer("n", 0, 10);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->value, 7);
    EXPECT_FALSE(body->integer("n", 8, 10).ok());
    EXPECT_FALSE(body->boolean("n").ok());
    auto list = body->strings("list", 5, 64);
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->value.size(), 1u);
    EXPECT_FALSE(body->strings("list", 0, 64).ok());
}

TEST(JsonBody, LengthsCountCharactersAndCarryTheirCode) {
    const std::vector<std::string_view> allowed{"content"};
    std::string e1600;
    for (int i = 0; i < 1600; ++i) e1600 += "é";
    auto ok = JsonBody::parse("{\"content\":\"" + e1600 + "\"}", allowed);
    ASSERT_TRUE(ok.ok());
    EXPECT_TRUE(ok->string("content", 1, 1600, false, ErrorCode::kUnprocessable).ok());
    auto over = JsonBody::parse("{\"content\":\"" + e1600 + "x\"}", allowed);
    auto r = over->string("content", 1, 1600, false, ErrorCode::kUnprocessable);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnprocessable);
    auto empty = JsonBody::parse(R"({"content":""})", allowed);
    EXPECT_EQ(empty->string("content", 1, 1600, false, ErrorCode::kUnprocessable).error().code,
              ErrorCode::kUnprocessable);
    EXPECT_EQ(utf8_length("aé€😀"), 4u);
}

TEST(JsonBody, OneOf) {
    const std::vector<std::string_view> allowed{"tier"};
    auto body = JsonBody::parse(R"({"tier":"gold"})", allowed);
    auto r = body->one_of("tier", {"free", "standard"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "tier must be one of free, standard");
}

TEST(Time, Rfc3339FromMicroseconds) {
    EXPECT_EQ(rfc3339_from_us(0), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(rfc3339_from_us(1732519800123456), "2024-11-25T07:30:00.123456Z");
    EXPECT_EQ(rfc3339_from_us(951782400000000), "2000-02-29T00:00:00.000000Z");  // leap day
    EXPECT_EQ(rfc3339_from_us(-1), "1969-12-31T23:59:59.999999Z");
    EXPECT_EQ(rfc3339_from_us(253402300799999999), "9999-12-31T23:59:59.999999Z");  // the last 4-digit year
    EXPECT_EQ(rfc3339_from_us(253402300800000000), "10000-01-01T00:00:00.000000Z");
    EXPECT_EQ(rfc3339_from_us(-62167219200000000), "0000-01-01T00:00:00.000000Z");
    EXPECT_EQ(rfc3339_from_us(1767225599000001), "2025-12-31T23:59:59.000001Z");
    std::int64_t v = 0;
    EXPECT_TRUE(parse_int64("-42", v));
    EXPECT_EQ(v, -42);
    EXPECT_FALSE(parse_int64("42x", v));
    EXPECT_FALSE(parse_int64("", v));
}

TEST(Rows, TextArraysBothWays) {
    EXPECT_EQ(parse_text_array("{}"), std::vector<std::string>{});
    EXPECT_EQ(parse_text_array("{192.168.1.1,10.0.0.0/8}"),
              (std::vector<std::string>{"192.168.1.1", "10.0.0.0/8"}));
    EXPECT_EQ(parse_text_array("{\"a b\"}"), std::vector<std::string>{"a b"});
    EXPECT_EQ(text_array({"a", "b\"c", "d\\e"}), R"({"a","b\"c","d\\e"})");
    EXPECT_EQ(text_array({"", "x"}, true), R"({NULL,"x"})");
    EXPECT_EQ(text_array({}), "{}");
}

}  // namespace
}  // namespace yw::messaging

namespace yw {
namespace {

TEST(Json, DoublesArePlainNumbers) {
    boost::json::object o{{"a", 150.0}, {"b", 12.34}, {"c", 0.0}, {"s", "x\"y"}, {"n", nullptr}, {"i", 7}};
    o["arr"] = boost::json::array{1.5, -2.25, 1e-7};
    EXPECT_EQ(to_json(o), R"({"a":150,"b":12.34,"c":0,"s":"x\"y","n":null,"i":7,"arr":[1.5,-2.25,1e-07]})");
    EXPECT_EQ(to_json(boost::json::value(std::nan(""))), "null");
}

TEST(Json, EverythingButDoublesIsWrittenAsBoostJsonWritesIt) {
    std::string every_byte;
    for (int c = 0; c < 256; ++c) every_byte += static_cast<char>(c);
    boost::json::object o{{"s", every_byte},
                          {every_byte, "key"},
                          {"min", std::numeric_limits<std::int64_t>::min()},
                          {"max", std::numeric_limits<std::uint64_t>::max()},
                          {"t", true},
                          {"f", false},
                          {"n", nullptr},
                          {"empty", boost::json::object()},
                          {"nested", boost::json::array{boost::json::array{}, "caf\xc3\xa9", -1, 0}}};
    EXPECT_EQ(to_json(o), boost::json::serialize(o));
}

}  // namespace
}  // namespace yw
