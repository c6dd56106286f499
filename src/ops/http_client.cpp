// Blocking HTTP client on Boost.Beast: see http_client.hpp.
#include "ops/http_client.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <cctype>

namespace yw::ops {

Result<HttpTarget> parse_http_base(const std::string& url) {
    auto u = boost::urls::parse_uri(url);
    if (!u || u->scheme() != "http" || u->host().empty() || (!u->path().empty() && u->path() != "/")) {
        return make_error(ErrorCode::kInvalidArgument,
                          "--api must be a base URL like http://127.0.0.1:8080, got '" + url + "'");
    }
    HttpTarget t;
    t.host = std::string(u->host());
    t.port = u->has_port() ? static_cast<int>(u->port_number()) : 80;
    return t;
}

HttpReply http_call(const HttpTarget& target, const std::string& method, const std::string& path,
                    const std::string& body, const std::map<std::string, std::string>& headers,
                    std::chrono::milliseconds timeout) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    HttpReply out;
    try {
        boost::asio::io_context ioc;
        boost::asio::ip::tcp::resolver resolver(ioc);
        beast::tcp_stream stream(ioc);
        stream.expires_after(timeout);
        stream.connect(resolver.resolve(target.host, std::to_string(target.port)));
        http::request<http::string_body> req{http::string_to_verb(method), path, 11};
        req.set(http::field::host, target.host);
        for (const auto& [k, v] : headers) req.set(k, v);
        if (!body.empty()) {
            req.set(http::field::content_type, "application/json");
            req.body() = body;
        }
        req.prepare_payload();
        http::write(stream, req);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        out.status = static_cast<int>(res.result_int());
        out.body = res.body();
        for (const auto& f : res) {
            std::string name(f.name_string());
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            out.headers[name] = std::string(f.value());
        }
        beast::error_code ec;
        stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    } catch (const std::exception& e) {
        out.status = 0;
        out.error = e.what();
    }
    return out;
}

}  // namespace yw::ops
