// What a handler sees of a request, and what it returns: the contract between the server and the handlers.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace yw::http {
namespace beast = boost::beast;

using Request = beast::http::request<beast::http::string_body>;
using Response = beast::http::response<beast::http::string_body>;
using Params = std::map<std::string, std::string, std::less<>>;

struct RequestContext {
    const Request& request;
    std::string request_id;    // echoed in X-Request-Id and in every log line of the request
    std::string client_ip;     // the TCP peer (a load balancer's address when there is one)
    std::string_view path;     // the target before '?', as sent
    std::string_view query;    // the target after '?', still percent-encoded
    std::string_view route;    // the matched route's pattern ("/v1/users/{id}"); empty when none matched
    Params params;             // the matched route's {name} segments, percent-decoded
    std::string error_detail;  // what a 5xx answer kept from the client; the access log shows it

    std::string_view body() const { return request.body(); }
    // The value of a {name} segment of the route; empty when it has none by that name.
    std::string_view param(std::string_view name) const {
        auto it = params.find(name);
        return it == params.end() ? std::string_view{} : std::string_view(it->second);
    }
};

using Handler = std::function<boost::asio::awaitable<Response>(RequestContext&)>;

}  // namespace yw::http
