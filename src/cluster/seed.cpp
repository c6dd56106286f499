// Creates a tenant and an API key in one transaction.
#include "cluster/seed.hpp"

#include "common/uuid7.hpp"
#include "messaging/api_key.hpp"
#include "pg/ops_queries.hpp"

namespace yw::cluster {

Result<SeededTenant> seed_demo_tenant(pg::SyncConnection& conn, const std::string& name,
                                      const std::string& tier) {
    SeededTenant out;
    out.tenant_id = to_string(uuid7());
    out.tenant_name = name;
    out.tier = tier;
    auto key = messaging::generate_api_key("dev");
    out.api_key = key.secret;
    out.api_key_prefix = key.prefix;
    if (auto r = conn.query(pg::queries::kBegin); !r) return r.error();
    auto insert = [&]() -> Status {
        if (auto r = conn.query(pg::queries::kTenantInsert, {out.tenant_id, name}); !r) return r.error();
        if (auto r = conn.query(pg::queries::kApiKeyInsert, {to_string(uuid7()), out.tenant_id, key.prefix,
                                                             to_hex(key.hash), "demo key", tier});
            !r) {
            return r.error();
        }
        return {};
    }();
    if (!insert) {
        (void)conn.query(pg::queries::kRollback);
        return insert.error();
    }
    if (auto r = conn.query(pg::queries::kCommit); !r) return r.error();
    return out;
}

}  // namespace yw::cluster
