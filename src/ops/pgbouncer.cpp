// PgBouncer's runbooks behind ywctl (RB-5, RB-6, RB-7): see pgbouncer.hpp.
#include "ops/pgbouncer.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "common/files.hpp"
#include "ops/pgbouncer_ini.hpp"
#include "ops/replication.hpp"
#include "pg/health_queries.hpp"
#include "pg/replication_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {

// PgBouncer's admin console (SHOW POOLS/CONFIG/DATABASES/CLIENTS/SERVERS, RELOAD) and pgbouncer.ini, judged
// against RB-5's healthy ranges; the primary's pg_stat_activity for RB-7's stuck sessions.

namespace fs = std::filesystem;

namespace {

using pg::cell;
using pg::number;

std::string seconds_text(long long ms) {
    return ms >= 60000 ? fmt::format("{}m{:02}s", ms / 60000, (ms / 1000) % 60)
                       : fmt::format("{} s", ms / 1000);
}

}  // namespace

Level waiting_level(long long cl_waiting) {
    return from_verdict(yw::grade(static_cast<double>(cl_waiting), kWaitingWarning, kWaitingCritical));
}

Level maxwait_level(double seconds) {
    return from_verdict(yw::grade(seconds, kMaxWaitWarningS, kMaxWaitCriticalS));
}

long long reserve_of(long long pool_size) {
    return std::max(1LL, static_cast<long long>(std::ceil(static_cast<double>(pool_size) * kReserveShare)));
}

Level headroom_level(long long sv_active, long long pool_size) {
    if (pool_size <= 0) return Level::kUnknown;
    return pool_size - sv_active >= reserve_of(pool_size) ? Level::kOk : Level::kWarning;
}

long long PoolSnapshot::default_pool_size() const {
    auto it = config.find("default_pool_size");
    return it == config.end() ? 0 : number(it->second);
}

PoolSnapshot collect_pools(const std::string& admin_url, std::chrono::seconds timeout) {
    PoolSnapshot s;
    if (admin_url.empty()) {
        s.error = "PGBOUNCER_ADMIN_URL is not set (PgBouncer's admin console)";
        return s;
    }
    auto conn = pg::SyncConnection::open(admin_url, timeout);
    if (!conn) {
        s.error = conn.error().message;
        return s;
    }
    auto simple = [&](const pg::Query& q) { return conn->simple_query(q.name, std::string(q.sql)); };
    auto pools = simple(pg::queries::kPgBouncerShowPools);
    auto config = simple(pg::queries::kPgBouncerShowConfig);
    auto dbs = simple(pg::queries::kPgBouncerShowDatabases);
    if (!pools || !config || !dbs) {
        s.error = !pools ? pools.error().message : !config ? config.error().message : dbs.error().message;
        return s;
    }
    s.reachable = true;
    for (size_t i = 0; i < config->size(); ++i) s.config[cell(*config, i, "key")] = cell(*config, i, "value");
    s.pools = pg::parse_pools(*pools, *dbs, s.default_pool_size());
    return s;
}

boost::json::object to_json(const PoolSnapshot& s) {
    boost::json::array pools;
    for (const auto& p : s.pools) {
        pools.push_back({{"database", p.database},
                         {"user", p.user},
                         {"cl_active", p.cl_active},
                         {"cl_waiting", p.cl_waiting},
                         {"sv_active", p.sv_active},
                         {"sv_idle", p.sv_idle},
                         {"sv_used", p.sv_used},
                         {"sv_login", p.sv_login},
                         {"maxwait_s", p.maxwait_s},
                         {"pool_mode", p.pool_mode},
                         {"pool_size", p.pool_size}});
    }
    boost::json::object config;
    for (const char* key :
         {"default_pool_size", "reserve_pool_size", "max_client_conn", "pool_mode", "server_lifetime",
          "server_idle_timeout", "query_timeout", "query_wait_timeout", "idle_transaction_timeout"}) {
        if (auto it = s.config.find(key); it != s.config.end()) config[key] = it->second;
    }
    return {{"reachable", s.reachable},
            {"error", s.error},
            {"pools", std::move(pools)},
            {"config", std::move(config)}};
}

