// Failover (RB-2), switchover and rejoin: see failover.hpp.
#include "ops/failover.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/files.hpp"
#include "common/process.hpp"
#include "common/time.hpp"
#include "node/control.hpp"
#include "node/probe.hpp"
#include "pg/failover_queries.hpp"
#include "pg/sync_connection.hpp"
#include "pg/topology.hpp"

namespace yw::ops {

// Every remote step is SQL on a superuser connection (pg_promote, ALTER SYSTEM, slots); only stopping,
// rewinding and starting a node run programs on the node itself, as repmgr's node-local actions do.

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

Status fail(std::string message) { return make_error(ErrorCode::kUnavailable, std::move(message)); }

// The keys a libpq connection string or URI sets.
Result<std::map<std::string, std::string>> parse_conninfo(const std::string& conninfo) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
    if (!opts) {
        std::string message = err ? err : "cannot parse the connection string";
        if (err) PQfreemem(err);
        while (!message.empty() && message.back() == '\n') message.pop_back();
        return make_error(ErrorCode::kInvalidArgument, message);
    }
    std::map<std::string, std::string> out;
    for (PQconninfoOption* o = opts; o->keyword; ++o)
        if (o->val && *o->val) out[o->keyword] = o->val;
    PQconninfoFree(opts);
    return out;
}

std::string build_conninfo(const std::map<std::string, std::string>& keys) {
    std::string out;
    for (const auto& [k, v] : keys) {
        std::string escaped;
        for (char c : v) {
            if (c == '\'' || c == '\\') escaped += '\\';
            escaped += c;
        }
        out += fmt::format("{}{}='{}'", out.empty() ? "" : " ", k, escaped);
    }
    return out;
}

// The upstream a standby should use: its current primary_conninfo (replication user, password, TLS, its
// application_name) with the new primary's host and port.
Result<std::string> upstream_conninfo(const std::string& current, const std::string& new_primary_url,
                                      const std::string& node) {
    auto target = parse_conninfo(new_primary_url);
    if (!target) return target.error();
    std::map<std::string, std::string> keys;
    if (!current.empty()) {
        auto cur = parse_conninfo(current);
        if (cur) keys = *cur;
    }
    if (keys.empty()) {
        // No upstream known (an old primary): connect as the superuser of the admin DSN.
        for (const char* k : {"user", "password", "sslmode"})
            if (target->count(k)) keys[k] = target->at(k);
    }
    keys.erase("hostaddr");
    keys.erase("dbname");
    keys["host"] = target->count("host") ? target->at("host") : "127.0.0.1";
    keys["port"] = target->count("port") ? target->at("port") : "5432";
    if (!keys.count("application_name")) keys["application_name"] = node::application_name(node);
    return build_conninfo(keys);
}

const NodeProbe* find(const std::vector<NodeProbe>& probes, const std::string& name) {
    for (const auto& p : probes)
        if (p.name == name) return &p;
    return nullptr;
}

std::string url_of(const std::vector<NodeEndpoint>& nodes, const std::string& name) {
    for (const auto& n : nodes)
        if (n.name == name) return n.url;
    return {};
}

std::string node_names(const std::vector<NodeEndpoint>& nodes) {
    std::string out;
    for (const auto& n : nodes) out += (out.empty() ? "" : ", ") + n.name;
    return out;
}

Result<pg::SyncConnection> connect(const std::string& url, std::chrono::seconds timeout = 3s) {
    return pg::SyncConnection::open(url, timeout);
}

// Runs `body` as a timed step; appends it to `steps`; false when it failed.
bool timed(std::vector<StepTiming>& steps, const Progress& progress, const std::string& name,
           const std::function<Status(std::string&)>& body) {
    if (progress) progress(name);
    auto start = Clock::now();
    std::string detail;
    Status s = body(detail);
    StepTiming step{name, ms_since(start), s.ok(), s.ok() ? detail : s.error().message};
    steps.push_back(step);
    return s.ok();
}

