// GET /openapi.json: serves the document embedded from src/http/openapi_document.inc.
#include "http/openapi.hpp"

#include <boost/beast/http/field.hpp>
#include <string>

namespace yw::http {
namespace {

// Pieces of the document; the generator splits it because one literal over 64 KiB is not portable.
constexpr std::string_view kDocumentPieces[] = {
#include "http/openapi_document.inc"
};

boost::asio::awaitable<Response> get_openapi() {
    Response res{beast::http::status::ok, 11};
    res.set(beast::http::field::content_type, "application/json");
    res.body() = std::string(openapi_document());
    co_return res;
}

}  // namespace

std::string_view openapi_document() {
    static const std::string document = [] {
        std::string joined;
        for (std::string_view piece : kDocumentPieces) joined += piece;
        return joined;
    }();
    return document;
}

void add_openapi_route(Router& router) {
    router.add(beast::http::verb::get, "/openapi.json", [](RequestContext&) { return get_openapi(); });
}

}  // namespace yw::http