void assess_pools(const PoolSnapshot& s, Report& r) {
    if (!s.reachable) {
        r.add({"pgbouncer reachable", Level::kCritical, "no", "answers", s.error});
        r.recommend("restart PgBouncer on its host (systemctl restart pgbouncer), then: ywctl pool status");
        return;
    }
    r.add({"pgbouncer reachable", Level::kOk, "yes", "answers", ""});
    if (s.pools.empty()) {
        r.add({"pools", Level::kOk, "none open", "", "no client has connected yet"});
        return;
    }
    for (const auto& p : s.pools) {
        std::string pool = p.database + "/" + p.user;
        r.add({pool + " cl_waiting", waiting_level(p.cl_waiting), std::to_string(p.cl_waiting),
               "0 (critical > 10)", fmt::format("cl_active {}", p.cl_active)});
        r.add({pool + " maxwait", maxwait_level(p.maxwait_s), fmt::format("{:.3f} s", p.maxwait_s),
               fmt::format("< {:.0f} s", kMaxWaitWarningS), "the oldest waiting client's wait"});
        long long free = p.pool_size - p.sv_active;
        r.add({pool + " free servers", headroom_level(p.sv_active, p.pool_size),
               fmt::format("{} of {}", std::max(0LL, free), p.pool_size),
               fmt::format(">= {}", reserve_of(p.pool_size)),
               fmt::format("sv_active {}, sv_idle {}, sv_used {}", p.sv_active, p.sv_idle, p.sv_used)});
        if (p.cl_waiting > 0 || headroom_level(p.sv_active, p.pool_size) != Level::kOk) {
            r.recommend("ywctl pool leaks   # RB-7: who holds the server connections");
            r.recommend(
                fmt::format("ywctl pool resize {}   # RB-6: +25, if the load is real", p.pool_size + 25));
        }
    }
}

Report assess_pools(const PoolSnapshot& s) {
    Report r;
    r.title = "PgBouncer pools (RB-5)";
    r.data = to_json(s);
    assess_pools(s, r);
    return r;
}

// --- RB-6 ---

Result<NodeEndpoint> find_primary(const Config& config, std::chrono::seconds timeout) {
    if (config.admin_urls.empty())
        return make_error(ErrorCode::kUnavailable,
                          "DATABASE_ADMIN_URLS is not set (superuser DSNs of the nodes)");
    auto snap = collect_replication(config.admin_urls, timeout);
    if (!snap.primary) {
        std::string why;
        for (const auto& n : snap.nodes)
            why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", n.name,
                               n.reachable ? "in recovery" : n.error);
        return make_error(ErrorCode::kUnavailable, "no node answers as the primary (" + why + ")");
    }
    return config.admin_urls.at(*snap.primary);
}

Result<ResizePlan> plan_resize(const Config& config, long long to, std::chrono::seconds timeout) {
    if (config.pgbouncer_ini.empty())
        return make_error(ErrorCode::kUnavailable,
                          "PGBOUNCER_INI is not set (the path of pgbouncer.ini on this host)");
    if (to < 1 || to > 10000)
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("the pool size must be 1..10000, got {}", to));
    ResizePlan plan;
    plan.ini = config.pgbouncer_ini;
    plan.to = to;
    std::error_code ec;
    if (!fs::exists(plan.ini, ec))
        return make_error(ErrorCode::kUnavailable, fmt::format("{} does not exist", plan.ini.string()));
    std::string text = read_text(plan.ini);
    plan.from =
        number(ini_value(text, "pgbouncer", "default_pool_size").value_or("20"));  // PgBouncer's default
    long long reserve = number(ini_value(text, "pgbouncer", "reserve_pool_size").value_or("0"));
    // A database line with its own pool_size= ignores default_pool_size.
    for (const auto& [database, connstr] : section_entries(text, "databases")) {
        if (connstr.find("pool_size=") != std::string::npos)
            plan.warnings.push_back(fmt::format(
                "database '{}' sets its own pool_size, which default_pool_size does not change", database));
    }
    if (auto primary = find_primary(config, timeout)) {
        if (auto conn = pg::SyncConnection::open(primary->url, timeout)) {
            if (auto rows = conn->query(pg::queries::kConnectionLimits); rows && !rows->empty()) {
                plan.server_limit =
                    number(rows->text(0, "max_connections")) - number(rows->text(0, "reserved"));
            }
        }
    }
    if (plan.server_limit && to + reserve > *plan.server_limit) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format(
                "a pool of {} (+ reserve_pool_size {}) exceeds what the primary accepts: max_connections - "
                "superuser_reserved_connections = {}; raise max_connections first (needs a restart)",
                to, reserve, *plan.server_limit));
    }
    if (!plan.server_limit)
        plan.warnings.push_back(
            "the primary's max_connections could not be read: the size is not checked against it");
    plan.steps.push_back(fmt::format("{}: default_pool_size {} → {} (the old file kept as {}.bak)",
                                     plan.ini.string(), plan.from, to, plan.ini.filename().string()));
    plan.steps.push_back("PgBouncer admin console: RELOAD (no restart, no client dropped)");
    plan.steps.push_back(fmt::format("verify: SHOW CONFIG reports default_pool_size = {}", to));
    return plan;
}

