// The router (matching, parameters, precedence, 404/405), the error → status mapping and request ids.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <stdexcept>

#include "http/error_response.hpp"
#include "http/request_id.hpp"
#include "http/router.hpp"

namespace yw::http {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using beast::http::status;
using beast::http::verb;

// A handler answering 200 with `name`, so tests see which route ran.
Handler named(std::string name) {
    return [name = std::move(name)](RequestContext&) -> asio::awaitable<Response> {
        Response res{status::ok, 11};
        res.body() = name;
        co_return res;
    };
}

// Runs dispatch to completion; `seen` receives the context as the handler left it.
Response dispatch(const Router& router, verb method, std::string target, Params* seen_params = nullptr,
                  std::string* seen_query = nullptr) {
    Request req{method, target, 11};
    RequestContext ctx{.request = req, .request_id = "test", .client_ip = "127.0.0.1"};
    asio::io_context io;
    auto future = asio::co_spawn(io, router.dispatch(ctx), asio::use_future);
    io.run();
    Response res = future.get();
    if (seen_params) *seen_params = ctx.params;
    if (seen_query) *seen_query = std::string(ctx.query);
    return res;
}

json::object error_of(const Response& res) {
    return json::parse(res.body()).as_object().at("error").as_object();
}

TEST(Router, MatchesLiteralPath) {
    Router router;
    router.add(verb::get, "/health", named("health"));
    router.add(verb::get, "/", named("root"));
    EXPECT_EQ(dispatch(router, verb::get, "/health").body(), "health");
    EXPECT_EQ(dispatch(router, verb::get, "/").body(), "root");
}

TEST(Router, ExtractsDecodedParamsAndSplitsQuery) {
    Router router;
    router.add(verb::get, "/v1/conversations/{id}/messages/{messageId}", named("message"));
    Params params;
    std::string query;
    Response res = dispatch(router, verb::get, "/v1/conversations/a%20b/messages/m%2F1?limit=50&before=x",
                            &params, &query);
    EXPECT_EQ(res.body(), "message");
    EXPECT_EQ(params.at("id"), "a b");
    EXPECT_EQ(params.at("messageId"), "m/1");  // an encoded slash stays inside its segment
    EXPECT_EQ(query, "limit=50&before=x");

    auto m = router.match(verb::get, "/v1/conversations/c1/messages/m1?x=1");
    EXPECT_EQ(m.outcome, Router::Outcome::kFound);
    EXPECT_EQ(m.path, "/v1/conversations/c1/messages/m1");
    EXPECT_EQ(m.query, "x=1");
}

TEST(Router, LiteralSegmentBeatsParameterWhateverTheOrder) {
    Router first_param;
    first_param.add(verb::get, "/v1/users/{id}", named("by id"));
    first_param.add(verb::get, "/v1/users/me", named("me"));
    Router first_literal;
    first_literal.add(verb::get, "/v1/users/me", named("me"));
    first_literal.add(verb::get, "/v1/users/{id}", named("by id"));
    for (const Router* router : {&first_param, &first_literal}) {
        EXPECT_EQ(dispatch(*router, verb::get, "/v1/users/me").body(), "me");
        EXPECT_EQ(dispatch(*router, verb::get, "/v1/users/42").body(), "by id");
    }
}

TEST(Router, UnknownPathsAre404WithJsonError) {
    Router router;
    router.add(verb::get, "/health", named("health"));
    router.add(verb::get, "/v1/users/{id}", named("user"));
    for (const char* target :
         {"/nope", "/health/", "/healthz", "/v1/users", "/v1/users/1/extra", "/v1/../health",
          "/v1/users/"}) {  // an empty segment is no parameter (found by tests/fuzz/router_fuzz.cpp)
        Response res = dispatch(router, verb::get, target);
        EXPECT_EQ(res.result(), status::not_found) << target;
        EXPECT_EQ(res[beast::http::field::content_type], "application/json");
        EXPECT_EQ(error_of(res).at("code").as_string(), "not_found") << target;
    }
}

TEST(Router, KnownPathWithOtherMethodIs405WithAllow) {
    Router router;
    router.add(verb::get, "/v1/users", named("list"));
    router.add(verb::post, "/v1/users", named("create"));
    router.add(verb::get, "/v1/users/{id}", named("get"));
    router.add(verb::patch, "/v1/users/{id}", named("patch"));
    router.add(verb::delete_, "/v1/users/{id}", named("delete"));

    Response res = dispatch(router, verb::put, "/v1/users");
    EXPECT_EQ(res.result(), status::method_not_allowed);
    EXPECT_EQ(res[beast::http::field::allow], "GET, POST");
    EXPECT_EQ(error_of(res).at("code").as_string(), "method_not_allowed");

    res = dispatch(router, verb::post, "/v1/users/7");
    EXPECT_EQ(res.result(), status::method_not_allowed);
    EXPECT_EQ(res[beast::http::field::allow], "GET, PATCH, DELETE");
    EXPECT_EQ(dispatch(router, verb::delete_, "/v1/users/7").body(), "delete");
}

TEST(Router, TargetThatIsNotAPathIs400) {
    Router router;
    router.add(verb::get, "/health", named("health"));
    for (const char* target : {"*", "http://example.com/health", "health", "/bad%zzpath"}) {
        Response res = dispatch(router, verb::get, target);
        EXPECT_EQ(res.result(), status::bad_request) << target;
        EXPECT_EQ(error_of(res).at("code").as_string(), "invalid_argument") << target;
    }
}

TEST(Router, RejectsMalformedPatternsAndDuplicates) {
    Router router;
    for (const char* pattern : {"", "health", "/a//b", "/a/", "/{}", "/{a}/{a}", "/a{b}", "/{a-b}"}) {
        EXPECT_THROW(router.add(verb::get, pattern, named("x")), std::invalid_argument) << pattern;
    }
    router.add(verb::get, "/a/{id}", named("x"));
    EXPECT_THROW(router.add(verb::get, "/a/{id}", named("y")), std::invalid_argument);
    EXPECT_NO_THROW(router.add(verb::post, "/a/{id}", named("y")));
}

TEST(ErrorMapping, EveryCodeHasItsStatus) {
    EXPECT_EQ(status_for(ErrorCode::kInvalidArgument), status::bad_request);
    EXPECT_EQ(status_for(ErrorCode::kUnprocessable), status::unprocessable_entity);
    EXPECT_EQ(status_for(ErrorCode::kUnauthenticated), status::unauthorized);
    EXPECT_EQ(status_for(ErrorCode::kForbidden), status::forbidden);
    EXPECT_EQ(status_for(ErrorCode::kNotFound), status::not_found);
    EXPECT_EQ(status_for(ErrorCode::kConflict), status::conflict);
    EXPECT_EQ(status_for(ErrorCode::kRateLimited), status::too_many_requests);
    EXPECT_EQ(status_for(ErrorCode::kUnavailable), status::service_unavailable);
    EXPECT_EQ(status_for(ErrorCode::kTimeout), status::gateway_timeout);
    EXPECT_EQ(status_for(ErrorCode::kInternal), status::internal_server_error);
}

TEST(ErrorMapping, ClientErrorsCarryTheirMessage) {
    Request req;
    RequestContext ctx{.request = req};
    Response res = error_response(ctx, make_error(ErrorCode::kConflict, "phone already registered"));
    EXPECT_EQ(res.result(), status::conflict);
    EXPECT_EQ(res[beast::http::field::content_type], "application/json");
    EXPECT_EQ(json::parse(res.body()),
              json::parse(R"({"error":{"code":"conflict","message":"phone already registered"}})"));
    EXPECT_TRUE(ctx.error_detail.empty());
}

TEST(ErrorMapping, ServerErrorsHideTheirMessageAndKeepItForTheLog) {
    for (ErrorCode code : {ErrorCode::kInternal, ErrorCode::kUnavailable, ErrorCode::kTimeout}) {
        Request req;
        RequestContext ctx{.request = req};
        std::string secret = "relation \"users\" does not exist (SQLSTATE 42P01) at 10.0.0.5";
        Response res = error_response(ctx, make_error(code, secret));
        EXPECT_EQ(res.result(), status_for(code));
        json::object error = error_of(res);
        EXPECT_EQ(error.at("code").as_string(), to_string(code));
        EXPECT_EQ(res.body().find("SQLSTATE"), std::string::npos) << res.body();
        EXPECT_FALSE(error.at("message").as_string().empty());
        EXPECT_EQ(ctx.error_detail, secret);
    }
}

TEST(RequestId, AcceptsSafeIdsOnly) {
    EXPECT_TRUE(is_valid_request_id("abc-123_XYZ"));
    EXPECT_TRUE(is_valid_request_id("0190a4b2-7c1e-7def-8000-123456789abc"));
    EXPECT_TRUE(is_valid_request_id(std::string(64, 'a')));
    EXPECT_FALSE(is_valid_request_id(""));
    EXPECT_FALSE(is_valid_request_id(std::string(65, 'a')));
    EXPECT_FALSE(is_valid_request_id("has space"));
    EXPECT_FALSE(is_valid_request_id("line\nbreak"));
    EXPECT_FALSE(is_valid_request_id("quote\""));
    EXPECT_FALSE(is_valid_request_id("caf\xc3\xa9"));
}

TEST(RequestId, GeneratesWhenMissingOrUnsafe) {
    std::string a = generate_request_id();
    std::string b = generate_request_id();
    EXPECT_EQ(a.size(), 32u);
    EXPECT_TRUE(is_valid_request_id(a));
    EXPECT_NE(a, b);
    EXPECT_EQ(request_id_for("trace-42"), "trace-42");
    EXPECT_EQ(request_id_for("").size(), 32u);
    EXPECT_EQ(request_id_for("bad id\r\nX-Injected: 1").size(), 32u);
}

}  // namespace
}  // namespace yw::http
