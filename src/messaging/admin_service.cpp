// Tenants and API keys, for operators holding the admin token.
#include <arpa/inet.h>
#include <fmt/format.h>

#include "common/uuid7.hpp"
#include "messaging/api_key.hpp"
#include "messaging/rows.hpp"
#include "messaging/services.hpp"
#include "pg/queries.hpp"

namespace yw::messaging {
namespace {

const std::vector<std::string_view> kTiers = {"free", "standard", "professional", "enterprise"};

// An IPv4/IPv6 address or CIDR block, as PostgreSQL's inet accepts.
bool valid_inet(const std::string& text) {
    std::string addr = text;
    auto slash = text.find('/');
    int max_bits = 32;
    unsigned char buf[16];
    if (slash != std::string::npos) addr = text.substr(0, slash);
    if (inet_pton(AF_INET, addr.c_str(), buf) != 1) {
        if (inet_pton(AF_INET6, addr.c_str(), buf) != 1) return false;
        max_bits = 128;
    }
    if (slash == std::string::npos) return true;
    std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos)
        return false;
    return std::stoi(bits) <= max_bits;
}

std::string flag(bool b) { return b ? "true" : "false"; }

}  // namespace

Task<Json> AdminService::create_tenant(const JsonBody& body) {
    auto name = body.string("name", 1, 200);
    if (!name) co_return name.error();
    if (!name->present) co_return make_error(ErrorCode::kInvalidArgument, "name is required");
    pg::Params params{to_string(uuid7()), name->value};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kTenantCreate, std::move(params));
    if (!rows) co_return client_error(rows.error(), "conflict");
    co_return tenant_json(Row(*rows, 0));
}

Task<Json> AdminService::create_api_key(std::string_view tenant_id, const JsonBody& body) {
    if (auto s = validate_uuid(tenant_id, "tenant id"); !s) co_return s.error();
    auto tier = body.one_of("tier", kTiers);
    if (!tier) co_return tier.error();
    auto name = body.string("name", 1, 200, true);
    if (!name) co_return name.error();
    auto env = body.string("env", 1, 12);
    if (!env) co_return env.error();
    std::string env_value = env->present ? env->value : "prod";
    if (env_value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos) {
        co_return make_error(ErrorCode::kInvalidArgument, "env must be lowercase letters and digits");
    }
    GeneratedKey key = generate_api_key(env_value);
    pg::Params params{to_string(uuid7()),
                      std::string(tenant_id),
                      key.prefix,
                      to_hex(key.hash),
                      name->has_value() ? pg::Param(name->value) : std::nullopt,
                      tier->present ? tier->value : std::string("standard")};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kApiKeyCreate, std::move(params));
    if (!rows) co_return client_error(rows.error(), "an API key with this prefix exists; retry");
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, "no such tenant");
    Json out = api_key_json(Row(*rows, 0));
    out["api_key"] = key.secret;  // the only time the secret leaves the server
    co_return out;
}

Task<Json> AdminService::get_api_key(std::string_view prefix) {
    pg::Params params{std::string(prefix)};
    auto rows =
        co_await db_.exec(pg::Intent::kReadAfterWrite, pg::queries::kApiKeyByPrefix, std::move(params));
    if (!rows) co_return rows.error();
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, "no API key with this prefix");
    co_return api_key_json(Row(*rows, 0));
}

Task<Json> AdminService::patch_api_key(std::string_view prefix, const JsonBody& body) {
    auto tier = body.one_of("tier", kTiers);
    if (!tier) co_return tier.error();
    auto burst = body.integer("burst_size", 0, 1000000, true);
    if (!burst) co_return burst.error();
    auto ips = body.strings("whitelist_ips", 100, 64);
    if (!ips) co_return ips.error();
    for (const auto& ip : ips->value) {
        if (!valid_inet(ip))
            co_return make_error(ErrorCode::kInvalidArgument, "whitelist_ips holds an invalid address");
    }
    auto blocked = body.boolean("blocked");
    if (!blocked) co_return blocked.error();
    auto reason = body.string("block_reason", 0, 500, true);
    if (!reason) co_return reason.error();
    if (body.empty()) co_return make_error(ErrorCode::kInvalidArgument, "nothing to change");
    pg::Params params{std::string(prefix),
                      flag(tier->present),
                      tier->has_value() ? pg::Param(tier->value) : std::nullopt,
                      flag(burst->present),
                      burst->has_value() ? pg::Param(std::to_string(burst->value)) : std::nullopt,
                      flag(ips->present),
                      text_array(ips->value),
                      flag(blocked->present),
                      flag(blocked->value),
                      flag(reason->present),
                      reason->has_value() ? pg::Param(reason->value) : std::nullopt};
    auto rows = co_await db_.exec(pg::Intent::kWrite, pg::queries::kApiKeyPatch, std::move(params));
    if (!rows) co_return client_error(rows.error(), "conflict");
    if (rows->rows() == 0) co_return make_error(ErrorCode::kNotFound, "no API key with this prefix");
    co_return api_key_json(Row(*rows, 0));
}

}  // namespace yw::messaging