Result<long long> run_resize(const Config& config, const ResizePlan& plan, std::chrono::seconds timeout) {
    std::string text = read_text(plan.ini);
    std::string updated = set_ini_value(text, "pgbouncer", "default_pool_size", std::to_string(plan.to));
    struct stat st {};
    if (stat(plan.ini.c_str(), &st) != 0)
        return make_error(ErrorCode::kUnavailable, "cannot stat " + plan.ini.string());
    // Written beside and renamed over: PgBouncer never reads half a file; owner and mode stay PgBouncer's.
    fs::path tmp = plan.ini.string() + ".ywctl-tmp";
    fs::path bak = plan.ini.string() + ".bak";
    for (const auto& [path, content] : {std::pair{bak, text}, std::pair{tmp, updated}}) {
        std::ofstream out(path, std::ios::trunc);
        if (!out) return make_error(ErrorCode::kUnavailable, "cannot write " + path.string());
        out << content;
        out.close();
        if (chmod(path.c_str(), st.st_mode & 07777) != 0 ||
            (geteuid() == 0 && chown(path.c_str(), st.st_uid, st.st_gid) != 0))
            return make_error(ErrorCode::kUnavailable, "cannot set the owner and mode of " + path.string());
    }
    std::error_code ec;
    fs::rename(tmp, plan.ini, ec);
    if (ec)
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("cannot replace {}: {}", plan.ini.string(), ec.message()));
    auto conn = pg::SyncConnection::open(config.pgbouncer_admin_url, timeout);
    if (!conn)
        return make_error(ErrorCode::kUnavailable,
                          "the ini is written but PgBouncer does not answer: " + conn.error().message);
    if (auto r = conn->simple_query(pg::queries::kPgBouncerReload.name,
                                    std::string(pg::queries::kPgBouncerReload.sql));
        !r)
        return r.error();
    auto cfg = conn->simple_query(pg::queries::kPgBouncerShowConfig.name,
                                  std::string(pg::queries::kPgBouncerShowConfig.sql));
    if (!cfg) return cfg.error();
    for (size_t i = 0; i < cfg->size(); ++i) {
        if (cell(*cfg, i, "key") != "default_pool_size") continue;
        long long now = number(cell(*cfg, i, "value"));
        if (now != plan.to)
            return make_error(
                ErrorCode::kUnavailable,
                fmt::format("after RELOAD PgBouncer still reports default_pool_size = {} (see its log)",
                            now));
        return now;
    }
    return make_error(ErrorCode::kUnavailable, "SHOW CONFIG has no default_pool_size");
}

// --- RB-7 ---

std::string describe(const Backend& b) {
    std::string q = b.query;
    for (auto& c : q) {
        if (c == '\n' || c == '\t') c = ' ';
    }
    if (q.size() > 60) q = q.substr(0, 57) + "...";
    return fmt::format("pid {} {}@{} {} for {}{}: {}", b.pid, b.user, b.database, b.state,
                       seconds_text(b.duration_ms), b.via_pgbouncer.empty() ? "" : " via PgBouncer", q);
}

LeakSnapshot collect_leaks(const Config& config, int min_duration_s, std::chrono::seconds timeout) {
    LeakSnapshot s;
    s.pools = collect_pools(config.pgbouncer_admin_url, timeout);
    std::map<long long, std::string> server_of_pid;
    if (s.pools.reachable) {
        if (auto conn = pg::SyncConnection::open(config.pgbouncer_admin_url, timeout)) {
            if (auto clients = conn->simple_query(pg::queries::kPgBouncerShowClients.name,
                                                  std::string(pg::queries::kPgBouncerShowClients.sql))) {
                for (size_t i = 0; i < clients->size(); ++i)
                    s.clients_waiting += cell(*clients, i, "state") == "waiting";
            }
            if (auto servers = conn->simple_query(pg::queries::kPgBouncerShowServers.name,
                                                  std::string(pg::queries::kPgBouncerShowServers.sql))) {
                for (size_t i = 0; i < servers->size(); ++i) {
                    s.servers_active += cell(*servers, i, "state") == "active";
                    long long pid = number(cell(*servers, i, "remote_pid"));
                    if (pid > 0)
                        server_of_pid[pid] = cell(*servers, i, "database") + "/" + cell(*servers, i, "user");
                }
            }
        }
    }
    auto primary = find_primary(config, timeout);
    if (!primary) {
        s.primary_error = primary.error().message;
        return s;
    }
    s.primary = primary->name;
    auto conn = pg::SyncConnection::open(primary->url, timeout);
    if (!conn) {
        s.primary_error = conn.error().message;
        return s;
    }
    auto rows = conn->query(pg::queries::kLongRunning, {std::to_string(min_duration_s), "50"});
    if (!rows) {
        s.primary_error = rows.error().message;
        return s;
    }
    for (size_t i = 0; i < rows->size(); ++i) {
        Backend b;
        b.pid = number(rows->text(i, "pid"));
        b.user = rows->text(i, "usename");
        b.database = rows->text(i, "datname");
        b.application_name = rows->text(i, "application_name");
        b.client_addr = rows->text(i, "client_addr");
        b.state = rows->text(i, "state");
        b.duration_ms = number(rows->text(i, "duration_ms"));
        b.query = rows->text(i, "query");
        if (auto it = server_of_pid.find(b.pid); it != server_of_pid.end()) b.via_pgbouncer = it->second;
        s.long_running.push_back(std::move(b));
    }
    return s;
}

