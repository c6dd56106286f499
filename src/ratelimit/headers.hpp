// A rate-limit decision as HTTP: the rate-limit header fields, and the 429 (or 503) answer.
#pragma once

#include <cstdint>

#include "http/request_context.hpp"
#include "ratelimit/limiter.hpp"

namespace yw::ratelimit {

// Adds the rate-limit fields (X-RateLimit-* and IETF RateLimit / RateLimit-Policy) to `res` (nothing for
// whitelisted or unlimited requests). `now_unix_s` is the wall clock, for X-RateLimit-Reset (Unix seconds).
void set_headers(http::Response& res, const Decision& d, std::int64_t now_unix_s);

// 429 {"error":"Too Many Requests","message":…,"retryAfter":ms} with Retry-After and the fields above; 503
// with Retry-After when the closed fallback refused.
http::Response refusal(const Decision& d, std::int64_t now_unix_s);

}  // namespace yw::ratelimit
