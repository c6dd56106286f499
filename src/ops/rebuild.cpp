// RB-3: stop, move aside, recreate the slot, pg_basebackup -R -S, start, wait for streaming.
#include "ops/rebuild.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "common/logging.hpp"
#include "common/process.hpp"
#include "node/control.hpp"
#include "pg/ops_queries.hpp"
#include "pg/replication_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

Error conflict(std::string message) { return make_error(ErrorCode::kConflict, std::move(message)); }
Error failed(std::string message) { return make_error(ErrorCode::kUnavailable, std::move(message)); }

std::map<std::string, std::string> parse_dsn(const std::string& dsn) {
    std::map<std::string, std::string> out;
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
    if (err) PQfreemem(err);
    if (!opts) return out;
    for (PQconninfoOption* o = opts; o->keyword; ++o) {
        if (o->val && *o->val) out[o->keyword] = o->val;
    }
    PQconninfoFree(opts);
    return out;
}

using node::pg_program;

std::string utc_stamp() {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &utc);
    return buf;
}

// primary_conninfo for the rebuilt node: how to reach the source, under the node's application_name.
std::string primary_conninfo(const std::string& source_url, const std::string& application_name) {
    auto p = parse_dsn(source_url);
    std::string out;
    for (const char* key : {"host", "hostaddr", "port", "user", "password", "sslmode", "sslrootcert"}) {
        auto it = p.find(key);
        if (it == p.end()) continue;
        std::string v;
        for (char c : it->second) v += (c == '\'' || c == '\\') ? std::string("\\") + c : std::string(1, c);
        out += fmt::format("{}='{}' ", key, v);
    }
    return out + "application_name=" + application_name;
}

// A string setting of postgresql.conf: single-quoted, inner quotes doubled.
std::string guc_string(const std::string& value) {
    std::string out = "'";
    for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

void say(const RebuildOptions& o, const std::string& message) {
    if (o.progress) o.progress(message);
    log::info("replicas rebuild", {{"node", o.node}, {"step", message}});
}

}  // namespace

std::string describe_dsn(const std::string& dsn) {
    auto p = parse_dsn(dsn);
    std::string out;
    for (const char* key : {"host", "hostaddr", "port", "user", "dbname"}) {
        if (auto it = p.find(key); it != p.end())
            out += fmt::format("{}{}={}", out.empty() ? "" : " ", key, it->second);
    }
    return out.empty() ? "(unparsable DSN)" : out;
}

