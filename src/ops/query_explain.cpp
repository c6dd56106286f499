// See query_explain.hpp.
#include "ops/query_explain.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "ops/query_compare.hpp"

namespace yw::ops {
namespace json = boost::json;

namespace {

std::string text(const json::object& node, const char* key) {
    const auto* v = node.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

double number(const json::object& node, const char* key) {
    const auto* v = node.if_contains(key);
    return v && v->is_number() ? v->to_number<double>() : 0;
}

std::string label(const json::object& node) {
    std::string out = text(node, "Node Type");
    if (auto rel = text(node, "Relation Name"); !rel.empty()) out += " on " + rel;
    return out;
}

void walk(const json::object& node, const ExplainOptions& o, std::vector<Signal>& out) {
    const std::string type = text(node, "Node Type");
    const double loops = std::max(1.0, number(node, "Actual Loops"));
    const double rows = number(node, "Actual Rows") * loops;
    const double removed = number(node, "Rows Removed by Filter") * loops;
    if (type == "Seq Scan" && rows + removed > static_cast<double>(o.seq_scan_rows)) {
        out.push_back(
            {"seq_scan", label(node),
             fmt::format("sequential scan read {:.0f} rows of {} to return {:.0f}: an index on the filtered "
                         "columns may help (ywctl index advise)",
                         rows + removed, text(node, "Relation Name"), rows)});
    } else if (removed > 1000 && removed > 10 * std::max(1.0, rows)) {
        out.push_back(
            {"rows_removed", label(node),
             fmt::format("removed {:.0f} rows by filter to return {:.0f}: the index does not cover the "
                         "filter",
                         removed, rows)});
    }
    if (double fetches = number(node, "Heap Fetches"); fetches > 0 && type == "Index Only Scan") {
        out.push_back(
            {"heap_fetches", label(node),
             fmt::format("index-only scan fetched {:.0f} heap rows: VACUUM the table so its visibility "
                         "map lets the index answer alone",
                         fetches)});
    }
    if (text(node, "Sort Space Type") == "Disk") {
        out.push_back(
            {"sort_on_disk", label(node),
             fmt::format("sort spilled {:.0f} kB to disk: more work_mem, or an index in the sort's order",
                         number(node, "Sort Space Used"))});
    }
    const auto* children = node.if_contains("Plans");
    if (!children || !children->is_array()) return;
    // An Append over many partitions of the same parent: the query has no bound the planner could prune on.
    if (type == "Append" || type == "Merge Append") {
        std::size_t scans = children->as_array().size();
        if (scans > 3) {
            out.push_back(
                {"partitions_not_pruned", type,
                 fmt::format("scans {} partitions: a bound on the partition key (created_at) lets the "
                             "planner skip the others",
                             scans)});
        }
    }
    for (const auto& child : children->as_array())
        if (child.is_object()) walk(child.as_object(), o, out);
}

}  // namespace

std::vector<Signal> read_signals(const json::object& explain, const ExplainOptions& o) {
    std::vector<Signal> out;
    if (const auto* plan = explain.if_contains("Plan"); plan && plan->is_object()) {
        walk(plan->as_object(), o, out);
        const auto& top = plan->as_object();
        if (double read = number(top, "Shared Read Blocks"); read > 0) {
            out.push_back(
                {"disk_reads", label(top),
                 fmt::format("read {:.0f} blocks ({:.1f} MB) from disk rather than shared buffers: a "
                             "cold cache, or a working set larger than memory",
                             read, read * 8 / 1024)});
        }
    }
    double planning = number(explain, "Planning Time"), execution = number(explain, "Execution Time");
    // Under 5 ms it is mostly a fresh connection's catalog cache, not the statement's doing.
    if (planning > execution && planning >= 5) {
        out.push_back(
            {"planning_over_execution", "",
             fmt::format("planning took {:.2f} ms, longer than executing ({:.2f} ms): prune partitions "
                         "with a bound, or simplify the statement",
                         planning, execution)});
    }
    return out;
}

Result<Explanation> explain_query(pg::SyncConnection& conn, const ExplainOptions& o) {
    if (o.sql.empty()) return make_error(ErrorCode::kInvalidArgument, "no statement to explain");
    if (auto st = prepare_session(conn, o.statement_timeout, o.allow_writes); !st) return st.error();
    std::string json_sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + o.sql;
    auto rows = run_statement(conn, pg::Query{"explain.json", json_sql}, o.params, o.allow_writes);
    if (!rows) {
        std::string hint = rows.error().message.find("read-only transaction") != std::string::npos
                               ? " (it writes: --allow-writes runs it in a rolled-back transaction)"
                               : "";
        return make_error(ErrorCode::kInvalidArgument, rows.error().message + hint);
    }
    Explanation e;
    auto document = explain_document(*rows);
    if (!document) return document.error();
    const auto& top = *document;
    e.planning_ms = number(top, "Planning Time");
    e.execution_ms = number(top, "Execution Time");
    if (const auto* plan = top.if_contains("Plan"); plan && plan->is_object()) {
        e.spine = plan_path(plan->as_object());
        e.shared_hit = static_cast<long long>(number(plan->as_object(), "Shared Hit Blocks"));
        e.shared_read = static_cast<long long>(number(plan->as_object(), "Shared Read Blocks"));
    }
    e.signals = read_signals(top, o);
    auto text_rows = run_statement(conn, pg::Query{"explain.text", "EXPLAIN (ANALYZE, BUFFERS) " + o.sql},
                                   o.params, o.allow_writes);
    if (text_rows) {
        for (const auto& r : text_rows->rows)
            if (!r.empty() && r[0]) e.plan_text += *r[0] + "\n";
    }
    return e;
}

json::object to_json(const Explanation& e) {
    json::array signals;
    for (const auto& s : e.signals)
        signals.push_back({{"kind", s.kind}, {"node", s.node}, {"message", s.message}});
    return {{"plan", e.spine},
            {"planning_ms", e.planning_ms},
            {"execution_ms", e.execution_ms},
            {"shared_hit", e.shared_hit},
            {"shared_read", e.shared_read},
            {"signals", std::move(signals)},
            {"plan_text", e.plan_text}};
}

}  // namespace yw::ops
