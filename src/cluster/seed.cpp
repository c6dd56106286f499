// Creates a tenant and an API key in one transaction.
#include "cluster/seed.hpp"

#include "common/uuid7.hpp"
#include "messaging/api_key.hpp"
#include "pg/ops_queries.hpp"
#include "pg/queries.hpp"

namespace yw::cluster {
namespace {

// A congregation's first week on the product: who writes, about what, and the answers.
struct DemoPerson {
    const char* name;
    const char* phone;
    const char* subject;
    std::vector<std::pair<const char*, const char*>> messages;  // (direction, content), oldest first
};

const std::vector<DemoPerson>& demo_people() {
    static const std::vector<DemoPerson> people{
        {"Ruth Adams",
         "+15550100001",
         "Sunday volunteers",
         {{"outbound", "Hi Ruth, can you help with coffee after the 10am service this Sunday?"},
          {"inbound", "Yes, happy to! Should I bring extra cups?"},
          {"outbound", "That would be great, thank you."}}},
        {"Daniel Kim",
         "+15550100002",
         "Youth group trip",
         {{"outbound", "Reminder: the youth group trip leaves Saturday at 8am from the church parking lot."},
          {"inbound", "Thanks! Is lunch included?"},
          {"outbound", "Lunch is included; bring a water bottle."},
          {"inbound", "Perfect, see you there."}}},
        {"Maria Lopez",
         "+15550100003",
         "Prayer request",
         {{"inbound", "Please keep my mother in your prayers, she has surgery on Thursday."},
          {"outbound", "We will, Maria. The prayer team has been told. Let us know how it goes."}}},
    };
    return people;
}

Status seed_people(pg::SyncConnection& conn, const std::string& tenant_id) {
    for (const auto& p : demo_people()) {
        std::string user = to_string(uuid7());
        if (auto r = conn.query(pg::queries::kUserCreate, {user, tenant_id, p.name, p.phone, std::nullopt});
            !r)
            return r.error();
        std::string conversation = to_string(uuid7());
        if (auto r = conn.query(pg::queries::kConversationCreate,
                                {conversation, tenant_id, user, "open", p.subject});
            !r) {
            return r.error();
        }
        for (const auto& [direction, content] : p.messages) {
            if (auto r = conn.query(pg::queries::kMessageCreate,
                                    {to_string(uuid7()), conversation, tenant_id, direction, "sms", content});
                !r) {
                return r.error();
            }
        }
    }
    return {};
}

}  // namespace

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
        return seed_people(conn, out.tenant_id);
    }();
    if (!insert) {
        (void)conn.query(pg::queries::kRollback);
        return insert.error();
    }
    if (auto r = conn.query(pg::queries::kCommit); !r) return r.error();
    return out;
}

}  // namespace yw::cluster
