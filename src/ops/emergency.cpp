// The emergency diagnoses: the replication, pool and activity facts judged for RB-20 … RB-22.
#include "ops/emergency.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include "node/control.hpp"
#include "ops/pgbouncer.hpp"
#include "ops/replication.hpp"
#include "pg/sync_connection.hpp"

namespace yw::ops {
namespace {

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

// SELECT 1 with a client-side deadline: PgBouncer in front of a dead primary keeps a client waiting for a
// server connection (up to its query_wait_timeout, 120 s by default), and no server-side timeout can end that
// wait.
bool ping_within(const std::string& url, std::chrono::seconds timeout, std::string& error) {
    auto conn = pg::SyncConnection::open(url, timeout);
    if (!conn) {
        error = conn.error().message;
        return false;
    }
    PGconn* c = conn->raw();
    if (PQsendQuery(c, std::string(pg::queries::kHealthPing.sql).c_str()) != 1) {
        error = PQerrorMessage(c);
        return false;
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (PQconsumeInput(c) != 1) {
            error = PQerrorMessage(c);
            return false;
        }
        if (!PQisBusy(c)) break;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            error = fmt::format("no answer within {} s", timeout.count());
            return false;
        }
        pollfd pfd{PQsocket(c), POLLIN, 0};
        poll(&pfd, 1, static_cast<int>(left.count()));
    }
    bool ok = true;
    while (PGresult* res = PQgetResult(c)) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            ok = false;
            error = PQresultErrorMessage(res);
        }
        PQclear(res);
    }
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    return ok;
}

bool slot_usable(const Slot* slot) { return slot && slot->wal_status != "lost"; }

}  // namespace

Diagnosis diagnose_db_down(const Config& config, std::chrono::seconds timeout) {
    Diagnosis d;
    Report& r = d.report;
    r.title = "Database down? (RB-20)";
    auto snap = collect_replication(config.admin_urls, timeout);
    r.data = to_json(snap);
    for (const auto& n : snap.nodes) {
        std::string role = !n.reachable ? "down" : n.in_recovery ? "replica" : "primary";
        std::string where;
        if (n.current_lsn) where = "at " + format_lsn(*n.current_lsn);
        if (n.replay_lsn) where = "replayed " + format_lsn(*n.replay_lsn);
        r.add({"node " + n.name, n.reachable ? Level::kOk : Level::kCritical, role, "answers",
               n.reachable ? where : n.error});
    }
    // The application's own path: PgBouncer (or whatever DATABASE_URL names) to the primary.
    std::string app_error;
    bool app_ok = ping_within(config.database_url, timeout, app_error);
    if (snap.primary) {
        r.add({"primary", Level::kOk, snap.nodes[*snap.primary].name, "one node not in recovery", ""});
        r.add({"DATABASE_URL SELECT 1", app_ok ? Level::kOk : Level::kCritical, app_ok ? "ok" : "fails", "ok",
               app_error});
        if (!app_ok) {
            r.recommend(
                "ywctl emergency pool-exhausted   # the primary is up: the path to it (PgBouncer) is not");
        }
        for (size_t i : snap.extra_primaries) {
            r.add({snap.nodes[i].name + " role", Level::kCritical, "primary", "replica", "split brain"});
            r.recommend("ywctl emergency replica-failure");
        }
        r.data["failover_to"] = nullptr;
        return d;
    }
    r.add({"primary", Level::kCritical, "none", "one node not in recovery",
           "no node answers as the primary within " + std::to_string(timeout.count()) + " s"});
    r.add({"DATABASE_URL SELECT 1", app_ok ? Level::kOk : Level::kCritical, app_ok ? "ok" : "fails", "ok",
           app_error});
    // RB-2's first check: is the primary really down, or only unreachable from here? A replica whose WAL
    // receiver still streams is talking to a live primary; promoting it would split the brain.
    std::vector<std::string> still_streaming;
    for (const auto& n : snap.nodes) {
        if (n.reachable && n.in_recovery && n.receiver_status == "streaming")
            still_streaming.push_back(n.name);
    }
    if (!still_streaming.empty()) {
        r.data["failover_to"] = nullptr;
        r.add({"replicas still streaming from the primary", Level::kCritical, join(still_streaming), "none",
               "the primary is alive: only this host cannot reach it"});
        r.recommend(
            "do NOT fail over: " + join(still_streaming) +
            " still stream(s) from the primary; check the network, DNS, firewall and pg_hba.conf between "
            "here and the primary, and the DSN in DATABASE_ADMIN_URLS");
        return d;
    }
    auto best = best_failover_candidate(snap);
    if (!best) {
        r.data["failover_to"] = nullptr;
        r.add({"failover candidate", Level::kCritical, "none", "a reachable replica",
               "no replica answers either"});
        r.recommend(
            "on the primary's host: pg_ctl -D <data> start (or systemctl start postgresql); read its log");
        r.recommend("check the disk of the data directory: df -h <data>; a full disk stops PostgreSQL");
        r.recommend("if it cannot start within 15 minutes: restore from backup (RB-20 'If Recovery Fails')");
        return d;
    }
    const NodeProbe& to = snap.nodes[*best];
    r.data["failover_to"] = to.name;
    r.add({"failover candidate", Level::kWarning, to.name, "the replica with the most WAL replayed",
           fmt::format("replayed {}, received {}", to.replay_lsn ? format_lsn(*to.replay_lsn) : "?",
                       to.receive_lsn ? format_lsn(*to.receive_lsn) : "?")});
    d.action = {"failover", "--to", to.name};
    r.recommend("ywctl " + join(d.action) +
                "   # first make sure the old primary is down, not just unreachable from here (split brain)");
    return d;
}

