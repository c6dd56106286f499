// The embedded OpenAPI document: valid JSON, in step with docs/openapi.json, covering every route, served.
#include "http/openapi.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace yw::http {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using beast::http::verb;

json::object document() { return json::parse(openapi_document()).as_object(); }

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

TEST(OpenApi, EmbeddedDocumentIsOpenApi303) {
    json::object doc = document();
    EXPECT_EQ(doc.at("openapi").as_string(), "3.0.3");
    EXPECT_EQ(doc.at("info").at("title").as_string(), "ywmessaging");
    EXPECT_EQ(doc.at("info").at("version").as_string(), "0.1.0");
    const json::object& schemes = doc.at("components").at("securitySchemes").as_object();
    EXPECT_EQ(schemes.at("apiKey").at("name").as_string(), "X-API-Key");
    EXPECT_EQ(schemes.at("adminToken").at("scheme").as_string(), "bearer");
}

TEST(OpenApi, EmbeddedDocumentMatchesDocsFile) {
    std::filesystem::path source = std::filesystem::path(YW_SOURCE_DIR) / "docs/openapi.json";
    ASSERT_TRUE(std::filesystem::exists(source)) << source;
    // Fails when docs/openapi.json was edited without running scripts/gen_openapi_inc.sh.
    EXPECT_TRUE(read_file(source) == openapi_document())
        << "src/http/openapi_document.inc is stale: run scripts/gen_openapi_inc.sh";
}

TEST(OpenApi, DocumentsEveryRoute) {
    const std::vector<std::pair<std::string, std::string>> routes = {
        {"get", "/health"},
        {"get", "/health/detailed"},
        {"get", "/status"},
        {"get", "/status/data"},
        {"get", "/livez"},
        {"get", "/readyz"},
        {"get", "/openapi.json"},
        {"get", "/metrics"},
        {"get", "/metrics/queries"},
        {"post", "/admin/tenants"},
        {"post", "/admin/tenants/{id}/api-keys"},
        {"get", "/admin/api-keys/{prefix}"},
        {"patch", "/admin/api-keys/{prefix}"},
        {"get", "/admin/rate-limit/status/{key}"},
        {"post", "/admin/rate-limit/reset/{key}"},
        {"get", "/admin/rate-limit/analytics"},
        {"post", "/v1/users"},
        {"get", "/v1/users"},
        {"get", "/v1/users/{id}"},
        {"patch", "/v1/users/{id}"},
        {"delete", "/v1/users/{id}"},
        {"post", "/v1/conversations"},
        {"get", "/v1/conversations"},
        {"get", "/v1/conversations/{id}"},
        {"patch", "/v1/conversations/{id}"},
        {"post", "/v1/conversations/{id}/messages"},
        {"get", "/v1/conversations/{id}/messages"},
        {"delete", "/v1/conversations/{id}/messages/{messageId}"},
    };
    json::object doc = document();
    const json::object& paths = doc.at("paths").as_object();
    size_t operations = 0;
    for (const auto& [path, item] : paths) operations += item.as_object().size();
    EXPECT_EQ(operations, routes.size()) << "the document has operations the route list lacks";
    for (const auto& [method, path] : routes) {
        const json::value* item = paths.if_contains(path);
        ASSERT_NE(item, nullptr) << path;
        const json::value* op = item->as_object().if_contains(method);
        ASSERT_NE(op, nullptr) << method << " " << path;
        EXPECT_TRUE(op->as_object().contains("responses")) << method << " " << path;
    }
}

TEST(OpenApi, RequestBodiesAreClosedAndMessageContentIsBounded) {
    json::object doc = document();
    const json::object& schemas = doc.at("components").at("schemas").as_object();
    for (const char* name : {"TenantCreate", "ApiKeyCreate", "ApiKeyPatch", "UserCreate", "UserPatch",
                             "ConversationCreate", "ConversationPatch", "MessageCreate"}) {
        EXPECT_EQ(schemas.at(name).at("additionalProperties"), json::value(false)) << name;
    }
    const json::object& content = schemas.at("MessageCreate").at("properties").at("content").as_object();
    EXPECT_EQ(content.at("minLength").as_int64(), 1);
    EXPECT_EQ(content.at("maxLength").as_int64(), 1600);
    const json::object& responses =
        doc.at("paths").at("/v1/conversations/{id}/messages").at("post").at("responses").as_object();
    EXPECT_TRUE(responses.contains("422"));
}

TEST(OpenApi, RouteServesTheDocument) {
    Router router;
    add_openapi_route(router);
    Request req{verb::get, "/openapi.json", 11};
    RequestContext ctx{.request = req, .request_id = "test", .client_ip = "127.0.0.1"};
    asio::io_context io;
    auto future = asio::co_spawn(io, router.dispatch(ctx), asio::use_future);
    io.run();
    Response res = future.get();
    EXPECT_EQ(res.result(), beast::http::status::ok);
    EXPECT_EQ(res[beast::http::field::content_type], "application/json");
    EXPECT_TRUE(res.body() == openapi_document());
}

}  // namespace
}  // namespace yw::http
