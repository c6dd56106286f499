// See query_compare.hpp.
#include "ops/query_compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "common/hex.hpp"
#include "common/sha256.hpp"

namespace yw::ops {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

// One side: its statement and what was measured of it.
struct Side {
    const char* label;
    pg::Query query;
    SideResult result;
};

Result<pg::Rows> run(pg::SyncConnection& conn, const pg::Query& q, const CompareOptions& o) {
    return run_statement(conn, q, o.params, o.allow_writes);
}

Status timed(pg::SyncConnection& conn, Side& side, const CompareOptions& o) {
    if (o.allow_writes) {
        if (auto r = conn.simple_query("compare.begin", "BEGIN"); !r) return r.error();
    }
    auto started = Clock::now();
    auto rows = conn.query(side.query, o.params);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    if (o.allow_writes) (void)conn.simple_query("compare.rollback", "ROLLBACK");
    if (!rows)
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}: {}", side.label, rows.error().message));
    side.result.ms.push_back(ms);
    return {};
}

// SHA-256 of the rows sorted as text: the same rows in another order are the same answer.
std::string digest_of(const pg::Rows& rows) {
    std::vector<std::string> lines;
    lines.reserve(rows.size());
    for (const auto& row : rows.rows) {
        std::string line;
        for (const auto& cell : row) {
            line += cell ? "v" + std::to_string(cell->size()) + ":" + *cell : std::string("null");
            line += '\x1f';
        }
        lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end());
    Sha256 h;
    for (const auto& l : lines) {
        h.update(l);
        h.update("\x1e");
    }
    auto d = h.finish();
    return to_hex(d);
}

// EXPLAIN (ANALYZE, BUFFERS) of the side, once as JSON for the numbers and once as text for people.
Status explain(pg::SyncConnection& conn, Side& side, const CompareOptions& o) {
    std::string json_sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + std::string(side.query.sql);
    auto rows = run(conn, pg::Query{"compare.explain", json_sql}, o);
    if (!rows)
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}: EXPLAIN: {}", side.label, rows.error().message));
    auto document = explain_document(*rows);
    if (!document) return {};  // the timings stand without the plan
    const auto& top = *document;
    if (const auto* t = top.if_contains("Planning Time")) side.result.planning_ms = t->to_number<double>();
    if (const auto* t = top.if_contains("Execution Time")) side.result.execution_ms = t->to_number<double>();
    if (const auto* plan = top.if_contains("Plan"); plan && plan->is_object()) {
        const auto& p = plan->as_object();
        if (const auto* v = p.if_contains("Shared Hit Blocks"))
            side.result.shared_hit = v->to_number<long long>();
        if (const auto* v = p.if_contains("Shared Read Blocks"))
            side.result.shared_read = v->to_number<long long>();
        side.result.plan = plan_path(p);
    }
    std::string text_sql = "EXPLAIN (ANALYZE, BUFFERS) " + std::string(side.query.sql);
    if (auto t = run(conn, pg::Query{"compare.explain", text_sql}, o)) {
        for (const auto& r : t->rows)
            if (!r.empty() && r[0]) side.result.plan_text += *r[0] + "\n";
    }
    return {};
}

std::string ms_text(double ms) {
    return ms < 10 ? fmt::format("{:.3f} ms", ms) : fmt::format("{:.1f} ms", ms);
}

std::string p_text(double p) { return p < 0.001 ? "p < 0.001" : fmt::format("p = {:.3f}", p); }

}  // namespace

// The plan's spine, from the top down the first child to the first node that reads a relation:
// "Limit → Sort → Seq Scan on cmp_slow", "Limit → Index Scan using cmp_fast_latest on cmp_fast".
std::string plan_path(const json::object& top) {
    std::string out;
    const json::object* node = &top;
    for (int depth = 0; node && depth < 8; ++depth) {
        auto text = [&](const char* key) {
            const auto* v = node->if_contains(key);
            return v && v->is_string() ? std::string(v->as_string()) : std::string();
        };
        std::string step = text("Node Type");
        if (auto index = text("Index Name"); !index.empty()) step += " using " + index;
        auto relation = text("Relation Name");
        if (!relation.empty()) step += " on " + relation;
        out += (out.empty() ? "" : " → ") + step;
        if (!relation.empty()) break;
        const auto* children = node->if_contains("Plans");
        node = children && children->is_array() && !children->as_array().empty() &&
                       children->as_array()[0].is_object()
                   ? &children->as_array()[0].as_object()
                   : nullptr;
    }
    return out;
}

