// Route table and the two wrappers every handler goes through: tenant (API key + audit) and admin (token).
#include "messaging/routes.hpp"

#include <fmt/format.h>

#include "common/time.hpp"
#include "http/admin_token.hpp"
#include "http/error_response.hpp"
#include "http/query.hpp"
#include "ratelimit/headers.hpp"

namespace yw::messaging {
namespace {

namespace bhttp = boost::beast::http;
using http::query_params;
using http::RequestContext;
using http::Response;
using Awaitable = boost::asio::awaitable<Response>;
using TenantHandler = std::function<Awaitable(RequestContext&, const Principal&)>;

// Accepted body fields and query parameters. Named, not braced lists at the call: GCC 12 mishandles an
// initializer_list temporary inside a coroutine (the handlers are coroutines).
const std::vector<std::string_view> kTenantFields{"name"};
const std::vector<std::string_view> kApiKeyCreateFields{"tier", "name", "env"};
const std::vector<std::string_view> kApiKeyPatchFields{"tier", "burst_size", "whitelist_ips", "blocked",
                                                       "block_reason"};
const std::vector<std::string_view> kUserFields{"name", "phone", "email"};
const std::vector<std::string_view> kUserListParams{"limit", "after"};
const std::vector<std::string_view> kConversationCreateFields{"user_id", "subject", "status"};
const std::vector<std::string_view> kConversationListParams{"limit", "after", "status"};
const std::vector<std::string_view> kConversationPatchFields{"status", "subject"};
const std::vector<std::string_view> kMessageFields{"content", "direction", "channel"};
const std::vector<std::string_view> kMessageListParams{"limit", "before"};

using http::admin_token_matches;

std::string_view bearer(const http::Request& req) { return http::bearer_token(req); }

std::string_view api_key_of(const http::Request& req) {
    auto it = req.find("X-API-Key");
    if (it != req.end()) return it->value();
    return bearer(req);
}

Response answer(RequestContext& ctx, Result<Json> result, bhttp::status ok_status = bhttp::status::ok) {
    if (!result) return http::error_response(ctx, result.error());
    return http::json_response(ok_status, result.value());
}

// A read that went through the cache: its JSON text as is, and where it came from in X-Cache.
Response answer_cached(RequestContext& ctx, Result<cache::Fetched> result) {
    if (!result) return http::error_response(ctx, result.error());
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.set("X-Cache", cache::name_of(result->outcome));
    res.body() = std::move(result->json);
    return res;
}

Response answer_empty(RequestContext& ctx, const Result<bool>& result) {
    if (!result) return http::error_response(ctx, result.error());
    Response res{bhttp::status::no_content, 11};
    return res;
}

Result<PageRequest> page_request(const std::map<std::string, std::string>& params, const char* cursor_name) {
    PageRequest page;
    if (auto it = params.find("limit"); it != params.end()) {
        std::int64_t limit = 0;
        if (!parse_int64(it->second, limit) || limit < 1 || limit > kMaxPageLimit) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("limit must be 1 to {}", kMaxPageLimit));
        }
        page.limit = static_cast<int>(limit);
    }
    if (auto it = params.find(cursor_name); it != params.end()) {
        if (it->second.empty()) return make_error(ErrorCode::kInvalidArgument, "invalid cursor");
        page.cursor = it->second;
    }
    return page;
}

Error rate_limits_off() {
    return make_error(ErrorCode::kUnavailable, "rate limiting needs Redis (REDIS_URL)");
}

void audit(Api& api, const RequestContext& ctx, const Principal& p, const std::string& pattern,
           const Response& res, std::chrono::steady_clock::time_point started) {
    if (!api.audit) return;
    AuditEntry e;
    e.key_prefix = p.prefix;
    e.tenant_id = p.tenant_id;
    e.client_ip = ctx.client_ip;
    e.method = std::string(ctx.request.method_string());
    e.route = pattern;
    e.status = static_cast<int>(res.result_int());
    e.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    e.request_id = ctx.request_id;
    e.at_us = unix_us_now();
    api.audit->record(std::move(e));
}

std::int64_t unix_seconds_now() { return unix_us_now() / 1000000; }

// The tenant wrapper: API key → Principal (401/403 otherwise), the rate limit (429 without touching the
// database), the handler, then the audit row.
class Routes {
  public:
    Routes(http::Router& router, Api& api) : router_(router), api_(api) {}