// The timed steps of one operation into its report (steps, ok, error, total_ms): `step(name, body)` runs and
// records one; `finish(ok)` closes the report, its error the detail of the step that failed.
template <class Report>
class Steps {
  public:
    Steps(Report& report, const Progress& progress) : report_(report), progress_(progress) {}
    bool operator()(const std::string& name, const std::function<Status(std::string&)>& body) {
        return timed(report_.steps, progress_, name, body);
    }
    Report finish(bool ok) {
        report_.ok = ok;
        if (!ok && !report_.steps.empty()) report_.error = report_.steps.back().detail;
        report_.total_ms = ms_since(start_);
        return report_;
    }

  private:
    Report& report_;
    const Progress& progress_;
    Clock::time_point start_ = Clock::now();
};

// Makes the standby at `standby_url` follow the primary at `primary_url` on its own slot (which must exist
// there): ALTER SYSTEM + pg_reload_conf, no restart (PostgreSQL 13+ re-reads primary_conninfo on reload).
Status repoint_standby(const std::string& node, const std::string& standby_url,
                       const std::string& primary_url, const std::string& current_conninfo,
                       const std::string& sync_names) {
    auto conninfo = upstream_conninfo(current_conninfo, primary_url, node);
    if (!conninfo) return conninfo.error();
    auto conn = connect(standby_url);
    if (!conn) return conn.error();
    std::string slot = node::slot_name(node);
    // One statement each: ALTER SYSTEM refuses to run in the implicit transaction of a multi-statement query.
    if (auto s = conn->exec_script("failover.primary_conninfo",
                                   "ALTER SYSTEM SET primary_conninfo = " + conn->quote_literal(*conninfo));
        !s)
        return s;
    if (auto s = conn->exec_script("failover.primary_slot_name",
                                   "ALTER SYSTEM SET primary_slot_name = " + conn->quote_literal(slot));
        !s)
        return s;
    // A standby carries the quorum it would enforce if promoted, so synchronous replication holds from the
    // first commit after a promotion, and the next failover knows the cluster is synchronous.
    if (!sync_names.empty()) {
        if (auto s = conn->exec_script(
                "failover.standby_sync_names",
                "ALTER SYSTEM SET synchronous_standby_names = " + conn->quote_literal(sync_names));
            !s)
            return s;
    }
    auto reloaded = conn->query(pg::queries::kReloadConf);
    if (!reloaded) return reloaded.error();
    return {};
}

Status ensure_slot(pg::SyncConnection& primary, const std::string& node) {
    std::string slot = node::slot_name(node);
    auto r = primary.query(pg::queries::kSlotEnsure, {slot});
    if (!r) return r.error();
    return {};
}

Status set_sync_names(pg::SyncConnection& primary, const std::vector<std::string>& standbys) {
    if (auto s = primary.exec_script("failover.sync_names",
                                     "ALTER SYSTEM SET synchronous_standby_names = " +
                                         primary.quote_literal(sync_standby_names(standbys)));
        !s)
        return s;
    auto reloaded = primary.query(pg::queries::kReloadConf);
    if (!reloaded) return reloaded.error();
    return {};
}

bool valid_db_name(const std::string& name) {
    static const std::regex re("^[A-Za-z0-9_.-]+$");
    return std::regex_match(name, re);
}

// Replaces a file keeping its owner and mode (pgbouncer.ini belongs to the user PgBouncer runs as).
Status replace_file(const fs::path& path, const std::string& content) {
    struct stat st {};
    bool had = ::stat(path.c_str(), &st) == 0;
    fs::path tmp = path;
    tmp += ".ywctl.tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out) return fail(fmt::format("cannot write {}", tmp.string()));
        out << content;
        if (!out.flush()) return fail(fmt::format("cannot write {}", tmp.string()));
    }
    if (had) {
        (void)::chmod(tmp.c_str(), st.st_mode & 07777);
        (void)::chown(tmp.c_str(), st.st_uid, st.st_gid);
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) return fail(fmt::format("cannot replace {}: {}", path.string(), ec.message()));
    return {};
}

// The one reachable primary among the nodes, other than `except`.
Result<NodeProbe> find_primary(const std::vector<NodeProbe>& probes, const std::string& except) {
    std::vector<const NodeProbe*> primaries;
    for (const auto& p : probes)
        if (p.name != except && p.role() == "primary") primaries.push_back(&p);
    if (primaries.empty())
        return make_error(ErrorCode::kUnavailable, "no reachable primary among the other nodes");
    if (primaries.size() > 1) {
        return make_error(ErrorCode::kConflict,
                          fmt::format("two nodes answer as primary ({} and {}): resolve that first",
                                      primaries[0]->name, primaries[1]->name));
    }
    return *primaries.front();
}

