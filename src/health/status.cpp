// The status page's graded rows and partitions, and the page itself (status_page.html, compiled in).
#include "health/status.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <cmath>

#include "common/sha256.hpp"
#include "pg/ops_queries.hpp"
#include "pg/row.hpp"

namespace yw::health {
namespace json = boost::json;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr std::string_view kInfo = "info";  // shown, not graded

// 1000 → "1000", 200000000 → "200 M".
std::string number_text(double v) {
    return v >= 1e6 ? fmt::format("{:g} M", v / 1e6) : fmt::format("{:g}", v);
}

// "healthy < 1000 ms · degraded 1000–5000 ms · unhealthy > 5000 ms", as common/verdict.hpp's grade() reads.
std::string rule(double degraded_at, double unhealthy_above, std::string_view unit) {
    auto low = number_text(degraded_at), high = number_text(unhealthy_above);
    return fmt::format("healthy < {0}{2} · degraded {0}–{1}{2} · unhealthy > {1}{2}", low, high, unit);
}

std::string bytes_text(double bytes) {
    if (bytes >= 1024 * kMiB) return fmt::format("{:.1f} GB", bytes / (1024 * kMiB));
    if (bytes >= kMiB) return fmt::format("{:.1f} MB", bytes / kMiB);
    return fmt::format("{:.0f} kB", bytes / 1024);
}

std::string seconds_text(double s) {
    if (s >= 3600) return fmt::format("{:.1f} h", s / 3600);
    if (s >= 60) return fmt::format("{:.1f} min", s / 60);
    return fmt::format("{:.1f} s", s);
}

struct Rows {
    json::array out;
    void add(std::string_view service, std::string field, std::string value, std::string_view grade,
             std::string threshold) {
        out.push_back({{"service", service},
                       {"field", std::move(field)},
                       {"value", std::move(value)},
                       {"grade", grade},
                       {"threshold", std::move(threshold)}});
    }
    void add(std::string_view service, std::string field, std::string value, Verdict v,
             std::string threshold) {
        add(service, std::move(field), std::move(value), to_string(v), std::move(threshold));
    }
};

void database_rows(Rows& rows, const Reading& reading) {
    const auto* p = reading.primary ? &*reading.primary : nullptr;
    bool connected = p && p->connected;
    std::string value = connected ? "true" : "false";
    if (!p) {
        value += " — no node answers as the primary";
    } else if (!p->error.empty()) {
        value += " — " + p->error;
    }
    if (p && p->name != "primary") value += " (" + p->name + ")";
    rows.add("database", "primary.connected", value, connected ? Verdict::kHealthy : Verdict::kUnhealthy,
             "healthy: true · unhealthy: false");
    rows.add("database", "primary.latency",
             p && p->latency_ms ? fmt::format("{:.1f} ms", *p->latency_ms) : std::string("—"), kInfo,
             "not graded (the probe's round trip)");
    for (const auto& r : reading.replicas) {
        std::string v;
        if (!r.connected) {
            v = "not connected" + (r.error.empty() ? "" : ": " + r.error);
        } else {
            v = r.lag_ms ? fmt::format("{} ms", *r.lag_ms) : "unknown";
            if (r.replay_paused) v += ", replay paused";
            if (r.fenced) v += ", fenced: " + r.error;
        }
        rows.add("database", "replicas[" + r.name + "].lag", v, grade_replica(r),
                 rule(kReplicaLagDegradedMs, kReplicaLagUnhealthyMs, " ms") +
                     " · down, paused or fenced: degraded");
    }
}

void service_rows(Rows& rows, const Reading& reading) {
    const auto& rd = reading.redis;
    if (!rd.configured) {
        rows.add("redis", "status", "not configured (REDIS_URL)", kInfo, "");
    } else if (!rd.ok) {
        rows.add("redis", "status", "unreachable: " + rd.error, Verdict::kUnhealthy, "must answer INFO");
    } else {
        rows.add("redis", "memory", memory_text(rd.used_memory), grade_redis_memory(rd.used_memory),
                 rule(kRedisMemoryDegradedMb, kRedisMemoryUnhealthyMb, " MB"));
        rows.add("redis", "evictions", std::to_string(rd.evicted_keys), grade_evictions(rd.evicted_keys),
                 fmt::format("healthy 0 · degraded > 0 · unhealthy > {:g}", kEvictionsUnhealthy));
        rows.add("redis", "keyspace", keyspace_text(rd.keys), kInfo, "not graded");
    }
    const auto& pb = reading.pgbouncer;
    if (!pb.configured) {
        rows.add("pgbouncer", "status", "not configured (PGBOUNCER_ADMIN_URL)", kInfo, "");
    } else if (!pb.ok) {
        rows.add("pgbouncer", "status", "unreachable: " + pb.error, Verdict::kUnhealthy,
                 "must answer SHOW POOLS");
    } else {
        rows.add("pgbouncer", "waiting_clients", std::to_string(pb.waiting_clients), grade_pgbouncer(pb),
                 fmt::format("healthy 0 · degraded > 0 · unhealthy > {:g}", kWaitingClientsUnhealthy));
        rows.add("pgbouncer", "active_connections", std::to_string(pb.active_connections), kInfo,
                 "not graded");
    }
    const auto& q = reading.queries;
    if (q.available) {
        bool evidence = q.summary.total >= kQueriesGradedFrom;
        auto graded = [&](Verdict v) { return evidence ? to_string(v) : kInfo; };
        std::string note = evidence ? "" : fmt::format(" (graded from {} statements)", kQueriesGradedFrom);
        rows.add("queries", "p95_latency", fmt::format("{:.1f} ms", q.summary.p95_ms),
                 graded(grade(q.summary.p95_ms, kP95DegradedMs, kP95UnhealthyMs)),
                 rule(kP95DegradedMs, kP95UnhealthyMs, " ms") + note);
        rows.add("queries", "slow_query_percentage", fmt::format("{:.2f} %", q.summary.slow_percent),
                 graded(grade(q.summary.slow_percent, kSlowQueryDegradedPercent, kSlowQueryUnhealthyPercent)),
                 rule(kSlowQueryDegradedPercent, kSlowQueryUnhealthyPercent, " %") + note);
    }
}

void dba_rows(Rows& rows, const Reading& reading) {
    const auto& d = reading.dba;
    if (!d.ok) {
        rows.add("sessions", "primary's catalog", "unreadable: " + d.error, Verdict::kDegraded,
                 "read on the primary every round");
        return;
    }
    for (const auto& s : d.slots) {
        std::string v = s.active ? "active" : "inactive";
        if (s.retained_bytes) v += ", retains " + bytes_text(static_cast<double>(*s.retained_bytes));
        rows.add(
            "replication_slots", s.name, v, grade_slot(s),
            "inactive: degraded · retained WAL " + rule(kSlotRetainedDegradedBytes / (1024 * kMiB),
                                                        kSlotRetainedUnhealthyBytes / (1024 * kMiB), " GB"));
    }
    rows.add("transaction_ids", "xid_age (" + d.xid_database + ")", fmt::format("{}", d.xid_age),
             grade_xid_age(d.xid_age), rule(kXidAgeDegraded, kXidAgeUnhealthy, ""));
    rows.add("sessions", "longest_transaction", seconds_text(d.longest_transaction_s),
             grade_transaction(d.longest_transaction_s),
             rule(kTransactionDegradedS, kTransactionUnhealthyS, " s"));
    rows.add("sessions", "longest_idle_in_transaction", seconds_text(d.longest_idle_in_transaction_s),
             grade_idle_in_transaction(d.longest_idle_in_transaction_s),
             rule(kIdleInTransactionDegradedS, kIdleInTransactionUnhealthyS, " s"));
    if (auto v = grade_archiving(d)) {
        std::string text =
            d.archive_failing ? fmt::format("failing ({} failures)", d.archive_failed_count) : "ok";
        if (d.archived_s_ago)
            text += ", last segment " + seconds_text(static_cast<double>(*d.archived_s_ago)) + " ago";
        rows.add("wal_archiving", "archive_command", text, *v, "failing: degraded (ywctl backup check)");
    }
}

void partition_rows(Rows& rows, const Reading& reading) {
    const auto& p = reading.partitions;
    if (!p.available) return;
    Verdict ahead = Verdict::kHealthy;
    if (p.months_ahead && *p.months_ahead < 0) {
        ahead = Verdict::kUnhealthy;
    } else if (p.months_ahead && *p.months_ahead < kPartitionsAheadDegraded) {
        ahead = Verdict::kDegraded;
    }
    rows.add("partitions", "months_ahead", p.months_ahead ? std::to_string(*p.months_ahead) : "unknown",
             ahead,
             fmt::format("healthy ≥ {} · degraded < {} · unhealthy: no current month",
                         kPartitionsAheadDegraded, kPartitionsAheadDegraded));
    std::string v =
        p.last_success_s_ago ? seconds_text(static_cast<double>(*p.last_success_s_ago)) + " ago" : "never";
    if (!p.last_error.empty()) v += " — last error: " + p.last_error;
    rows.add("partitions", "maintainer_last_success", v, p.stale ? Verdict::kDegraded : Verdict::kHealthy,
             fmt::format("degraded after {} intervals without success", kMaintainerStaleIntervals));
}

// base64 of a digest, for a CSP source ('sha256-…').
std::string base64(const Sha256Digest& digest) {
    std::string out(4 * ((digest.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), digest.data(),
                            static_cast<int>(digest.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

// The text between the first <tag> and </tag> of the page.
std::string_view element_text(std::string_view page, std::string_view tag) {
    auto open = page.find("<" + std::string(tag) + ">");
    if (open == std::string_view::npos) return {};
    open += tag.size() + 2;
    auto close = page.find("</" + std::string(tag) + ">", open);
    return close == std::string_view::npos ? std::string_view{} : page.substr(open, close - open);
}

constexpr char kPage[] =
#include "health/status_page.inc"
    ;

}  // namespace

json::array graded_fields(const Reading& reading) {
    Rows rows;
    database_rows(rows, reading);
    service_rows(rows, reading);
    dba_rows(rows, reading);
    partition_rows(rows, reading);
    return std::move(rows.out);
}

json::object partitions_json(const pg::ResultSet& months, const pg::ResultSet& archived) {
    json::array list;
    for (int i = 0; i < months.rows(); ++i) {
        pg::Row r(months, i);
        auto bytes = r.int64("bytes");
        list.push_back({{"name", r.text("name")},
                        {"bound", r.text("bound")},
                        {"bytes", bytes},
                        {"size", bytes_text(static_cast<double>(bytes))},
                        {"rows", r.int64("rows")},
                        {"grade", to_string(grade(static_cast<double>(bytes), kPartitionDegradedBytes,
                                                  kPartitionUnhealthyBytes))}});
    }
    json::array gone;
    for (int i = 0; i < archived.rows(); ++i)
        gone.push_back(json::string(pg::Row(archived, i).view("month")));
    return {{"months", std::move(list)},
            {"archived", std::move(gone)},
            {"threshold", rule(kPartitionDegradedBytes / kMiB, kPartitionUnhealthyBytes / kMiB, " MB")}};
}

boost::asio::awaitable<json::object> partitions_json(pg::Cluster& db) {
    const pg::Params none;
    auto months = co_await db.exec(pg::Intent::kRead, pg::queries::kPartitionsHealth, none);
    if (!months) co_return json::object{{"error", "cannot read the partitions: " + months.error().message}};
    auto archived = co_await db.exec(pg::Intent::kRead, pg::queries::kPartitionsArchived, none);
    if (!archived)
        co_return json::object{{"error", "cannot read the archived months: " + archived.error().message}};
    co_return partitions_json(*months, *archived);
}

std::string_view status_page() { return {kPage, sizeof(kPage) - 1}; }

const std::string& status_page_csp() {
    static const std::string csp = [] {
        auto page = status_page();
        return fmt::format(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            base64(Sha256::of(element_text(page, "script"))),
            base64(Sha256::of(element_text(page, "style"))));
    }();
    return csp;
}

}  // namespace yw::health