Diagnosis diagnose_pool_exhausted(const Config& config, int min_duration_s, std::chrono::seconds timeout) {
    Diagnosis d;
    auto snap = collect_leaks(config, min_duration_s, timeout);
    d.report = assess_leaks(snap, min_duration_s);
    Report& r = d.report;
    r.title = "Pool exhausted? (RB-21)";
    r.next_steps.clear();
    if (!snap.pools.reachable) {
        r.recommend(
            "restart PgBouncer on its host (systemctl restart pgbouncer): clients reconnect, open "
            "transactions are lost");
        return d;
    }
    r.add({"clients waiting (SHOW CLIENTS)", waiting_level(snap.clients_waiting),
           std::to_string(snap.clients_waiting), "0 (critical > 10)",
           fmt::format("{} server connections active", snap.servers_active)});
    for (const auto& b : snap.long_running) d.terminate_pids.push_back(b.pid);
    if (!d.terminate_pids.empty()) {
        d.action = {"emergency", "pool-exhausted", "--terminate-long", "--min-duration",
                    std::to_string(min_duration_s)};
        r.recommend(fmt::format("ywctl {}   # ends the {} session(s) listed (RB-21 step 3)", join(d.action),
                                d.terminate_pids.size()));
        for (const auto& b : snap.long_running)
            r.recommend(fmt::format("ywctl pool leaks --terminate {}   # {}", b.pid, describe(b)));
    }
    long long waiting = snap.clients_waiting;
    long long size = snap.pools.default_pool_size();
    for (const auto& p : snap.pools.pools) {
        waiting = std::max(waiting, p.cl_waiting);
        size = std::max(size, p.pool_size);
    }
    if (waiting > 0 && d.terminate_pids.empty())
        r.recommend(fmt::format(
            "ywctl pool resize {}   # RB-6: nothing is stuck, the load needs more servers", size + 25));
    if (waiting > 0)
        r.recommend("if still exhausted: restart PgBouncer on its host (systemctl restart pgbouncer)");
    return d;
}

