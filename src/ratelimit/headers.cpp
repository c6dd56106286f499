// Rate-limit fields and refusals (see headers.hpp).
#include "ratelimit/headers.hpp"

#include <fmt/format.h>

#include <boost/beast/http/field.hpp>

#include "http/error_response.hpp"

namespace yw::ratelimit {
namespace bhttp = boost::beast::http;

namespace {
std::int64_t ceil_s(std::int64_t ms) { return (ms + 999) / 1000; }
}  // namespace

void set_headers(http::Response& res, const Decision& d, std::int64_t now_unix_s) {
    if (!d.has_headers()) return;
    // insert, not set: a handler never sets these, so there is nothing to replace; format_int and one
    // stack buffer keep the six fields free of temporary strings (they are on every API answer).
    auto number = [&res](std::string_view name, std::int64_t value) {
        fmt::format_int text(value);
        res.insert(name, std::string_view(text.data(), text.size()));
    };
    number("X-RateLimit-Limit", d.policy.limit);
    number("X-RateLimit-Remaining", d.remaining);
    number("X-RateLimit-Reset", now_unix_s + ceil_s(d.reset_after_ms));
    number("X-RateLimit-Burst", d.policy.burst);
    // draft-ietf-httpapi-ratelimit-headers: the quota policy (q per w seconds) and what is left of it now.
    fmt::memory_buffer text;
    fmt::format_to(std::back_inserter(text), "\"{}\";q={};w=60", d.policy.tier, d.policy.limit);
    res.insert("RateLimit-Policy", std::string_view(text.data(), text.size()));
    text.clear();
    fmt::format_to(std::back_inserter(text), "\"{}\";r={};t={}", d.policy.tier, d.remaining,
                   ceil_s(d.reset_after_ms));
    res.insert("RateLimit", std::string_view(text.data(), text.size()));
}

http::Response refusal(const Decision& d, std::int64_t now_unix_s) {
    std::int64_t retry_s = std::max<std::int64_t>(1, ceil_s(d.retry_after_ms));
    if (d.source == Source::kFailClosed) {
        http::Response res =
            http::error_response(bhttp::status::service_unavailable, to_string(ErrorCode::kUnavailable),
                                 "rate limiting is unavailable; retry later");
        res.set(bhttp::field::retry_after, std::to_string(retry_s));
        return res;
    }
    boost::json::object body{
        {"error", "Too Many Requests"},
        {"message", fmt::format("Rate limit of {} requests per minute (burst {}) exceeded for the {} tier; "
                                "retry in {} s",
                                d.policy.limit, d.policy.burst, d.policy.tier, retry_s)},
        {"retryAfter", d.retry_after_ms},
    };
    http::Response res = http::json_response(bhttp::status::too_many_requests, body);
    res.set(bhttp::field::retry_after, std::to_string(retry_s));
    set_headers(res, d, now_unix_s);
    return res;
}

}  // namespace yw::ratelimit