// Standby settings of a node that is becoming a standby of `primary_url`: its own configuration files are
// kept, with the upstream, the slot and standby.signal added.
Status make_standby(const fs::path& data, const std::string& node, const std::string& primary_url,
                    const std::string& sync_names) {
    auto conninfo = upstream_conninfo({}, primary_url, node);
    if (!conninfo) return conninfo.error();
    std::string escaped;
    for (char c : *conninfo) escaped += c == '\'' ? std::string("''") : std::string(1, c);
    std::ofstream out(data / "postgresql.auto.conf", std::ios::app);
    if (!out) return fail(fmt::format("cannot write {}", (data / "postgresql.auto.conf").string()));
    out << "\n# --- ywctl rejoin: a standby of the current primary ---\n"
        << "primary_conninfo = '" << escaped << "'\n"
        << "primary_slot_name = '" << node::slot_name(node) << "'\n";
    if (!sync_names.empty()) out << "synchronous_standby_names = '" << sync_names << "'  # once promoted\n";
    out.close();
    std::ofstream signal(data / "standby.signal", std::ios::trunc);
    if (!signal) return fail("cannot write standby.signal");
    signal.close();
    node::give_to_service_user(data);
    return {};
}

const std::vector<std::string> kConfigFiles = {"postgresql.conf", "postgresql.auto.conf", "pg_hba.conf",
                                               "pg_ident.conf"};

}  // namespace

std::string sync_standby_names(const std::vector<std::string>& standbys) {
    std::vector<std::string> names;
    for (const auto& s : standbys) names.push_back(node::application_name(s));
    return fmt::format("ANY 1 ({})", fmt::join(names, ", "));
}

Result<FailoverDecision> decide_failover(const std::vector<NodeProbe>& probes, const std::string& requested,
                                         bool force) {
    FailoverDecision d;
    std::string names;
    for (const auto& p : probes) names += (names.empty() ? "" : ", ") + p.name;
    if (!requested.empty() && !find(probes, requested)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("no node named '{}'; the nodes are: {}", requested, names));
    }
    for (const auto& p : probes) {
        if (p.role() == "primary") d.primaries.push_back(p.name);
        if (p.role() == "down") d.down.push_back(p.name);
        if (p.reachable && !p.sync_names.empty()) d.sync = true;
    }

    // The target: the requested node, or the reachable standby that received the most WAL.
    d.target = requested;
    if (d.target.empty()) {
        const NodeProbe* best = nullptr;
        for (const auto& p : probes)
            if (p.role() == "replica" && (!best || p.received() > best->received())) best = &p;
        if (best) d.target = best->name;
    }
    for (const auto& p : probes)
        if (p.name != d.target) d.standbys.push_back(p.name);

    std::vector<std::string> others;
    for (const auto& name : d.primaries)
        if (name != d.target) others.push_back(name);
    d.checks.push_back(
        {"primary unreachable", others.empty(), true,
         others.empty() ? "no node answers as a primary"
                        : fmt::format("{} still answers as a primary: failover is for a primary that is down "
                                      "(a planned change is `ywctl switchover`); --force promotes anyway, "
                                      "and then {} must be stopped before it takes writes",
                                      fmt::join(others, ", "), fmt::join(others, ", "))});

    const NodeProbe* target = d.target.empty() ? nullptr : find(probes, d.target);
    if (!target) {
        d.checks.push_back({"target healthy", false, false, "no reachable standby to promote"});
    } else if (!target->reachable) {
        d.checks.push_back(
            {"target healthy", false, false,
             fmt::format("{} is down ({}): it cannot be promoted", target->name, target->error)});
    } else if (!target->in_recovery) {
        d.checks.push_back(
            {"target healthy", false, false, fmt::format("{} is already a primary", target->name)});
    } else {
        d.checks.push_back(
            {"target healthy", true, false,
             fmt::format("{} answers as a standby (received {}, replayed {})", target->name,
                         pg::format_lsn(target->received()), pg::format_lsn(target->replayed()))});
        long long backlog =
            static_cast<long long>(target->received()) - static_cast<long long>(target->replayed());
        d.checks.push_back(
            {"replay caught up", backlog <= kMaxReplayBacklogBytes, true,
             fmt::format("replay is {} bytes behind receive (limit {})", backlog, kMaxReplayBacklogBytes)});
        // With ANY 1 quorum a commit may be on one standby only: promoting the other would lose it.
        const NodeProbe* ahead = nullptr;
        for (const auto& p : probes)
            if (p.role() == "replica" && p.name != target->name && p.received() > target->received() &&
                (!ahead || p.received() > ahead->received()))
                ahead = &p;
        d.checks.push_back(
            {"target has the most WAL", ahead == nullptr, true,
             ahead ? fmt::format("{} received more WAL ({}) than {} ({}): promoting {} would lose those "
                                 "transactions; fail over to {}",
                                 ahead->name, pg::format_lsn(ahead->received()), target->name,
                                 pg::format_lsn(target->received()), target->name, ahead->name)
                   : "no other standby received more WAL"});
    }
    d.allowed = true;
    for (const auto& c : d.checks) {
        if (c.ok || (force && c.overridable)) continue;
        d.allowed = false;
        if (d.refusal.empty()) d.refusal = c.detail;
    }
    return d;
}

