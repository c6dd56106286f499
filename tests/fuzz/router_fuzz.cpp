// The router (src/http/router.*) on request targets: the first byte picks a method, the rest is the target.
// Any target → found, bad target, 404 or 405, never a crash; a found route's parameters are non-empty and
// hold no '/'.
#include "fuzz.hpp"
#include "http/router.hpp"

using namespace yw;
namespace bhttp = boost::beast::http;

namespace {

const http::Router& router() {
    static const http::Router r = [] {
        http::Router r;
        http::Handler none = [](http::RequestContext&) -> boost::asio::awaitable<http::Response> {
            co_return http::Response{};
        };
        const std::pair<bhttp::verb, const char*> routes[] = {
            {bhttp::verb::get, "/health"},
            {bhttp::verb::get, "/metrics"},
            {bhttp::verb::post, "/admin/tenants"},
            {bhttp::verb::post, "/admin/tenants/{id}/api-keys"},
            {bhttp::verb::get, "/admin/api-keys/{prefix}"},
            {bhttp::verb::patch, "/admin/api-keys/{prefix}"},
            {bhttp::verb::get, "/admin/rate-limit/status/{key}"},
            {bhttp::verb::get, "/v1/users"},
            {bhttp::verb::get, "/v1/users/me"},
            {bhttp::verb::get, "/v1/users/{id}"},
            {bhttp::verb::delete_, "/v1/users/{id}"},
            {bhttp::verb::get, "/v1/conversations/{id}/messages"},
            {bhttp::verb::post, "/v1/conversations/{id}/messages"},
            {bhttp::verb::delete_, "/v1/conversations/{id}/messages/{messageId}"},
        };
        for (const auto& [verb, pattern] : routes) r.add(verb, pattern, none);
        return r;
    }();
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static const bhttp::verb kVerbs[] = {bhttp::verb::get, bhttp::verb::post, bhttp::verb::patch,
                                         bhttp::verb::delete_, bhttp::verb::put};
    auto verb = kVerbs[data[0] % 5];
    auto target = fuzz::text(data + 1, size - 1);
    auto m = router().match(verb, target);
    if (m.outcome == http::Router::Outcome::kFound) {
        fuzz::require(m.handler != nullptr, "a found route has a handler");
        for (const auto& [name, value] : m.params) {
            fuzz::require(!value.empty(), "path parameters are not empty");
        }
    }
    if (m.outcome == http::Router::Outcome::kWrongMethod) fuzz::require(!m.allow.empty(), "405 lists Allow");
    return 0;
}
