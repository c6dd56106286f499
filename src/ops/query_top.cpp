// See query_top.hpp.
#include "ops/query_top.hpp"

#include "pg/ops_queries.hpp"

namespace yw::ops {
namespace {

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' || s.back() == ';'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

bool is_slow(double mean_ms, long long calls, const TopOptions& o) {
    return mean_ms >= o.slow_mean_ms && calls >= o.slow_min_calls;
}

std::string registry_name(std::string_view sql) {
    auto text = trimmed(sql);
    for (const auto* q : pg::queries::kServerQueries) {
        if (trimmed(q->sql) == text) return std::string(q->name);
    }
    return "";
}

NodeStatements collect_statements(pg::SyncConnection& conn, const std::string& node, const TopOptions& o) {
    NodeStatements out;
    out.node = node;
    auto rows = conn.query(pg::queries::kStatementsTop, {std::to_string(o.limit)});
    if (!rows) {
        out.error = rows.error().message;
        if (out.error.find("pg_stat_statements") != std::string::npos)
            out.error +=
                " — it needs shared_preload_libraries = 'pg_stat_statements' and, once per database, "
                "CREATE EXTENSION pg_stat_statements (docs/runbooks.md, RB-8)";
        return out;
    }
    for (size_t i = 0; i < rows->size(); ++i) {
        StatementStats s;
        s.queryid = rows->text(i, "queryid");
        s.query = rows->text(i, "query");
        s.name = registry_name(s.query);
        s.calls = rows->optional_int(i, "calls").value_or(0);
        s.rows = rows->optional_int(i, "rows").value_or(0);
        s.shared_hit = rows->optional_int(i, "hit").value_or(0);
        s.shared_read = rows->optional_int(i, "read").value_or(0);
        s.total_ms = std::stod(rows->text(i, "total_ms"));
        s.mean_ms = std::stod(rows->text(i, "mean_ms"));
        s.slow = is_slow(s.mean_ms, s.calls, o);
        out.statements.push_back(std::move(s));
    }
    return out;
}

}  // namespace yw::ops