Result<Endpoint> dsn_endpoint(const std::string& dsn) {
    auto keys = parse_conninfo(dsn);
    if (!keys) return keys.error();
    Endpoint e;
    e.host = keys->count("host") ? keys->at("host") : (keys->count("hostaddr") ? keys->at("hostaddr") : "");
    try {
        e.port = keys->count("port") ? std::stoi(keys->at("port")) : 5432;
    } catch (const std::exception&) {
        return make_error(ErrorCode::kInvalidArgument, "bad port in " + dsn);
    }
    return e;
}

namespace {

// The body of repoint_pgbouncer on an open console. `pause`: PAUSE/RESUME the repointed databases here (false
// when the caller holds the whole pooler paused, as a switchover does).
Result<std::string> repoint_with(pg::SyncConnection& admin, bool pause, const std::string& ini_path,
                                 const std::vector<Endpoint>& from, const Endpoint& to) {
    if (!fs::exists(ini_path))
        return make_error(
            ErrorCode::kUnavailable,
            fmt::format("PGBOUNCER_INI {} is not on this host: run this where PgBouncer runs", ini_path));
    auto repointed = repoint_databases(read_text(ini_path), from, to);
    if (repointed.databases.empty()) return std::string();
    for (const auto& db : repointed.databases)
        if (!valid_db_name(db)) return make_error(ErrorCode::kInvalidArgument, "odd database name " + db);
    // PAUSE waits for the server connections to be released; with the old primary gone they already are.
    std::vector<std::string> paused;
    Status s;
    for (const auto& db : repointed.databases) {
        if (!pause) break;
        s = admin.exec_script("pgbouncer.pause", "PAUSE " + db);
        if (!s) break;
        paused.push_back(db);
    }
    if (s) s = replace_file(ini_path, repointed.text);
    if (s) s = admin.exec_script("pgbouncer.reload", "RELOAD");
    for (const auto& db : paused) {
        auto r = admin.exec_script("pgbouncer.resume", "RESUME " + db);
        if (s && !r) s = r;
    }
    if (!s) return s.error();
    return fmt::format("{} -> {}:{}", fmt::join(repointed.databases, ", "), to.host, to.port);
}

// Every node's endpoint but `target`'s: what PgBouncer may point at now.
std::vector<Endpoint> endpoints_except(const std::vector<NodeEndpoint>& nodes, const std::string& target) {
    std::vector<Endpoint> from;
    for (const auto& n : nodes)
        if (n.name != target)
            if (auto e = dsn_endpoint(n.url)) from.push_back(*e);
    return from;
}

}  // namespace

Result<std::string> repoint_pgbouncer(const std::string& admin_url, const std::string& ini_path,
                                      const std::vector<Endpoint>& from, const Endpoint& to) {
    auto admin = connect(admin_url);
    if (!admin) return make_error(ErrorCode::kUnavailable, "PgBouncer console: " + admin.error().message);
    return repoint_with(*admin, true, ini_path, from, to);
}

