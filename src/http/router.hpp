// Routes: method + path pattern ("/v1/users/{id}") → handler, with 404 and 405 answered here.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_context.hpp"

namespace yw::http {

class Router {
  public:
    // Registers a handler. Throws std::invalid_argument for a malformed pattern or a route registered twice:
    // routes are built once at startup.
    void add(beast::http::verb method, std::string_view pattern, Handler handler);

    enum class Outcome {
        kFound,        // a route matched path and method
        kBadTarget,    // the request target is not an origin-form URI path
        kNoPath,       // no route has this path
        kWrongMethod,  // routes have this path, under other methods
    };
    struct Match {
        Outcome outcome = Outcome::kNoPath;
        const Handler* handler = nullptr;  // kFound
        std::string_view pattern;          // kFound: the route's pattern, as registered
        Params params;                     // kFound
        std::string allow;                 // kWrongMethod: the Allow header, "GET, POST"
        std::string_view path;             // the target before '?'
        std::string_view query;            // the target after '?'
    };

    // Where literal and {param} routes both match, the one with more literal segments wins: "/users/me"
    // beats "/users/{id}".
    Match match(beast::http::verb method, std::string_view target) const;

    // Runs the matching handler, or answers 400 (bad target), 404 or 405 with Allow. Fills ctx.path,
    // ctx.query, ctx.route and ctx.params.
    boost::asio::awaitable<Response> dispatch(RequestContext& ctx) const;

  private:
    struct Segment {
        std::string text;  // the literal, or the parameter's name
        bool is_param = false;
    };
    struct Route {
        beast::http::verb method;
        std::string pattern;
        std::vector<Segment> segments;
        Handler handler;
    };

    std::vector<Route> routes_;
};

}  // namespace yw::http
