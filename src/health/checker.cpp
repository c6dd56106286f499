// The database probe behind /health and the report it produces.
#include "health/checker.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/asio/this_coro.hpp>
#include <cmath>

#include "pg/queries.hpp"

namespace yw::health {
namespace asio = boost::asio;

Checker::Checker(std::string database_url, std::chrono::milliseconds timeout)
    : database_url_(std::move(database_url)), timeout_(timeout) {}

asio::awaitable<Result<pg::ResultSet>> Checker::ping(std::unique_ptr<pg::Connection>& conn,
                                                     pg::Deadline deadline) {
    if (!conn) {
        auto opened =
            co_await pg::Connection::connect(co_await asio::this_coro::executor, database_url_, deadline);
        if (!opened) co_return opened.error();
        conn = std::move(opened.value());
    }
    co_return co_await conn->exec(pg::queries::kHealthPing, {}, deadline);
}

void Checker::close() {
    std::lock_guard lock(mutex_);
    idle_.reset();
}

asio::awaitable<DatabaseStatus> Checker::check_database() {
    auto started = std::chrono::steady_clock::now();
    auto deadline = started + timeout_;
    std::unique_ptr<pg::Connection> conn;
    {
        std::lock_guard lock(mutex_);
        // A probe is in flight (it holds the connection) and one finished a moment ago: share its answer
        // rather than open a connection per request when a load balancer or a storm of checks arrives.
        if (!idle_ && last_at_ && started - *last_at_ < kShareWindow) co_return last_;
        conn = std::move(idle_);
    }
    bool reused = conn != nullptr;
    auto result = co_await ping(conn, deadline);
    if (!result && reused && conn->broken() && result.error().code == ErrorCode::kUnavailable) {
        // The idle connection may have died with a server restart since the last probe; that says nothing
        // about the server now, so ask again on a fresh connection within the same deadline.
        conn.reset();
        result = co_await ping(conn, deadline);
    }
    DatabaseStatus status;
    if (result) {
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        status = DatabaseStatus{.up = true, .latency_ms = std::round(ms * 100) / 100};
    } else {
        status = DatabaseStatus{.error = result.error().message};
    }
    std::lock_guard lock(mutex_);
    if (result && !conn->broken() && !idle_) idle_ = std::move(conn);
    last_ = status;
    last_at_ = std::chrono::steady_clock::now();
    co_return status;
}

namespace {

boost::json::object topology_report(const pg::Snapshot& t, std::vector<std::string>& problems) {
    boost::json::array nodes;
    for (const auto& n : t.nodes) {
        boost::json::object o{{"name", n.name},
                              {"role", pg::to_string(n.role)},
                              {"healthy", n.healthy},
                              {"lsn", pg::format_lsn(n.lsn)}};
        if (n.role == pg::Role::kReplica) {
            o["readable"] = n.readable;
            o["lag_ms"] = n.lag_ms;
        }
        if (!n.error.empty()) o["error"] = n.error;
        if (n.role == pg::Role::kFenced) problems.push_back(n.name + ": " + n.error);
        nodes.push_back(std::move(o));
    }
    // probe_round: rounds this instance finished; 0 while the first is running (the configuration's guess).
    boost::json::object out{{"primary", t.primary_node() ? t.primary_node()->name : ""},
                            {"probe_round", t.round},
                            {"nodes", std::move(nodes)}};
    if (t.pgbouncer_configured) {
        boost::json::object b{{"leads_to_primary", t.pgbouncer_ok}};
        if (!t.pgbouncer_ok) {
            b["error"] = t.pgbouncer_error;
            problems.push_back(t.pgbouncer_error + " (writes go straight to the primary)");
        }
        out["pgbouncer"] = std::move(b);
    }
    return out;
}

}  // namespace

namespace {
constexpr long long kMissingPartitionRecentMs = 5 * 60 * 1000;
}  // namespace

boost::json::object health_report(const DatabaseStatus& database, const pg::Snapshot* topology,
                                  std::chrono::system_clock::time_point now,
                                  const pg::MissingPartitionStats& partitions,
                                  const MaintainerView& maintainer) {
    // DATABASE_URL may lead to a dead node while the probes see the primary answering (PgBouncer not yet
    // repointed after a failover): writes then go straight to the primary, so the instance still serves.
    bool primary_seen =
        topology && topology->round > 0 && topology->primary_node() && topology->primary_node()->healthy;
    bool up = database.up || primary_seen;
    boost::json::object db;
    db["status"] = up ? "up" : "down";
    if (database.up) {
        db["latency_ms"] = database.latency_ms;
    } else {
        db["error"] = database.error;
    }
    boost::json::object checks{{"database", std::move(db)}};
    std::vector<std::string> problems;
    if (topology) checks["topology"] = topology_report(*topology, problems);
    // Writes refused for want of a partition in the last few minutes: the instance serves, but a month of
    // messages cannot be written until someone creates it.
    auto since_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() -
                    partitions.last_unix_ms;
    boost::json::object parts;
    if (partitions.last_unix_ms > 0 && since_ms < kMissingPartitionRecentMs) {
        parts = {{"status", "missing"}, {"rows_refused", partitions.rows}, {"last_refused_ms_ago", since_ms}};
        problems.push_back("writes find no partition for their rows: run `ywctl partitions ensure`");
    }
    if (const auto* m = maintainer.status) {
        const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        if (m->months_ahead) {
            parts["months_ahead"] = *m->months_ahead;
            if (*m->months_ahead < 1) {
                if (!parts.contains("status")) parts["status"] = "short";
                problems.push_back(fmt::format(
                    "{}: writes stop at the month's end; see `ywctl partitions health`",
                    *m->months_ahead < 0 ? "this month has no partition" : "no partition for next month"));
            }
        }
        if (m->last_success_unix) parts["maintainer_last_success_s_ago"] = now_s - *m->last_success_unix;
        if (!m->last_error.empty()) parts["maintainer_last_error"] = m->last_error;
        // Stale: no success (by any instance) for two intervals while this one has been trying.
        const auto stale_after = 2 * maintainer.interval.count();
        const auto since = m->last_success_unix ? m->last_success_unix : m->failing_since_unix;
        const bool stale = since && now_s - *since > stale_after;
        if (stale) {
            if (!parts.contains("status")) parts["status"] = "stale";
            problems.push_back(
                "the partition maintainer has not succeeded for two intervals: see its last error");
        }
    }
    if (!parts.empty()) {
        if (!parts.contains("status")) parts["status"] = "ok";
        checks["partitions"] = std::move(parts);
    }
    auto seconds = std::chrono::floor<std::chrono::seconds>(now);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - seconds).count();
    // fmt 9 prints a system_clock time_point in local time; RFC 3339 with Z needs gmtime.
    auto utc = fmt::gmtime(std::chrono::system_clock::to_time_t(seconds));
    boost::json::object report;
    report["status"] = !up ? "unhealthy" : problems.empty() ? "healthy" : "degraded";
    report["checks"] = std::move(checks);
    if (!problems.empty()) {
        boost::json::array list;
        for (auto& p : problems) list.push_back(boost::json::string(p));
        report["problems"] = std::move(list);
    }
    report["version"] = kVersion;
    report["timestamp"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", utc, millis);
    return report;
}

}  // namespace yw::health