Diagnosis diagnose_replica_failure(const Config& config, std::chrono::seconds timeout) {
    Diagnosis d;
    Report& r = d.report;
    r.title = "Replica failure? (RB-22)";
    auto snap = collect_replication(config.admin_urls, timeout);
    r.data = to_json(snap);
    if (!snap.primary) {
        r.add({"primary", Level::kCritical, "none", "one node not in recovery",
               "no node answers as the primary"});
        r.recommend("ywctl emergency db-down");
        return d;
    }
    const std::string primary = snap.nodes[*snap.primary].name;
    r.add({"primary", Level::kOk, primary, "one node not in recovery", ""});
    std::vector<std::string> to_rebuild;
    for (size_t i = 0; i < snap.nodes.size(); ++i) {
        if (i == *snap.primary) continue;
        const NodeProbe& n = snap.nodes[i];
        const Walsender* w = walsender_of(snap, n.name);
        const Slot* slot = slot_of(snap, n.name);
        std::string slot_text = !slot ? "missing" : slot->active ? "active" : "inactive";
        if (slot && !slot->wal_status.empty()) slot_text += ", wal " + slot->wal_status;
        r.add({n.name + " slot " + node::slot_name(n.name), slot_usable(slot) ? Level::kOk : Level::kCritical,
               slot_text, "exists, WAL not lost",
               !slot ? "without its slot the primary may recycle WAL the replica still needs"
               : slot->wal_status == "lost" ? "the WAL the replica needs is gone: only a rebuild helps"
                                            : ""});
        if (!n.reachable && w && w->state == "streaming") {
            r.add({n.name, Level::kWarning, "unreachable from here", "streaming",
                   "the primary still streams to it: a network or DSN problem between here and it, not a "
                   "replication failure (" +
                       n.error + ")"});
            continue;
        }
        if (!n.reachable) {
            r.add({n.name, Level::kCritical, "down", "streaming", n.error});
            if (slot_usable(slot)) {
                r.recommend(
                    fmt::format("on {}'s host: start PostgreSQL (pg_ctl -D <data> start or systemctl start "
                                "postgresql); its slot kept the WAL it needs",
                                n.name));
                r.recommend(
                    fmt::format("if it cannot start or catch up: ywctl replicas rebuild {}   # on {}'s host",
                                n.name, n.name));
            } else {
                to_rebuild.push_back(n.name);
            }
            continue;
        }
        if (!n.in_recovery) {
            r.add({n.name, Level::kCritical, "primary", "streaming",
                   "out of recovery besides " + primary + ": split brain"});
            to_rebuild.push_back(n.name);
            continue;
        }
        if (!w) {
            std::string receiver =
                n.receiver_status.empty() ? "no WAL receiver" : "receiver " + n.receiver_status;
            r.add({n.name, Level::kCritical, "not streaming", "streaming",
                   receiver +
                       ": look in its log for \"could not connect to the primary server\" or a missing WAL "
                       "segment"});
            to_rebuild.push_back(n.name);
            continue;
        }
        if (w->state == "catchup" || w->state == "startup") {
            r.add({n.name, Level::kWarning, w->state, "streaming", "catching up: it may recover by itself"});
            r.recommend("ywctl replicas check   # again in a minute: catchup should turn into streaming");
            continue;
        }
        if (w->state != "streaming") {
            r.add({n.name, Level::kCritical, w->state, "streaming", ""});
            to_rebuild.push_back(n.name);
            continue;
        }
        auto lag = effective_lag_ms(snap.primary_lsn, w->replay_lsn, w->replay_lag_ms, w->sent_lsn);
        r.add({n.name + " replay lag", lag ? lag_level(*lag) : Level::kUnknown,
               lag ? fmt::format("{} ms", *lag) : "unknown", fmt::format("< {} ms", kLagWarningMs),
               "streaming"});
        if (lag && *lag >= kLagCriticalMs)
            r.recommend(
                fmt::format("{} streams but lags: look for long queries on it (hot_standby_feedback, "
                            "max_standby_streaming_delay) and its disk I/O before rebuilding",
                            n.name));
    }
    // Slots no node of the configuration uses pin WAL on the primary until its disk fills.
    for (const auto& slot : snap.slots) {
        bool known = false;
        for (const auto& n : snap.nodes) known = known || slot.name == node::slot_name(n.name);
        if (!known && !slot.active) {
            r.add({"slot " + slot.name, Level::kWarning, "inactive, unknown", "used by a node",
                   "pins WAL on " + primary + ": drop it if no replica needs it"});
        }
    }
    for (const auto& name : to_rebuild) {
        r.recommend(fmt::format("ywctl replicas rebuild {}   # on {}'s host (RB-3)", name, name));
    }
    if (to_rebuild.size() == 1) d.action = {"replicas", "rebuild", to_rebuild.front()};
    return d;
}

}  // namespace yw::ops