    void tenant(bhttp::verb method, std::string pattern, TenantHandler handler) {
        router_.add(method, pattern,
                    [&api = api_, pattern, handler = std::move(handler)](RequestContext& ctx) -> Awaitable {
                        auto started = std::chrono::steady_clock::now();
                        auto principal =
                            co_await api.auth.authenticate(api_key_of(ctx.request), ctx.client_ip);
                        if (!principal) co_return http::error_response(ctx, principal.error());
                        ratelimit::Decision limit;
                        if (api.limiter) {
                            ratelimit::Subject subject{principal->key_id, principal->tier,
                                                       principal->burst_size, &principal->whitelist_ips};
                            limit = co_await api.limiter->check(subject, ctx.client_ip);
                        }
                        // No co_await inside a conditional expression: GCC 12 miscompiles it.
                        Response res;
                        if (limit.allowed) {
                            res = co_await handler(ctx, *principal);
                            ratelimit::set_headers(res, limit, unix_seconds_now());
                        } else {
                            res = ratelimit::refusal(limit, unix_seconds_now());
                        }
                        // A refusal from the local memory of an over-limit key costs nothing anywhere: a
                        // flood of them writes no audit rows (the first refusal of each episode, from Redis,
                        // does).
                        if (limit.source != ratelimit::Source::kRemembered) {
                            audit(api, ctx, *principal, pattern, res, started);
                        }
                        co_return res;
                    });
    }

    void admin(bhttp::verb method, std::string pattern, http::Handler handler) {
        router_.add(method, pattern,
                    [&api = api_, handler = std::move(handler)](RequestContext& ctx) -> Awaitable {
                        if (api.admin_token.empty()) {
                            co_return http::error_response(
                                ctx, make_error(ErrorCode::kForbidden,
                                                "admin endpoints are disabled (no YW_ADMIN_TOKEN)"));
                        }
                        if (!admin_token_matches(api.admin_token, bearer(ctx.request))) {
                            co_return http::error_response(
                                ctx, make_error(ErrorCode::kUnauthenticated, "admin token required"));
                        }
                        co_return co_await handler(ctx);
                    });
    }

  private:
    http::Router& router_;
    Api& api_;
};

}  // namespace