Report assess_leaks(const LeakSnapshot& s, int min_duration_s) {
    Report r;
    r.title = "Connection leaks (RB-7)";
    assess_pools(s.pools, r);
    r.data = to_json(s.pools);
    boost::json::array sessions;
    for (const auto& b : s.long_running) {
        sessions.push_back({{"pid", b.pid},
                            {"user", b.user},
                            {"database", b.database},
                            {"application_name", b.application_name},
                            {"client_addr", b.client_addr},
                            {"state", b.state},
                            {"duration_ms", b.duration_ms},
                            {"via_pgbouncer", b.via_pgbouncer},
                            {"query", b.query}});
    }
    r.data["primary"] = s.primary;
    r.data["long_running"] = std::move(sessions);
    r.data["min_duration_s"] = min_duration_s;
    if (!s.primary_error.empty()) {
        r.add({"primary pg_stat_activity", Level::kUnknown, "unreadable", "readable", s.primary_error});
        return r;
    }
    long long idle_in_tx = 0;
    for (const auto& b : s.long_running) idle_in_tx += b.state.rfind("idle in transaction", 0) == 0;
    long long busy = static_cast<long long>(s.long_running.size()) - idle_in_tx;
    std::string limit = fmt::format("0 older than {}", seconds_text(min_duration_s * 1000LL));
    r.add({"long-running queries", busy > 0 ? Level::kWarning : Level::kOk, std::to_string(busy), limit,
           busy > 0 ? "active for longer than the limit: stuck, or a batch job that belongs elsewhere" : ""});
    r.add({"idle in transaction", idle_in_tx > 0 ? Level::kWarning : Level::kOk, std::to_string(idle_in_tx),
           limit,
           idle_in_tx > 0 ? "an open transaction holds its server connection: the leak of transaction pooling"
                          : ""});
    for (size_t i = 0; i < s.long_running.size() && i < 5; ++i) {
        r.recommend(fmt::format("ywctl pool leaks --terminate {}   # {}", s.long_running[i].pid,
                                describe(s.long_running[i])));
    }
    return r;
}

Result<Backend> find_backend(const std::string& primary_url, long long pid, std::chrono::seconds timeout) {
    auto conn = pg::SyncConnection::open(primary_url, timeout);
    if (!conn) return conn.error();
    auto rows = conn->query(pg::queries::kBackend, {std::to_string(pid)});
    if (!rows) return rows.error();
    if (rows->empty())
        return make_error(ErrorCode::kNotFound, fmt::format("no backend with pid {} on the primary", pid));
    if (rows->text(0, "backend_type") != "client backend")
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("pid {} is a '{}', not a client session: refusing to terminate it", pid,
                                      rows->text(0, "backend_type")));
    Backend b;
    b.pid = pid;
    b.user = rows->text(0, "usename");
    b.database = rows->text(0, "datname");
    b.state = rows->text(0, "state");
    b.duration_ms = number(rows->text(0, "duration_ms"));
    b.query = rows->text(0, "query");
    return b;
}

Result<bool> terminate_backend(const std::string& primary_url, long long pid, std::chrono::seconds timeout) {
    auto conn = pg::SyncConnection::open(primary_url, timeout);
    if (!conn) return conn.error();
    auto rows = conn->query(pg::queries::kTerminate, {std::to_string(pid)});
    if (!rows) return rows.error();
    return !rows->empty() && rows->text(0, "terminated") == "t";
}

}  // namespace yw::ops
