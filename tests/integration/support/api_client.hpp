// A client of ywmsgd for integration tests: admin and tenant calls, the usual fixtures (tenant + key, user,
// conversation), and reading one series out of /metrics.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "support/topology_fixture.hpp"

namespace yw::test {

struct ApiTenant {
    std::string id;
    std::string key;
    std::string prefix;
};

class ApiClient {
  public:
    ApiClient(int port, std::string admin_token) : port_(port), admin_token_(std::move(admin_token)) {}

    int port() const { return port_; }
    HttpResponse call(const std::string& method, const std::string& target, const std::string& body = {},
                      const std::map<std::string, std::string>& headers = {}) const;
    HttpResponse admin(const std::string& method, const std::string& target,
                       const std::string& body = {}) const;
    HttpResponse as(const std::string& key, const std::string& method, const std::string& target,
                    const std::string& body = {}) const;

    // Each EXPECTs success (201) and returns what it made.
    // Enterprise by default: tests of other features must not trip the rate limiter.
    ApiTenant make_tenant(const std::string& name, const std::string& tier = "enterprise") const;
    std::string make_user(const ApiTenant& t, const std::string& name) const;
    std::string make_conversation(const ApiTenant& t, const std::string& user) const;

    // The value of one series of GET /metrics, e.g.
    // `yw_db_route_statements_total{node="replica-1",kind="read"}`; nullopt when absent.
    std::optional<double> metric(const std::string& series) const;

  private:
    int port_;
    std::string admin_token_;
};

// The body as a JSON object ({} when it is not one).
boost::json::object parse_object(const HttpResponse& r);

// YW_ADMIN_TOKEN of the topology's cluster.env.
std::string admin_token_of(const Topology& topology);

}  // namespace yw::test
