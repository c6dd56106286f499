// Request bodies (src/messaging/json_body.*): any bytes → a JsonBody or a 400, never a crash; every getter on
// any field answers a value or an error.
#include "fuzz.hpp"
#include "messaging/json_body.hpp"

using namespace yw;
using messaging::JsonBody;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<std::string_view> kAllowed{
        "name", "phone", "email", "content", "tier", "burst_size", "whitelist_ips", "blocked", "status"};
    auto body = JsonBody::parse(fuzz::text(data, size), kAllowed);
    if (!body) {
        fuzz::require(body.error().code == ErrorCode::kInvalidArgument, "a bad body is a 400");
        return 0;
    }
    static const std::vector<std::string_view> kTiers{"free", "standard", "professional", "enterprise"};
    for (std::string_view field : kAllowed) {
        if (auto s = body->string(field, 1, 160, true); s && s->has_value()) {
            auto n = messaging::utf8_length(s->value);
            fuzz::require(n >= 1 && n <= 160, "string length within bounds");
        }
        (void)body->one_of(field, kTiers);
        (void)body->boolean(field);
        if (auto i = body->integer(field, -5, 1000000); i && i->has_value()) {
            fuzz::require(i->value >= -5 && i->value <= 1000000, "integer within bounds");
        }
        if (auto v = body->strings(field, 10, 64); v && v->has_value()) {
            fuzz::require(v->value.size() <= 10, "at most max_items strings");
        }
    }
    return 0;
}
