// Pattern parsing and path matching for the router.
#include "http/router.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <stdexcept>

#include "http/error_response.hpp"

namespace yw::http {
namespace {

bool is_param_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

}  // namespace

void Router::add(beast::http::verb method, std::string_view pattern, Handler handler) {
    if (pattern.empty() || pattern.front() != '/') {
        throw std::invalid_argument(fmt::format("route pattern '{}' must start with '/'", pattern));
    }
    std::vector<Segment> segments;
    std::string_view rest = pattern.substr(1);
    while (!rest.empty()) {
        auto slash = rest.find('/');
        std::string_view text = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (slash != std::string_view::npos && rest.empty()) {
            throw std::invalid_argument(fmt::format("route pattern '{}' must not end with '/'", pattern));
        }
        bool is_param = text.size() >= 2 && text.front() == '{' && text.back() == '}';
        if (is_param && !is_param_name(text.substr(1, text.size() - 2))) {
            throw std::invalid_argument(fmt::format("route pattern '{}' has a bad parameter name", pattern));
        }
        if (!is_param && (text.empty() || text.find_first_of("{}") != std::string_view::npos)) {
            throw std::invalid_argument(fmt::format("route pattern '{}' has a malformed segment", pattern));
        }
        std::string name(is_param ? text.substr(1, text.size() - 2) : text);
        for (const auto& s : segments) {
            if (is_param && s.is_param && s.text == name) {
                throw std::invalid_argument(fmt::format("route pattern '{}' repeats {{{}}}", pattern, name));
            }
        }
        segments.push_back({std::move(name), is_param});
    }
    for (const auto& r : routes_) {
        if (r.method == method && r.pattern == pattern) {
            throw std::invalid_argument(
                fmt::format("route {} {} is registered twice", beast::http::to_string(method), pattern));
        }
    }
    routes_.push_back({method, std::string(pattern), std::move(segments), std::move(handler)});
}

Router::Match Router::match(beast::http::verb method, std::string_view target) const {
    Match m;
    auto url = boost::urls::parse_origin_form(target);
    if (!url) {
        m.outcome = Outcome::kBadTarget;
        m.path = target.substr(0, target.find('?'));
        return m;
    }
    std::string_view encoded_path = url->encoded_path();
    m.path = encoded_path;
    m.query = url->encoded_query();
    std::vector<std::string> segments(url->segments().begin(), url->segments().end());

    std::vector<beast::http::verb> allowed;
    int best_literals = -1;
    for (const auto& route : routes_) {
        if (route.segments.size() != segments.size()) continue;
        int literals = 0;
        bool matches = true;
        for (std::size_t i = 0; i < segments.size() && matches; ++i) {
            const Segment& s = route.segments[i];
            if (s.is_param) {
                matches = !segments[i].empty();  // "/v1/users/" is not user "" (found by tests/fuzz)
                continue;
            }
            matches = s.text == segments[i];
            ++literals;
        }
        if (!matches) continue;
        if (route.method != method) {
            if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) {
                allowed.push_back(route.method);
            }
            continue;
        }
        if (literals <= best_literals) continue;
        best_literals = literals;
        m.outcome = Outcome::kFound;
        m.handler = &route.handler;
        m.pattern = route.pattern;
        m.params.clear();
        for (std::size_t i = 0; i < segments.size(); ++i) {
            if (route.segments[i].is_param) m.params[route.segments[i].text] = segments[i];
        }
    }
    if (m.outcome == Outcome::kFound || allowed.empty()) return m;
    m.outcome = Outcome::kWrongMethod;
    for (auto verb : allowed) {
        if (!m.allow.empty()) m.allow += ", ";
        m.allow += beast::http::to_string(verb);
    }
    return m;
}

boost::asio::awaitable<Response> Router::dispatch(RequestContext& ctx) const {
    Match m = match(ctx.request.method(), ctx.request.target());
    ctx.path = m.path;
    ctx.query = m.query;
    switch (m.outcome) {
        case Outcome::kFound:
            break;
        case Outcome::kBadTarget:
            co_return error_response(ctx,
                                     make_error(ErrorCode::kInvalidArgument, "malformed request target"));
        case Outcome::kNoPath:
            co_return error_response(
                ctx, make_error(ErrorCode::kNotFound, fmt::format("no endpoint at {}", m.path)));
        case Outcome::kWrongMethod: {
            Response res = error_response(beast::http::status::method_not_allowed, "method_not_allowed",
                                          fmt::format("{} {} is not allowed; allowed: {}",
                                                      ctx.request.method_string(), m.path, m.allow));
            res.set(beast::http::field::allow, m.allow);
            co_return res;
        }
    }
    ctx.route = m.pattern;
    ctx.params = std::move(m.params);
    co_return co_await (*m.handler)(ctx);
}

}  // namespace yw::http
