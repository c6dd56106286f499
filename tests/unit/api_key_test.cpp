// API key generation, syntax, hashing and constant-time comparison.
#include "messaging/api_key.hpp"

#include <gtest/gtest.h>

#include <set>

namespace yw::messaging {
namespace {

TEST(ApiKey, GeneratedKeysAreWellFormedAndUnique) {
    std::set<std::string> seen;
    for (int i = 0; i < 200; ++i) {
        auto k = generate_api_key("prod");
        EXPECT_TRUE(looks_like_api_key(k.secret)) << k.secret;
        EXPECT_EQ(k.secret.size(), std::string("key_prod_").size() + 32);
        EXPECT_EQ(k.prefix, k.secret.substr(0, 17));
        EXPECT_EQ(k.hash, sha256(k.secret));
        EXPECT_TRUE(seen.insert(k.secret).second);
    }
}

TEST(ApiKey, Sha256KnownVector) {
    EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKey, RejectsMalformedKeys) {
    for (const char* bad :
         {"", "key_", "key_prod_", "key_prod_short", "KEY_prod_0123456789abcdef0123456789ABCDEF",
          "key_PROD_0123456789abcdef0123456789ABCDEF", "key_prod_0123456789abcdef0123456789ABCDE!",
          "key_prod_0123456789abcdef0123456789ABCDEFG", "key__0123456789abcdef0123456789ABCDEF"}) {
        EXPECT_FALSE(looks_like_api_key(bad)) << bad;
    }
    EXPECT_TRUE(looks_like_api_key("key_prod_0123456789abcdef0123456789ABCDEF"));
}

TEST(ApiKey, ConstantTimeEqual) {
    auto a = sha256("a");
    auto b = sha256("b");
    EXPECT_TRUE(constant_time_equal(a, a));
    EXPECT_FALSE(constant_time_equal(a, b));
}

}  // namespace
}  // namespace yw::messaging