std::optional<int> dsn_port(const std::string& dsn) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
    if (err) PQfreemem(err);
    if (!opts) return std::nullopt;
    PQconninfoFree(opts);
    auto p = parse_dsn(dsn);
    auto it = p.find("port");
    if (it == p.end()) return 5432;
    try {
        return std::stoi(it->second);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

Result<RebuildPlan> plan_rebuild(const std::vector<NodeEndpoint>& nodes, RebuildOptions options) {
    RebuildPlan plan;
    const NodeEndpoint* self = nullptr;
    std::string names;
    for (const auto& n : nodes) {
        if (n.name == options.node) self = &n;
        names += (names.empty() ? "" : ", ") + n.name;
    }
    if (!self) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("no node named '{}'; the nodes are: {}", options.node, names));
    }
    if (!options.source.empty() && options.source == options.node) {
        return make_error(ErrorCode::kInvalidArgument, "--from must name another node than the one rebuilt");
    }
    auto port = dsn_port(self->url);
    if (!port)
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("the DSN of {} does not parse", options.node));
    plan.port = *port;

    auto snap = collect_replication(nodes, options.connect_timeout);
    const NodeProbe* me = nullptr;
    std::vector<const NodeProbe*> primaries;
    for (const auto& v : snap.nodes) {
        if (v.name == options.node) {
            me = &v;
        } else if (v.reachable && !v.in_recovery) {
            primaries.push_back(&v);
        }
    }
    if (!options.source.empty()) {
        const NodeProbe* src = nullptr;
        for (const auto& v : snap.nodes) {
            if (v.name == options.source) src = &v;
        }
        if (!src) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("no node named '{}'; the nodes are: {}", options.source, names));
        }
        if (!src->reachable)
            return conflict(fmt::format("{} does not answer: {}", options.source, src->error));
        if (src->in_recovery)
            return conflict(fmt::format("{} is a replica; copy from the primary (a node not in recovery)",
                                        options.source));
        plan.source = options.source;
    } else if (primaries.empty()) {
        if (me && me->reachable && !me->in_recovery)
            return conflict(
                fmt::format("{} is the primary (the only node not in recovery); rebuild only replicas, "
                            "after a failover if need be",
                            options.node));
        return conflict("no other node is a primary to copy from (see `ywctl replicas check`)");
    } else if (primaries.size() > 1) {
        return conflict("several nodes are out of recovery (split brain); name the source with --from");
    } else {
        plan.source = primaries.front()->name;
    }
    for (const auto& n : nodes) {
        if (n.name == plan.source) plan.source_url = n.url;
    }
    plan.application_name = node::application_name(options.node);
    plan.slot = node::slot_name(options.node);

    if (options.log_file.empty()) options.log_file = options.data_dir.string() + ".log";
    plan.stop_first =
        (fs::exists(options.data_dir / "PG_VERSION") && node::postmaster_running(options.data_dir));
    std::error_code ec;
    plan.data_exists = fs::exists(options.data_dir, ec);
    if (me && me->reachable && !plan.stop_first) {
        return conflict(
            fmt::format("{} answers at its DSN but no server runs from {} here: run this on {}'s host, or "
                        "pass its --data-dir",
                        options.node, options.data_dir.string(), options.node));
    }
    if (me && me->reachable && !me->in_recovery) {
        plan.warnings.push_back(
            fmt::format("{} is running as a primary besides {} (split brain): its data since the split is "
                        "kept only in the "
                        "old data directory",
                        options.node, plan.source));
    }
    if (plan.data_exists) plan.old_dir = options.data_dir.string() + ".old-" + utc_stamp();
    for (const auto& slot : snap.slots) {
        if (slot.name == plan.slot) plan.drop_slot = true;
    }

    auto& st = plan.steps;
    if (plan.stop_first)
        st.push_back(
            fmt::format("stop {}: pg_ctl -D {} -m fast stop", options.node, options.data_dir.string()));
    if (plan.data_exists)
        st.push_back(fmt::format("keep the old data directory aside: mv {} {}", options.data_dir.string(),
                                 plan.old_dir.string()));
    if (plan.drop_slot)
        st.push_back(fmt::format("on {}: drop the slot {} once inactive (it pins WAL from the old copy)",
                                 plan.source, plan.slot));
    st.push_back(
        fmt::format("on {}: SELECT pg_create_physical_replication_slot('{}', true)", plan.source, plan.slot));
    st.push_back(fmt::format("pg_basebackup -d '{}' -D {} -R -S {} -X stream -c fast{}",
                             describe_dsn(plan.source_url), options.data_dir.string(), plan.slot,
                             options.show_progress ? " -P" : ""));
    st.push_back(
        fmt::format("postgresql.auto.conf: port = {}, primary_conninfo with application_name={}, "
                    "primary_slot_name = '{}'",
                    plan.port, plan.application_name, plan.slot));
    st.push_back(fmt::format("start {}: pg_ctl -D {} -l {} start", options.node, options.data_dir.string(),
                             options.log_file.string()));
    st.push_back(fmt::format("wait up to {} s until {} streams with write/flush/replay lag < {} ms",
                             options.wait.count(), plan.application_name, kLagWarningMs));
    plan.options = std::move(options);
    return plan;
}