Result<json::object> explain_document(const pg::Rows& rows) {
    if (rows.empty() || rows.rows[0].empty() || !rows.rows[0][0])
        return make_error(ErrorCode::kInternal, "EXPLAIN answered nothing");
    boost::system::error_code ec;
    auto doc = json::parse(*rows.rows[0][0], ec);
    if (ec || !doc.is_array() || doc.as_array().empty() || !doc.as_array()[0].is_object())
        return make_error(ErrorCode::kInternal, "EXPLAIN's JSON is not what PostgreSQL writes");
    return std::move(doc.as_array()[0].as_object());
}

Status prepare_session(pg::SyncConnection& conn, std::chrono::milliseconds statement_timeout,
                       bool allow_writes) {
    auto setup = fmt::format("SET statement_timeout = {}; SET default_transaction_read_only = {}",
                             statement_timeout.count(), allow_writes ? "off" : "on");
    if (auto r = conn.simple_query("advisor.setup", setup); !r) return r.error();
    return {};
}

Result<pg::Rows> run_statement(pg::SyncConnection& conn, const pg::Query& q,
                               const std::vector<pg::Param>& params, bool allow_writes) {
    if (allow_writes) {
        if (auto r = conn.simple_query("advisor.begin", "BEGIN"); !r) return r.error();
    }
    auto rows = conn.query(q, params);
    if (allow_writes) (void)conn.simple_query("advisor.rollback", "ROLLBACK");
    return rows;
}

bool is_significant(const stats::Change& change, const stats::RankTest& test, double alpha,
                    double min_effect_percent) {
    bool excludes_zero = change.high < 0 || change.low > 0;
    return test.p < alpha && std::abs(change.percent) >= min_effect_percent && excludes_zero;
}

Result<Comparison> compare_queries(pg::SyncConnection& conn, const CompareOptions& o) {
    const bool around = static_cast<bool>(o.between);
    if (o.before.empty() || (o.after.empty() && !around))
        return make_error(ErrorCode::kInvalidArgument, "both --before and --after need a statement");
    if (o.runs < 2 && o.duration.count() <= 0)
        return make_error(ErrorCode::kInvalidArgument,
                          "at least 2 runs of each are needed for any statistics");
    if (auto st = prepare_session(conn, o.statement_timeout, o.allow_writes); !st) return st.error();

    Side a{"before", pg::Query{"compare.before", o.before}, {}};
    Side b{"after", pg::Query{"compare.after", around ? o.before : o.after}, {}};
    auto measure_alone = [&](Side& s) -> Status {
        for (int i = 0; i < o.warmup; ++i) {
            if (auto r = run(conn, s.query, o); !r) return r.error();
        }
        auto started = Clock::now();
        for (int i = 0;; ++i) {
            if (o.duration.count() > 0 ? Clock::now() - started >= o.duration : i >= o.runs) break;
            if (auto st = timed(conn, s, o); !st) return st.error();
        }
        return explain(conn, s, o);
    };
    // One run each first: a statement that fails (or writes without --allow-writes) stops here. Around a
    // command, the after side's first run comes after it.
    for (Side* s : {&a, &b}) {
        if (around && s == &b) {
            if (auto st = measure_alone(a); !st) return st.error();
            if (auto st = o.between(); !st) return st.error();
        }
        auto rows = run(conn, s->query, o);
        if (!rows) {
            std::string hint = rows.error().message.find("read-only transaction") != std::string::npos
                                   ? " (it writes: --allow-writes runs it in a rolled-back transaction)"
                                   : "";
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}: {}{}", s->label, rows.error().message, hint));
        }
        s->result.rows = rows->size();
        s->result.digest = digest_of(*rows);
    }
    if (around) {
        if (auto st = measure_alone(b); !st) return st.error();
    } else {
        for (int i = 0; i < o.warmup; ++i) {
            for (Side* s : {&a, &b}) {
                if (auto r = run(conn, s->query, o); !r) return r.error();
            }
        }
        // ABBA: each pair alternates which goes first, so neither always runs on the other's warm cache.
        auto started = Clock::now();
        for (int i = 0;; ++i) {
            if (o.duration.count() > 0 ? Clock::now() - started >= o.duration : i >= o.runs) break;
            Side* first = i % 2 == 0 ? &a : &b;
            Side* second = i % 2 == 0 ? &b : &a;
            if (auto st = timed(conn, *first, o); !st) return st.error();
            if (auto st = timed(conn, *second, o); !st) return st.error();
        }
        for (Side* s : {&a, &b}) {
            if (auto st = explain(conn, *s, o); !st) return st.error();
        }
    }
    for (Side* s : {&a, &b}) s->result.summary = stats::summarize(s->result.ms);
    Comparison c;
    c.before = std::move(a.result);
    c.after = std::move(b.result);
    c.change = stats::median_change(c.before.ms, c.after.ms);
    c.test = stats::mann_whitney(c.before.ms, c.after.ms);
    c.significant = is_significant(c.change, c.test, o.alpha, o.min_effect_percent);
    c.same_rows = c.before.digest == c.after.digest;
    if (c.significant) {
        c.verdict = fmt::format("after is {:.1f} % {} (median {} → {}; 95 % CI {:+.1f} … {:+.1f} %; {})",
                                std::abs(c.change.percent), c.change.percent < 0 ? "faster" : "slower",
                                ms_text(c.before.summary.median), ms_text(c.after.summary.median),
                                c.change.low, c.change.high, p_text(c.test.p));
    } else {
        c.verdict = fmt::format(
            "no significant difference (median {} → {}, {:+.1f} %; 95 % CI {:+.1f} … {:+.1f} %; "
            "{}; significant needs p < {} and at least {} %)",
            ms_text(c.before.summary.median), ms_text(c.after.summary.median), c.change.percent, c.change.low,
            c.change.high, p_text(c.test.p), o.alpha, o.min_effect_percent);
    }
    if (around) c.verdict += "; measured before and after the command, not interleaved";
    if (!c.same_rows) {
        c.verdict += fmt::format(
            "; the statements return different rows ({} vs {}): this compares two different "
            "answers, not one answer made faster",
            c.before.rows, c.after.rows);
    }
    return c;
}