void add_routes(http::Router& router, Api& api) {
    // Handlers hold `api` by reference: it must outlive the router (ywmsgd's main owns both).
    Routes r(router, api);
    using V = bhttp::verb;

    // --- admin ---
    r.admin(V::post, "/admin/tenants", [&api](RequestContext& ctx) -> Awaitable {
        auto body = JsonBody::parse(ctx.body(), kTenantFields);
        if (!body) co_return http::error_response(ctx, body.error());
        co_return answer(ctx, co_await api.admin.create_tenant(*body), bhttp::status::created);
    });
    r.admin(V::post, "/admin/tenants/{id}/api-keys", [&api](RequestContext& ctx) -> Awaitable {
        auto body = JsonBody::parse(ctx.body().empty() ? "{}" : ctx.body(), kApiKeyCreateFields);
        if (!body) co_return http::error_response(ctx, body.error());
        co_return answer(ctx, co_await api.admin.create_api_key(ctx.param("id"), *body),
                         bhttp::status::created);
    });
    r.admin(V::get, "/admin/api-keys/{prefix}", [&api](RequestContext& ctx) -> Awaitable {
        co_return answer(ctx, co_await api.admin.get_api_key(ctx.param("prefix")));
    });
    r.admin(V::patch, "/admin/api-keys/{prefix}", [&api](RequestContext& ctx) -> Awaitable {
        auto body = JsonBody::parse(ctx.body(), kApiKeyPatchFields);
        if (!body) co_return http::error_response(ctx, body.error());
        auto result = co_await api.admin.patch_api_key(ctx.param("prefix"), *body);
        if (result) api.auth.forget_all();  // a block or tier change applies at once on this instance
        co_return answer(ctx, std::move(result));
    });

    // --- rate limits (RB-14, RB-15, RB-16) ---
    r.admin(V::get, "/admin/rate-limit/status/{key}", [&api](RequestContext& ctx) -> Awaitable {
        if (!api.rate_admin) co_return http::error_response(ctx, rate_limits_off());
        co_return answer(ctx, co_await api.rate_admin->status(ctx.param("key")));
    });
    r.admin(V::post, "/admin/rate-limit/reset/{key}", [&api](RequestContext& ctx) -> Awaitable {
        if (!api.rate_admin) co_return http::error_response(ctx, rate_limits_off());
        co_return answer(ctx, co_await api.rate_admin->reset(ctx.param("key")));
    });
    r.admin(V::get, "/admin/rate-limit/analytics", [&api](RequestContext& ctx) -> Awaitable {
        if (!api.rate_admin) co_return http::error_response(ctx, rate_limits_off());
        co_return answer(ctx, co_await api.rate_admin->analytics());
    });

    // --- users ---
    r.tenant(V::post, "/v1/users", [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
        auto body = JsonBody::parse(ctx.body(), kUserFields);
        if (!body) co_return http::error_response(ctx, body.error());
        co_return answer(ctx, co_await api.users.create(p, *body), bhttp::status::created);
    });
    r.tenant(V::get, "/v1/users", [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
        auto params = query_params(ctx.query, kUserListParams);
        if (!params) co_return http::error_response(ctx, params.error());
        auto page = page_request(*params, "after");
        if (!page) co_return http::error_response(ctx, page.error());
        co_return answer(ctx, co_await api.users.list(p, *page));
    });
    r.tenant(V::get, "/v1/users/{id}", [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
        co_return answer_cached(ctx, co_await api.users.get(p, ctx.param("id")));
    });
    r.tenant(V::patch, "/v1/users/{id}", [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
        auto body = JsonBody::parse(ctx.body(), kUserFields);
        if (!body) co_return http::error_response(ctx, body.error());
        co_return answer(ctx, co_await api.users.patch(p, ctx.param("id"), *body));
    });
    r.tenant(V::delete_, "/v1/users/{id}", [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
        co_return answer_empty(ctx, co_await api.users.remove(p, ctx.param("id")));
    });

    // --- conversations ---
    r.tenant(V::post, "/v1/conversations", [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
        auto body = JsonBody::parse(ctx.body(), kConversationCreateFields);
        if (!body) co_return http::error_response(ctx, body.error());
        co_return answer(ctx, co_await api.conversations.create(p, *body), bhttp::status::created);
    });
    r.tenant(V::get, "/v1/conversations", [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
        auto params = query_params(ctx.query, kConversationListParams);
        if (!params) co_return http::error_response(ctx, params.error());
        auto page = page_request(*params, "after");
        if (!page) co_return http::error_response(ctx, page.error());
        std::optional<std::string> status;
        if (auto it = params->find("status"); it != params->end()) status = it->second;
        co_return answer(ctx, co_await api.conversations.list(p, *page, status));
    });
    r.tenant(V::get, "/v1/conversations/{id}", [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
        co_return answer_cached(ctx, co_await api.conversations.get(p, ctx.param("id")));
    });
    r.tenant(V::patch, "/v1/conversations/{id}",
             [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
                 auto body = JsonBody::parse(ctx.body(), kConversationPatchFields);
                 if (!body) co_return http::error_response(ctx, body.error());
                 co_return answer(ctx, co_await api.conversations.patch(p, ctx.param("id"), *body));
             });

    // --- messages ---
    r.tenant(V::post, "/v1/conversations/{id}/messages",
             [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
                 auto body = JsonBody::parse(ctx.body(), kMessageFields);
                 if (!body) co_return http::error_response(ctx, body.error());
                 co_return answer(ctx, co_await api.messages.create(p, ctx.param("id"), *body),
                                  bhttp::status::created);
             });
    r.tenant(V::get, "/v1/conversations/{id}/messages",
             [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
                 auto params = query_params(ctx.query, kMessageListParams);
                 if (!params) co_return http::error_response(ctx, params.error());
                 auto page = page_request(*params, "before");
                 if (!page) co_return http::error_response(ctx, page.error());
                 co_return answer_cached(ctx, co_await api.messages.list(p, ctx.param("id"), *page));
             });
    r.tenant(V::delete_, "/v1/conversations/{id}/messages/{messageId}",
             [&api](RequestContext& ctx, const Principal& p) -> Awaitable {
                 co_return answer_empty(
                     ctx, co_await api.messages.remove(p, ctx.param("id"), ctx.param("messageId")));
             });
}

}  // namespace yw::messaging