std::vector<std::string> failover_plan(const FailoverRequest& request, const FailoverDecision& d) {
    std::vector<std::string> plan;
    const std::string& t = d.target;
    plan.push_back(fmt::format("promote {} (pg_promote) and wait until it accepts writes", t));
    std::vector<std::string> follow;
    for (const auto& s : d.standbys)
        if (std::find(d.primaries.begin(), d.primaries.end(), s) == d.primaries.end() &&
            std::find(d.down.begin(), d.down.end(), s) == d.down.end())
            follow.push_back(s);
    plan.push_back(
        fmt::format("on {}: replication slots for the standbys; if synchronous replication is on, "
                    "synchronous_standby_names = '{}'",
                    t, sync_standby_names(d.standbys)));
    for (const auto& probe_name : follow)
        plan.push_back(
            fmt::format("repoint {} at {} (primary_conninfo, primary_slot_name, reload)", probe_name, t));
    for (const auto& name : d.down)
        plan.push_back(fmt::format(
            "{} is down and keeps its old upstream: when it is back, `ywctl rejoin {}` on its host", name,
            name));
    if (!request.pgbouncer_admin_url.empty() && !request.pgbouncer_ini.empty())
        plan.push_back(fmt::format("PgBouncer: PAUSE, point [databases] of {} at {}, RELOAD, RESUME",
                                   request.pgbouncer_ini, t));
    else
        plan.push_back("PgBouncer: not configured (PGBOUNCER_ADMIN_URL, PGBOUNCER_INI): repoint it yourself");
    return plan;
}

FailoverReport execute_failover(const FailoverRequest& request, const FailoverDecision& d) {
    FailoverReport report;
    report.target = d.target;
    Steps step(report, request.progress);
    const std::string target_url = url_of(request.nodes, d.target);
    auto before = node::probe_all(request.nodes);
    const bool sync = d.sync || request.sync;
    auto finish = [&](bool ok) {
        report.topology = node::probe_all(request.nodes);
        return step.finish(ok);
    };

    if (!step("promote " + d.target, [&](std::string& detail) -> Status {
            auto conn = connect(target_url);
            if (!conn) return conn.error();
            auto r = conn->query(pg::queries::kPromote, {std::to_string(request.promote_timeout.count())});
            if (!r) return r.error();
            if (r->text(0, "promoted") != "t")
                return fail(fmt::format("{} did not finish promoting within {} s", d.target,
                                        request.promote_timeout.count()));
            detail = "pg_promote";
            return {};
        }))
        return finish(false);

    if (!step("wait until " + d.target + " accepts writes", [&](std::string& detail) -> Status {
            std::string last;
            bool ok = wait_until(request.promote_timeout, [&] {
                auto conn = connect(target_url, 2s);
                if (!conn) {
                    last = conn.error().message;
                    return false;
                }
                auto r = conn->query(pg::queries::kInRecovery);
                return r && r->text(0, "in_recovery") == "f";
            });
            if (!ok) return fail("still in recovery: " + last);
            detail = "pg_is_in_recovery() = false";
            report.promoted_at = Clock::now();
            return {};
        }))
        return finish(false);

    std::vector<std::string> follow;  // reachable standbys that must follow the new primary
    for (const auto& p : before)
        if (p.name != d.target && p.role() == "replica") follow.push_back(p.name);

    if (!step("slots and synchronous_standby_names on " + d.target, [&](std::string& detail) -> Status {
            auto conn = connect(target_url);
            if (!conn) return conn.error();
            for (const auto& n : follow)
                if (auto s = ensure_slot(*conn, n); !s) return s;
            detail = fmt::format("slots for {}",
                                 follow.empty() ? "none" : fmt::format("{}", fmt::join(follow, ", ")));
            if (sync) {
                if (auto s = set_sync_names(*conn, d.standbys); !s) return s;
                detail += "; synchronous_standby_names = '" + sync_standby_names(d.standbys) + "'";
            }
            return {};
        }))
        return finish(false);

    for (const auto& n : follow) {
        const NodeProbe* p = find(before, n);
        if (!step(fmt::format("repoint {} at {}", n, d.target), [&](std::string& detail) -> Status {
                detail = "primary_conninfo, primary_slot_name, pg_reload_conf()";
                std::string names;
                if (sync) {
                    std::vector<std::string> others;
                    for (const auto& node : request.nodes)
                        if (node.name != n) others.push_back(node.name);
                    names = sync_standby_names(others);
                    detail += ", synchronous_standby_names = '" + names + "' for when it is promoted";
                }
                return repoint_standby(n, p->url, target_url, p->primary_conninfo, names);
            }))
            return finish(false);
    }

    if (!request.pgbouncer_admin_url.empty() && !request.pgbouncer_ini.empty()) {
        if (!step("repoint PgBouncer at " + d.target, [&](std::string& detail) -> Status {
                auto to = dsn_endpoint(target_url);
                if (!to) return to.error();
                auto from = endpoints_except(request.nodes, d.target);
                auto changed =
                    repoint_pgbouncer(request.pgbouncer_admin_url, request.pgbouncer_ini, from, *to);
                if (!changed) return changed.error();
                detail =
                    changed->empty() ? "already pointed there" : "PAUSE, " + *changed + ", RELOAD, RESUME";
                report.rerouted_at = Clock::now();
                return {};
            }))
            return finish(false);
    } else {
        report.rerouted_at = Clock::now();
    }

    if (!follow.empty() &&
        !step("wait for the standbys to stream from " + d.target, [&](std::string& detail) -> Status {
            detail = fmt::format("{} streaming", fmt::join(follow, ", "));
            return node::wait_streaming(target_url, follow, request.stream_timeout);
        }))
        return finish(false);
    return finish(true);
}

