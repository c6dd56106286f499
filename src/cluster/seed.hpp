// Demo data for `make run`: one tenant, its API key, and a few people with a conversation each and its
// messages, so the first curl and the status page have something to show.
#pragma once

#include <string>

#include "common/error.hpp"
#include "pg/sync_connection.hpp"

namespace yw::cluster {

struct SeededTenant {
    std::string tenant_id;
    std::string tenant_name;
    std::string api_key;  // the secret: printed once by the caller, stored only as its SHA-256
    std::string api_key_prefix;
    std::string tier;
};

// All in one transaction: seeded whole or not at all (run.sh seeds once per topology).
Result<SeededTenant> seed_demo_tenant(pg::SyncConnection& conn, const std::string& name,
                                      const std::string& tier);

}  // namespace yw::cluster
