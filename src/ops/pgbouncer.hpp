// RB-5, RB-6, RB-7 (and the facts of RB-21): PgBouncer's pools, their size, and long-held sessions.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/error.hpp"
#include "ops/check.hpp"
#include "ops/pgbouncer_ini.hpp"
#include "pg/pgbouncer_admin.hpp"

namespace yw::ops {

// RB-5 / RB-23: cl_waiting 0 is healthy, above 0 degraded, above 10 unhealthy.
inline constexpr long long kWaitingWarning = static_cast<long long>(yw::kWaitingClientsDegraded);
inline constexpr long long kWaitingCritical = static_cast<long long>(yw::kWaitingClientsUnhealthy);
// The oldest waiting client's wait (maxwait): ours, in line with RB-1's lag: 1 s degraded, above 5 s
// unhealthy.
inline constexpr double kMaxWaitWarningS = 1;
inline constexpr double kMaxWaitCriticalS = 5;
// RB-5's "sv_idle 5-15 (reserve) on a 50-size pool": at least 10 % of the pool free for a burst.
inline constexpr double kReserveShare = 0.10;
// RB-7 / RB-21: a query or open transaction older than 5 minutes is stuck.
inline constexpr int kLongRunningDefaultS = 300;

Level waiting_level(long long cl_waiting);
Level maxwait_level(double seconds);
// Free server slots (pool_size - sv_active) against the reserve RB-5 asks for.
Level headroom_level(long long sv_active, long long pool_size);
long long reserve_of(long long pool_size);

// RB-5: PgBouncer's pools from its admin console (simple query protocol only): pg/pgbouncer_admin.hpp, which
// ywmsgd's /health/detailed reads too.
using pg::PoolRow;

struct PoolSnapshot {
    bool reachable = false;
    std::string error;
    std::vector<PoolRow> pools;                 // without PgBouncer's own admin pseudo-database
    std::map<std::string, std::string> config;  // SHOW CONFIG
    long long default_pool_size() const;
};

PoolSnapshot collect_pools(const std::string& admin_url, std::chrono::seconds timeout);
boost::json::object to_json(const PoolSnapshot& s);
// RB-5: per pool, waiting clients, the oldest wait and the free server connections.
void assess_pools(const PoolSnapshot& s, Report& r);
Report assess_pools(const PoolSnapshot& s);

// --- RB-6: resize ---

// RB-6: pool resizing goes through pgbouncer.ini + RELOAD.
struct ResizePlan {
    std::filesystem::path ini;
    long long from = 0;  // default_pool_size in the file now
    long long to = 0;
    std::optional<long long> server_limit;  // max_connections - superuser_reserved_connections on the primary
    std::vector<std::string> steps;
    std::vector<std::string> warnings;
};

// Refuses (kInvalidArgument) a size the primary cannot serve: N + reserve_pool_size above its connection
// limit.
Result<ResizePlan> plan_resize(const Config& config, long long to, std::chrono::seconds timeout);
// Writes the ini (atomically, keeping owner and mode), RELOAD, and verifies SHOW CONFIG; returns what
// PgBouncer now reports.
Result<long long> run_resize(const Config& config, const ResizePlan& plan, std::chrono::seconds timeout);

// --- RB-7: leaks ---

// RB-7: the sessions that hold server connections too long.
struct Backend {
    long long pid = 0;
    std::string user;
    std::string database;
    std::string application_name;
    std::string client_addr;
    std::string state;
    long long duration_ms = 0;
    std::string query;
    std::string via_pgbouncer;  // "ywmessaging/app_user" when a PgBouncer server connection is this backend
};

struct LeakSnapshot {
    PoolSnapshot pools;
    std::string primary;  // node name
    std::string primary_error;
    std::vector<Backend> long_running;  // oldest first
    long long clients_waiting = 0;      // SHOW CLIENTS in state waiting
    long long servers_active = 0;       // SHOW SERVERS in state active
};

// The primary: the one node of DATABASE_ADMIN_URLS not in recovery. kUnavailable saying why when none
// answers.
Result<NodeEndpoint> find_primary(const Config& config, std::chrono::seconds timeout);

LeakSnapshot collect_leaks(const Config& config, int min_duration_s, std::chrono::seconds timeout);
// RB-7: sessions busy or idle in transaction past the limit, the pool's saturation, waiting clients.
Report assess_leaks(const LeakSnapshot& s, int min_duration_s);

// RB-7 step 5: one client backend on the primary (not a walsender, not autovacuum); kNotFound when no such
// pid.
Result<Backend> find_backend(const std::string& primary_url, long long pid, std::chrono::seconds timeout);
Result<bool> terminate_backend(const std::string& primary_url, long long pid, std::chrono::seconds timeout);

std::string describe(
    const Backend& b);  // "pid 123 app_user@ywmessaging idle in transaction for 12 s: BEGIN…"

}  // namespace yw::ops