// --- stop / rejoin / switchover ---

Result<std::vector<std::string>> rejoin_plan(const RejoinRequest& r) {
    if (url_of(r.nodes, r.node).empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("no node named '{}'; the nodes are: {}", r.node, node_names(r.nodes)));
    }
    if (!fs::exists(r.data_dir / "PG_VERSION"))
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("{} is not a PostgreSQL data directory (--data-dir)", r.data_dir.string()));
    auto primary = find_primary(node::probe_all(r.nodes), r.node);
    if (!primary) return primary.error();
    std::vector<std::string> plan;
    if (node::postmaster_running(r.data_dir))
        plan.push_back(fmt::format("stop {} (pg_ctl stop -m fast)", r.node));
    plan.push_back(fmt::format("keep {}'s configuration files (port, settings)", r.node));
    plan.push_back(fmt::format("create slot {}_slot on {} (the current primary)",
                               node::application_name(r.node), primary->name));
    if (!r.force_basebackup)
        plan.push_back(fmt::format("pg_rewind {} from {}; if that fails: move it aside, pg_basebackup",
                                   r.data_dir.string(), primary->name));
    else
        plan.push_back(
            fmt::format("move {} aside, pg_basebackup from {}", r.data_dir.string(), primary->name));
    plan.push_back(
        fmt::format("standby.signal, primary_conninfo -> {}, application_name {}; start; wait until "
                    "it streams",
                    primary->name, node::application_name(r.node)));
    return plan;
}