Result<RebuildOutcome> run_rebuild(const RebuildPlan& plan) {
    const RebuildOptions& o = plan.options;
    auto started = std::chrono::steady_clock::now();
    RebuildOutcome outcome;
    if (running_as_root() && !lookup_user("postgres"))
        return failed("running as root needs the 'postgres' system user to run PostgreSQL");

    if (plan.stop_first) {
        say(o, "stop " + o.node);
        if (auto s = node::run_postgres_program(
                {pg_program("pg_ctl"), "-D", o.data_dir.string(), "-m", "fast", "-w", "-t", "120", "stop"},
                180s);
            !s)
            return s.error();
    }
    if (plan.data_exists) {
        say(o, "move " + o.data_dir.string() + " to " + plan.old_dir.string());
        std::error_code ec;
        fs::rename(o.data_dir, plan.old_dir, ec);
        if (ec) return failed(fmt::format("cannot move {} aside: {}", o.data_dir.string(), ec.message()));
        outcome.old_dir = plan.old_dir;
    }

    auto primary = pg::SyncConnection::open(plan.source_url, o.connect_timeout);
    if (!primary)
        return failed(fmt::format("cannot connect to {}: {}", plan.source, primary.error().message));
    // The stopped walsender releases the slot within moments; a slot another server still streams from is not
    // ours to drop.
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (true) {
        auto active = primary->query(pg::queries::kSlotActive, {plan.slot});
        if (!active) return active.error();
        if (active->empty()) break;
        if (active->text(0, "active") != "t") {
            say(o, "drop the slot " + plan.slot + " on " + plan.source);
            if (auto r = primary->query(pg::queries::kSlotDrop, {plan.slot}); !r) return r.error();
            break;
        }
        if (std::chrono::steady_clock::now() > deadline)
            return conflict(
                fmt::format("the slot {} on {} is still in use by another server", plan.slot, plan.source));
        std::this_thread::sleep_for(200ms);
    }
    say(o, "create the slot " + plan.slot + " on " + plan.source);
    if (auto r = primary->query(pg::queries::kSlotCreate, {plan.slot}); !r) return r.error();

    say(o, "pg_basebackup from " + plan.source);
    std::vector<std::string> argv{pg_program("pg_basebackup"),
                                  "-d",
                                  plan.source_url,
                                  "-D",
                                  o.data_dir.string(),
                                  "-R",
                                  "-S",
                                  plan.slot,
                                  "-X",
                                  "stream",
                                  "-c",
                                  "fast",
                                  "--no-password"};
    if (o.show_progress) argv.push_back("-P");
    if (auto s = node::run_postgres_program(argv, o.basebackup_timeout, o.show_progress ? "/dev/stderr" : "");
        !s) {
        // Nothing half-copied may look like a data directory; the old one is still aside for the operator.
        std::error_code ec;
        fs::remove_all(o.data_dir, ec);
        // The failed command line is in the message: never its password.
        Error e = s.error();
        for (size_t at; (at = e.message.find(plan.source_url)) != std::string::npos;)
            e.message.replace(at, plan.source_url.size(), describe_dsn(plan.source_url));
        return e;
    }
    std::string conf = fmt::format(
        "\n# --- ywctl replicas rebuild {} ---\n"
        "port = {}\n"
        "primary_conninfo = {}\n"
        "primary_slot_name = '{}'\n",
        o.node, plan.port, guc_string(primary_conninfo(plan.source_url, plan.application_name)), plan.slot);
    {
        std::ofstream out(o.data_dir / "postgresql.auto.conf", std::ios::app);
        if (!out) return failed("cannot append to postgresql.auto.conf of " + o.data_dir.string());
        out << conf;
    }

    say(o, "start " + o.node);
    if (auto s = node::run_postgres_program({pg_program("pg_ctl"), "-D", o.data_dir.string(), "-l",
                                             o.log_file.string(), "-w", "-t", "120", "start"},
                                            180s);
        !s)
        return s.error();

    say(o, fmt::format("wait for {} to stream with lag < {} ms", plan.application_name, kLagWarningMs));
    const std::vector<NodeEndpoint> source{{plan.source, plan.source_url}};
    auto wait_deadline = std::chrono::steady_clock::now() + o.wait;
    std::string last = "no walsender yet";
    while (true) {
        auto snap = collect_replication(source, o.connect_timeout);
        if (const Walsender* w = walsender_of(snap, o.node)) {
            auto lag = effective_lag_ms(snap.primary_lsn, w->replay_lsn, w->replay_lag_ms, w->sent_lsn);
            auto wlag = effective_lag_ms(snap.primary_lsn, w->write_lsn, w->write_lag_ms, w->sent_lsn);
            auto flag = effective_lag_ms(snap.primary_lsn, w->flush_lsn, w->flush_lag_ms, w->sent_lsn);
            last = fmt::format("state {}, replay lag {}", w->state,
                               lag ? std::to_string(*lag) + " ms" : "unknown");
            if (w->state == "streaming" && lag && wlag && flag && *lag < kLagWarningMs &&
                *wlag < kLagWarningMs && *flag < kLagWarningMs) {
                outcome.replay_lag_ms = *lag;
                break;
            }
        }
        if (std::chrono::steady_clock::now() > wait_deadline)
            return failed(
                fmt::format("{} was started but is not streaming with lag < {} ms after {} s ({}); see {}",
                            o.node, kLagWarningMs, o.wait.count(), last, o.log_file.string()));
        std::this_thread::sleep_for(500ms);
    }
    outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return outcome;
}

}  // namespace yw::ops
