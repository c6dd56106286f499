// ApiClient: thin wrappers over http_request with the test suite's expectations.
#include "support/api_client.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "common/config.hpp"

namespace yw::test {

namespace json = boost::json;

HttpResponse ApiClient::call(const std::string& method, const std::string& target, const std::string& body,
                             const std::map<std::string, std::string>& headers) const {
    return http_request(port_, method, target, body, headers);
}

HttpResponse ApiClient::admin(const std::string& method, const std::string& target,
                              const std::string& body) const {
    return call(method, target, body, {{"Authorization", "Bearer " + admin_token_}});
}

HttpResponse ApiClient::as(const std::string& key, const std::string& method, const std::string& target,
                           const std::string& body) const {
    return call(method, target, body, {{"X-API-Key", key}});
}

ApiTenant ApiClient::make_tenant(const std::string& name, const std::string& tier) const {
    auto t = admin("POST", "/admin/tenants", json::serialize(json::object{{"name", name}}));
    EXPECT_EQ(t.status, 201) << t.body;
    ApiTenant out;
    auto tenant = parse_object(t);
    if (!tenant.contains("id")) return out;
    out.id = std::string(tenant.at("id").as_string());
    auto k = admin("POST", "/admin/tenants/" + out.id + "/api-keys",
                   json::serialize(json::object{{"tier", tier}}));
    EXPECT_EQ(k.status, 201) << k.body;
    auto key = parse_object(k);
    if (!key.contains("api_key")) return out;
    out.key = std::string(key.at("api_key").as_string());
    out.prefix = std::string(key.at("prefix").as_string());
    return out;
}

std::string ApiClient::make_user(const ApiTenant& t, const std::string& name) const {
    auto r = as(t.key, "POST", "/v1/users", json::serialize(json::object{{"name", name}}));
    EXPECT_EQ(r.status, 201) << r.body;
    auto o = parse_object(r);
    return o.contains("id") ? std::string(o.at("id").as_string()) : std::string();
}

std::string ApiClient::make_conversation(const ApiTenant& t, const std::string& user) const {
    auto r = as(t.key, "POST", "/v1/conversations", json::serialize(json::object{{"user_id", user}}));
    EXPECT_EQ(r.status, 201) << r.body;
    auto o = parse_object(r);
    return o.contains("id") ? std::string(o.at("id").as_string()) : std::string();
}

std::optional<double> ApiClient::metric(const std::string& series) const {
    auto r = call("GET", "/metrics");
    if (r.status != 200) return std::nullopt;
    std::istringstream in(r.body);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
            line[series.size()] == ' ') {
            return std::stod(line.substr(series.size() + 1));
        }
    }
    return std::nullopt;
}

json::object parse_object(const HttpResponse& r) {
    json::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object()) return {};
    return v.as_object();
}

std::string admin_token_of(const Topology& topology) {
    auto env = read_env_file(topology.env_file().string());
    EXPECT_TRUE(env.ok());
    return env.ok() ? env->at("YW_ADMIN_TOKEN") : std::string();
}

}  // namespace yw::test