RejoinReport rejoin(const RejoinRequest& r) {
    RejoinReport report;
    Steps step(report, r.progress);
    auto finish = [&](bool ok) { return step.finish(ok); };
    auto probes = node::probe_all(r.nodes);
    auto primary = find_primary(probes, r.node);
    if (!primary) {
        report.error = primary.error().message;
        return finish(false);
    }
    report.primary = primary->name;
    const NodeProbe* self = find(probes, r.node);
    if (self && self->role() == "replica" && self->receiver_status == "streaming") {
        report.method = "already streaming";
        return finish(true);
    }

    if (!step(r.node + " is stopped", [&](std::string& detail) -> Status {
            detail = node::postmaster_running(r.data_dir) ? "pg_ctl stop -m fast" : "was not running";
            return node::stop(r.data_dir, false);
        }))
        return finish(false);

    std::map<std::string, std::string> saved;
    for (const auto& f : kConfigFiles)
        if (fs::exists(r.data_dir / f)) saved[f] = read_text(r.data_dir / f);

    if (!step("slot and checkpoint on " + primary->name, [&](std::string& detail) -> Status {
            auto conn = connect(primary->url);
            if (!conn) return conn.error();
            detail = node::slot_name(r.node) + "; CHECKPOINT (pg_rewind reads its timeline)";
            if (auto s = ensure_slot(*conn, r.node); !s) return s;
            auto checkpoint = conn->query(pg::queries::kCheckpoint);
            if (!checkpoint) return checkpoint.error();
            return {};
        }))
        return finish(false);

    bool rewound = false;
    if (!r.force_basebackup) {
        rewound = step("pg_rewind from " + primary->name, [&](std::string& detail) -> Status {
            detail = "rewound to the primary's timeline";
            // pg_rewind first finishes crash recovery in single-user mode, which refuses standby mode (a
            // half-done earlier rejoin leaves standby.signal); the signal is written again afterwards.
            std::error_code ec;
            fs::remove(r.data_dir / "standby.signal", ec);
            return node::run_postgres_program({node::pg_program("pg_rewind"), "--target-pgdata",
                                               r.data_dir.string(), "--source-server", primary->url},
                                              600s);
        });
    }
    if (rewound) {
        report.method = "pg_rewind";
    } else {
        if (!step("pg_basebackup from " + primary->name, [&](std::string& detail) -> Status {
                fs::path aside = r.data_dir;
                aside += ".old";
                std::error_code ec;
                fs::remove_all(aside, ec);
                fs::rename(r.data_dir, aside, ec);
                if (ec)
                    return fail(fmt::format("cannot move {} aside: {}", r.data_dir.string(), ec.message()));
                detail = fmt::format("old data kept in {}", aside.string());
                return node::run_postgres_program(
                    {node::pg_program("pg_basebackup"), "-d", primary->url, "-D", r.data_dir.string(), "-S",
                     node::slot_name(r.node), "-X", "stream", "-c", "fast", "--no-password"},
                    3600s);
            }))
            return finish(false);
        report.method = r.force_basebackup ? "pg_basebackup" : "pg_basebackup (pg_rewind failed)";
    }

    if (!step("configure " + r.node + " as a standby of " + primary->name,
              [&](std::string& detail) -> Status {
                  // pg_rewind and pg_basebackup copy the primary's configuration (its port, its upstream):
                  // the node keeps its own.
                  for (const auto& [f, text] : saved) {
                      std::ofstream out(r.data_dir / f, std::ios::trunc);
                      out << text;
                  }
                  std::error_code ec;
                  fs::remove(r.data_dir / "postmaster.pid", ec);
                  detail = "own configuration files restored; standby.signal";
                  std::string sync_names;
                  if (!primary->sync_names.empty()) {
                      std::vector<std::string> others;
                      for (const auto& n : r.nodes)
                          if (n.name != r.node) others.push_back(n.name);
                      sync_names = sync_standby_names(others);
                  }
                  return make_standby(r.data_dir, r.node, primary->url, sync_names);
              }))
        return finish(false);

    if (!step("start " + r.node, [&](std::string& detail) -> Status {
            detail = "pg_ctl start";
            return node::start(r.data_dir, r.log_file);
        }))
        return finish(false);

    if (!step("wait until " + r.node + " streams from " + primary->name, [&](std::string& detail) -> Status {
            detail = "streaming";
            return node::wait_streaming(primary->url, {r.node}, r.stream_timeout);
        }))
        return finish(false);
    return finish(true);
}

Result<std::vector<std::string>> switchover_plan(const SwitchoverRequest& r) {
    auto probes = node::probe_all(r.nodes);
    const NodeProbe* target = find(probes, r.target);
    if (!target) {
        return make_error(ErrorCode::kInvalidArgument, fmt::format("no node named '{}'; the nodes are: {}",
                                                                   r.target, node_names(r.nodes)));
    }
    auto primary = find_primary(probes, r.target);
    if (!primary) return primary.error();
    if (target->role() != "replica" || target->receiver_status != "streaming") {
        return make_error(ErrorCode::kConflict,
                          fmt::format("{} is not a streaming standby ({}): it cannot take over cleanly",
                                      r.target, target->reachable ? target->role() : target->error));
    }
    if (!fs::exists(r.old_primary_data / "PG_VERSION"))
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("{} is not {}'s data directory", r.old_primary_data.string(), primary->name));
    return std::vector<std::string>{
        "PgBouncer: PAUSE (writes wait, none fail)",
        fmt::format("stop {} cleanly (its shutdown checkpoint goes to the standbys)", primary->name),
        fmt::format("wait until {} received that checkpoint", r.target),
        fmt::format("promote {}; slots, synchronous_standby_names; repoint the other standbys", r.target),
        fmt::format("PgBouncer: point [databases] at {}, RELOAD, RESUME", r.target),
        fmt::format("start {} as a standby of {}", primary->name, r.target)};
}

