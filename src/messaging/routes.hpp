// The messaging API's routes: thin handlers that authenticate, parse, call a service and answer JSON.
#pragma once

#include <string>

#include "http/router.hpp"
#include "messaging/audit_log.hpp"
#include "messaging/ratelimit_admin.hpp"
#include "messaging/services.hpp"
#include "ratelimit/limiter.hpp"

namespace yw::messaging {

struct Api {
    std::string admin_token;  // empty: /admin/* answers 403
    Authenticator& auth;
    AdminService& admin;
    UserService& users;
    ConversationService& conversations;
    MessageService& messages;
    AuditLog* audit = nullptr;  // null: no audit log (tests)
    // Set before the server starts (they need its executor); null: no rate limiting / 503 on its admin
    // routes.
    ratelimit::Limiter* limiter = nullptr;
    RateLimitAdmin* rate_admin = nullptr;
};

void add_routes(http::Router& router, Api& api);

}  // namespace yw::messaging