namespace {

json::object side_json(const SideResult& s) {
    json::array runs;
    for (double ms : s.ms) runs.push_back(std::round(ms * 1000) / 1000);
    return {{"runs", s.summary.n},
            {"median_ms", s.summary.median},
            {"p95_ms", s.summary.p95},
            {"mean_ms", s.summary.mean},
            {"mean_ci95_ms", json::array{s.summary.mean_low, s.summary.mean_high}},
            {"min_ms", s.summary.min},
            {"max_ms", s.summary.max},
            {"rows", s.rows},
            {"rows_sha256", s.digest},
            {"plan", s.plan},
            {"shared_hit_blocks", s.shared_hit},
            {"shared_read_blocks", s.shared_read},
            {"planning_ms", s.planning_ms},
            {"execution_ms", s.execution_ms},
            {"latencies_ms", std::move(runs)}};
}

}  // namespace

json::object to_json(const Comparison& c, const CompareOptions& o) {
    return {{"before", side_json(c.before)},
            {"after", side_json(c.after)},
            {"change_percent", c.change.percent},
            {"change_ci95_percent", json::array{c.change.low, c.change.high}},
            {"mann_whitney", json::object{{"u", c.test.u}, {"z", c.test.z}, {"p", c.test.p}}},
            {"alpha", o.alpha},
            {"min_effect_percent", o.min_effect_percent},
            {"significant", c.significant},
            {"same_rows", c.same_rows},
            {"verdict", c.verdict}};
}

std::string markdown(const Comparison& c, const CompareOptions& o) {
    auto side = [&](const char* title, const std::string& sql, const SideResult& s) {
        return fmt::format(
            "## {}\n\n```sql\n{}\n```\n\n| runs | median | p95 | mean (95 % CI) | rows | buffers hit / read "
            "|\n"
            "|---|---|---|---|---|---|\n| {} | {} | {} | {} ({} … {}) | {} | {} / {} |\n\nPlan: "
            "{}\n\n```\n{}```\n\n",
            title, sql, s.summary.n, ms_text(s.summary.median), ms_text(s.summary.p95),
            ms_text(s.summary.mean), ms_text(s.summary.mean_low), ms_text(s.summary.mean_high), s.rows,
            s.shared_hit, s.shared_read, s.plan.empty() ? "—" : s.plan, s.plan_text);
    };
    std::string out = "# Query performance: before and after (RB-10)\n\n";
    out += fmt::format(
        fmt::runtime(o.between ? "Measured by `ywctl query compare --around` on one connection, before "
                                 "and after the command, after {} warm-up runs each; latencies as the "
                                 "client sees them.\n\n"
                               : "Measured by `ywctl query compare` on one connection, interleaved "
                                 "(ABBA) after {} warm-up runs each; latencies as the client sees "
                                 "them.\n\n"),
        o.warmup);
    out += side("Before", o.before, c.before);
    out += side("After", o.after, c.after);
    out += fmt::format(
        "## Improvement\n\n{}\n\n- median change: {:+.1f} % (95 % bootstrap CI {:+.1f} … {:+.1f} %)\n"
        "- Mann–Whitney U = {:.0f}, z = {:.2f}, {}\n- same rows: {}\n",
        c.verdict, c.change.percent, c.change.low, c.change.high, c.test.u, c.test.z, p_text(c.test.p),
        c.same_rows ? "yes" : "no");
    return out;
}

}  // namespace yw::ops