SwitchoverReport switchover(const SwitchoverRequest& r) {
    SwitchoverReport report;
    report.target = r.target;
    Steps step(report, r.progress);
    auto finish = [&](bool ok) { return step.finish(ok); };
    auto probes = node::probe_all(r.nodes);
    auto primary = find_primary(probes, r.target);
    if (!primary) {
        report.error = primary.error().message;
        return finish(false);
    }
    report.old_primary = primary->name;
    const std::string target_url = url_of(r.nodes, r.target);
    bool bouncer = !r.pgbouncer_admin_url.empty() && !r.pgbouncer_ini.empty();
    std::optional<pg::SyncConnection> console;
    auto resume = [&] {
        if (console) (void)console->exec_script("pgbouncer.resume", "RESUME");
    };

    if (bouncer && !step("PgBouncer PAUSE", [&](std::string& detail) -> Status {
            auto c = connect(r.pgbouncer_admin_url);
            if (!c) return c.error();
            console.emplace(std::move(*c));
            detail = "writes wait in PgBouncer";
            return console->exec_script("pgbouncer.pause", "PAUSE");
        })) {
        return finish(false);
    }

    std::string checkpoint;
    if (!step("stop " + primary->name + " cleanly", [&](std::string& detail) -> Status {
            if (auto s = node::stop(r.old_primary_data, false); !s) return s;
            auto lsn = node::controldata_value(r.old_primary_data, "Latest checkpoint location");
            if (!lsn) return fail("cannot read the shutdown checkpoint with pg_controldata");
            checkpoint = *lsn;
            detail = "shutdown checkpoint at " + checkpoint;
            return {};
        })) {
        resume();
        return finish(false);
    }

    if (!step("wait until " + r.target + " received " + checkpoint, [&](std::string& detail) -> Status {
            auto parsed = pg::parse_lsn(checkpoint);
            long long want = parsed ? static_cast<long long>(*parsed) : -1;
            long long got = -1;
            bool ok = wait_until(r.catch_up_timeout, [&] {
                auto p = node::probe({r.target, target_url});
                got = static_cast<long long>(p.received());
                return got >= want;
            });
            detail = fmt::format("received {} bytes ≥ {}", got, want);
            if (!ok)
                return fail(
                    fmt::format("{} did not receive the shutdown checkpoint; {} stays down — start "
                                "it again to undo",
                                r.target, primary->name));
            return {};
        })) {
        resume();
        return finish(false);
    }

    FailoverRequest fr;
    fr.nodes = r.nodes;
    fr.target = r.target;
    fr.sync = !primary->sync_names.empty();
    fr.progress = r.progress;  // PgBouncer is repointed below, on the console that holds it paused
    auto decision = decide_failover(node::probe_all(r.nodes), r.target, true);
    if (!decision || !decision->allowed) {
        report.error = decision ? decision->refusal : decision.error().message;
        resume();
        return finish(false);
    }
    auto promoted = execute_failover(fr, *decision);
    for (auto& s : promoted.steps) report.steps.push_back(s);
    if (!promoted.ok) {
        resume();
        return finish(false);
    }
    if (bouncer && !step("repoint PgBouncer at " + r.target + ", RESUME", [&](std::string& detail) -> Status {
            auto to = dsn_endpoint(target_url);
            if (!to) return to.error();
            auto changed =
                repoint_with(*console, false, r.pgbouncer_ini, endpoints_except(r.nodes, r.target), *to);
            resume();
            if (!changed) return changed.error();
            detail = changed->empty() ? "already pointed there" : *changed;
            return {};
        })) {
        resume();
        return finish(false);
    }

    RejoinRequest rr;
    rr.nodes = r.nodes;
    rr.node = primary->name;
    rr.data_dir = r.old_primary_data;
    rr.log_file = r.old_primary_log;
    rr.progress = r.progress;
    auto rejoined = rejoin(rr);
    for (auto& s : rejoined.steps) report.steps.push_back(s);
    if (!rejoined.ok) {
        report.error = rejoined.error;
        return finish(false);
    }
    return finish(true);
}

}  // namespace yw::ops
