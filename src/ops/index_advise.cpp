// `ywctl index advise`: see index_advise.hpp.
#include "ops/index_advise.hpp"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>

#include "ops/query_compare.hpp"
#include "pg/ops_queries.hpp"

namespace yw::ops {
namespace json = boost::json;

namespace {

constexpr size_t kMaxIdentifier = 63;  // NAMEDATALEN - 1

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

// The relation-reading nodes of a plan, depth first.
void walk(const json::object& node, const std::function<void(const json::object&)>& visit) {
    visit(node);
    if (const auto* plans = node.if_contains("Plans"); plans && plans->is_array()) {
        for (const auto& child : plans->as_array())
            if (child.is_object()) walk(child.as_object(), visit);
    }
}

std::string text_of(const json::object& node, const char* key) {
    const auto* v = node.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// One reference in a condition: `qualifier.column` or `column`, and the operator after it.
struct Reference {
    std::string qualifier, column, op;
};

// The column references of a condition PostgreSQL printed, each with the operator that follows it. String
// literals are skipped; a name followed by "(" (a function) or "::" (a cast of the column) is not a plain
// use.
std::vector<Reference> references(const std::string& cond) {
    std::vector<Reference> out;
    size_t i = 0;
    const size_t n = cond.size();
    auto read_name = [&](std::string& name) -> bool {
        if (i < n && cond[i] == '"') {
            size_t end = cond.find('"', i + 1);
            if (end == std::string::npos) return false;
            name = cond.substr(i + 1, end - i - 1);
            i = end + 1;
            return true;
        }
        if (i < n && ident_start(cond[i])) {
            size_t start = i;
            while (i < n && ident_char(cond[i])) ++i;
            name = cond.substr(start, i - start);
            return true;
        }
        return false;
    };
    while (i < n) {
        char c = cond[i];
        if (c == '\'') {  // a literal, '' inside it
            ++i;
            while (i < n) {
                if (cond[i] == '\'' && i + 1 < n && cond[i + 1] == '\'') {
                    i += 2;
                } else if (cond[i] == '\'') {
                    ++i;
                    break;
                } else {
                    ++i;
                }
            }
            continue;
        }
        if (c == ':' && i + 1 < n && cond[i + 1] == ':') {  // a cast's type name is not a column
            i += 2;
            while (i < n && cond[i] == ' ') ++i;
            std::string type;
            while (i < n && (ident_char(cond[i]) || cond[i] == ' ' || cond[i] == '"')) {
                if (cond[i] == ' ' && (i + 1 >= n || !ident_start(cond[i + 1]))) break;
                ++i;
            }
            continue;
        }
        if (c == '"' || ident_start(c)) {
            const bool after_ident = i > 0 && (ident_char(cond[i - 1]) || cond[i - 1] == '.');
            Reference r;
            if (!read_name(r.column)) {
                ++i;
                continue;
            }
            if (after_ident) continue;
            if (i < n && cond[i] == '.') {
                ++i;
                r.qualifier = std::move(r.column);
                if (!read_name(r.column)) continue;
            }
            size_t k = i;
            while (k < n && cond[k] == ' ') ++k;
            if (k < n && cond[k] == '(') continue;                            // a function
            if (k + 1 < n && cond[k] == ':' && cond[k + 1] == ':') continue;  // a cast of it
            size_t op_start = k;
            while (k < n && std::string_view("=<>!~").find(cond[k]) != std::string_view::npos) ++k;
            r.op = cond.substr(op_start, k - op_start);
            if (r.op.empty() && cond.compare(op_start, 3, "IS ") == 0) r.op = "IS";
            out.push_back(std::move(r));
            continue;
        }
        ++i;
    }
    return out;
}

std::optional<ColumnUse::Kind> kind_of(const std::string& op) {
    if (op == "=") return ColumnUse::Kind::kEquality;
    if (op == "<" || op == "<=" || op == ">" || op == ">=") return ColumnUse::Kind::kRange;
    return std::nullopt;
}

// "schema.table" → each part quoted.
std::string quote_qualified(const std::string& name,
                            const std::function<std::string(const std::string&)>& quote) {
    std::string out;
    size_t start = 0;
    while (true) {
        size_t dot = name.find('.', start);
        out += quote(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        out += '.';
        start = dot + 1;
    }
    return out;
}

std::string unqualified(const std::string& name) {
    size_t dot = name.rfind('.');
    return dot == std::string::npos ? name : name.substr(dot + 1);
}

std::vector<std::string> split_columns(const std::string& list) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= list.size() && !list.empty()) {
        size_t comma = list.find(',', start);
        out.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

std::string quoted_columns(const std::vector<std::string>& columns,
                           const std::function<std::string(const std::string&)>& quote) {
    std::vector<std::string> q;
    for (const auto& c : columns) q.push_back(quote(c));
    return fmt::format("{}", fmt::join(q, ", "));
}

struct Explained {
    json::object top;  // the first element of EXPLAIN's JSON
    json::object plan;
    double cost = 0;
    std::string text;  // the JSON as text (hypothetical index names are searched in it)
};

// The generic form's prepared statement (advise_index prepares it, and deallocates it before it returns).
constexpr const char* kGenericStatement = "yw_advise_generic";

Result<Explained> explain(pg::SyncConnection& conn, const AdviseOptions& o) {
    Result<pg::Rows> rows = make_error(ErrorCode::kInternal, "not run");
    if (o.generic) {
        // Prepared again for every plan: a cached generic plan would not see a hypothetical index made since.
        auto prepared = conn.simple_query("advise.prepare", std::string("DEALLOCATE ALL") + "; PREPARE " +
                                                                kGenericStatement + " AS " + o.sql);
        if (!prepared) return make_error(ErrorCode::kInvalidArgument, prepared.error().message);
        std::vector<std::string> nulls(static_cast<size_t>(parameter_count(o.sql)), "NULL");
        const std::string execute = nulls.empty()
                                        ? std::string(kGenericStatement)
                                        : fmt::format("{}({})", kGenericStatement, fmt::join(nulls, ", "));
        rows = conn.query(pg::Query{"advise.explain_generic", "EXPLAIN (FORMAT JSON) EXECUTE " + execute});
    } else {
        rows = conn.query(pg::Query{"advise.explain", "EXPLAIN (FORMAT JSON) " + o.sql}, o.params);
    }
    if (!rows) return make_error(ErrorCode::kInvalidArgument, rows.error().message);
    auto document = explain_document(*rows);
    if (!document) return document.error();
    Explained e;
    e.text = *rows->rows[0][0];
    e.top = std::move(*document);
    if (const auto* plan = e.top.if_contains("Plan"); plan && plan->is_object()) {
        e.plan = plan->as_object();
        if (const auto* c = e.plan.if_contains("Total Cost"); c && c->is_number())
            e.cost = c->to_number<double>();
    }
    return e;
}

}  // namespace

// --- pure parts ---

std::vector<ColumnUse> column_uses(
    const json::object& plan, const std::function<std::optional<std::string>(const std::string&)>& root_of,
    const std::map<std::string, std::set<std::string>>& columns_of) {
    std::vector<ColumnUse> out;
    std::map<std::string, std::string> root_by_name;  // aliases and relation names → root
    std::set<std::string> roots;
    auto add = [&](const std::string& table, const std::string& column, ColumnUse::Kind kind) {
        auto cols = columns_of.find(table);
        if (cols == columns_of.end() || !cols->second.count(column)) return;
        for (const auto& u : out)
            if (u.table == table && u.column == column && u.kind == kind) return;
        out.push_back({table, column, kind});
    };
    auto resolve = [&](const std::string& qualifier, const std::string& fallback) -> std::string {
        if (qualifier.empty()) return fallback;
        if (auto it = root_by_name.find(qualifier); it != root_by_name.end()) return it->second;
        if (columns_of.count(qualifier)) return qualifier;
        return {};
    };
    std::vector<std::string> sort_keys;
    walk(plan, [&](const json::object& node) {
        if (const auto* keys = node.if_contains("Sort Key"); keys && keys->is_array()) {
            for (const auto& k : keys->as_array())
                if (k.is_string()) sort_keys.emplace_back(k.as_string());
        }
        const std::string relation = text_of(node, "Relation Name");
        if (relation.empty()) return;
        auto root = root_of(relation);
        if (!root) return;
        roots.insert(*root);
        root_by_name[relation] = *root;
        if (auto alias = text_of(node, "Alias"); !alias.empty()) {
            root_by_name[alias] = *root;
            // A partition's scan is aliased "<alias>_<n>"; the sort above the Append names "<alias>".
            size_t cut = alias.find_last_not_of("0123456789");
            if (cut != std::string::npos && cut + 1 < alias.size() && alias[cut] == '_')
                root_by_name.emplace(alias.substr(0, cut), *root);
        }
        for (const char* key : {"Index Cond", "Recheck Cond", "Filter"}) {
            for (const auto& r : references(text_of(node, key))) {
                auto kind = kind_of(r.op);
                if (!kind) continue;
                auto table = resolve(r.qualifier, *root);
                if (!table.empty()) add(table, r.column, *kind);
            }
        }
    });
    // Sort keys name the relation by its alias ("adv.created_at DESC"); unqualified only with one table.
    const std::string only = roots.size() == 1 ? *roots.begin() : std::string();
    for (const auto& key : sort_keys) {
        auto refs = references(key);
        if (refs.empty()) continue;
        auto table = resolve(refs[0].qualifier, only);
        if (table.empty()) table = only;
        if (!table.empty()) add(table, refs[0].column, ColumnUse::Kind::kSort);
    }
    return out;
}

std::vector<std::vector<std::string>> candidate_columns(const std::vector<ColumnUse>& uses,
                                                        const std::string& table, int max_columns) {
    std::vector<std::string> eq, range, sort;
    auto push = [](std::vector<std::string>& v, const std::string& c) {
        if (std::find(v.begin(), v.end(), c) == v.end()) v.push_back(c);
    };
    for (const auto& u : uses) {
        if (u.table != table) continue;
        if (u.kind == ColumnUse::Kind::kEquality) push(eq, u.column);
    }
    for (const auto& u : uses) {
        if (u.table != table || std::find(eq.begin(), eq.end(), u.column) != eq.end()) continue;
        if (u.kind == ColumnUse::Kind::kRange) push(range, u.column);
        if (u.kind == ColumnUse::Kind::kSort) push(sort, u.column);
    }
    std::vector<std::vector<std::string>> out;
    auto offer = [&](std::vector<std::string> cols) {
        if (cols.empty()) return;
        if (static_cast<int>(cols.size()) > max_columns) cols.resize(static_cast<size_t>(max_columns));
        if (std::find(out.begin(), out.end(), cols) == out.end()) out.push_back(std::move(cols));
    };
    if (!eq.empty()) {
        // The equality columns first, then what orders or bounds the rest: one index answers the statement.
        if (!sort.empty()) {
            auto with_sort = eq;
            for (const auto& s : sort) with_sort.push_back(s);
            offer(with_sort);
        }
        if (!range.empty()) {
            auto with_range = eq;
            with_range.push_back(range[0]);
            offer(with_range);
        }
        offer(eq);
    }
    for (const auto& r : range) offer({r});
    if (!sort.empty()) offer(sort);
    return out;
}

std::string index_name(const std::string& table, const std::vector<std::string>& columns) {
    std::string name = unqualified(table);
    for (const auto& c : columns) name += "_" + c;
    name += "_idx";
    if (name.size() <= kMaxIdentifier) return name;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest);
    std::string tail =
        fmt::format("_{:02x}{:02x}{:02x}{:02x}_idx", digest[0], digest[1], digest[2], digest[3]);
    return name.substr(0, kMaxIdentifier - tail.size()) + tail;
}

std::vector<std::string> IndexPlan::all() const {
    std::vector<std::string> out;
    if (!parent_statement.empty()) out.push_back(parent_statement);
    for (const auto& s : steps) {
        out.push_back(s.create);
        if (!s.attach.empty()) out.push_back(s.attach);
    }
    return out;
}

IndexPlan index_plan(const std::string& name, const std::string& table,
                     const std::vector<std::string>& partitions, const std::vector<std::string>& columns,
                     const std::string& where, const std::function<std::string(const std::string&)>& quote) {
    IndexPlan plan;
    const std::string cols = quoted_columns(columns, quote);
    const std::string predicate = where.empty() ? "" : " WHERE " + where;
    if (partitions.empty()) {
        plan.steps.push_back({table, name,
                              fmt::format("CREATE INDEX CONCURRENTLY {} ON {} ({}){}", quote(name),
                                          quote_qualified(table, quote), cols, predicate),
                              ""});
        return plan;
    }
    plan.parent_statement = fmt::format("CREATE INDEX {} ON ONLY {} ({}){}", quote(name),
                                        quote_qualified(table, quote), cols, predicate);
    for (const auto& p : partitions) {
        const std::string child = index_name(p, columns);
        plan.steps.push_back({p, child,
                              fmt::format("CREATE INDEX CONCURRENTLY {} ON {} ({}){}", quote(child),
                                          quote_qualified(p, quote), cols, predicate),
                              fmt::format("ALTER INDEX {} ATTACH PARTITION {}", quote(name), quote(child))});
    }
    return plan;
}

bool covers(const std::vector<std::string>& index_columns, const std::vector<std::string>& candidate) {
    return !candidate.empty() && index_columns.size() >= candidate.size() &&
           std::equal(candidate.begin(), candidate.end(), index_columns.begin());
}

int parameter_count(const std::string& sql) {
    int highest = 0;
    bool quoted = false;
    for (size_t i = 0; i < sql.size(); ++i) {
        if (sql[i] == '\'') quoted = !quoted;
        if (quoted || sql[i] != '$' || i + 1 >= sql.size() ||
            !std::isdigit(static_cast<unsigned char>(sql[i + 1])))
            continue;
        if (i > 0 && ident_char(sql[i - 1])) continue;  // part of a name, or a $1$ dollar quote's tag
        int n = 0;
        size_t k = i + 1;
        while (k < sql.size() && std::isdigit(static_cast<unsigned char>(sql[k])) && n < 100000)
            n = n * 10 + (sql[k++] - '0');
        highest = std::max(highest, n);
    }
    return highest;
}

// --- against a database ---

Result<TableInfo> table_info(pg::SyncConnection& conn, const std::string& table) {
    auto root = conn.query(pg::queries::kIndexTableRoot, {table});
    if (!root) return root.error();
    if (root->empty())
        return make_error(ErrorCode::kInvalidArgument, fmt::format("there is no table '{}'", table));
    TableInfo t;
    t.name = root->text(0, "name");
    t.root = root->text(0, "root");
    t.partitioned = root->text(0, "root_kind") == "p";
    if (t.partitioned) {
        auto parts = conn.query(pg::queries::kIndexPartitions, {t.root});
        if (!parts) return parts.error();
        for (size_t i = 0; i < parts->size(); ++i) t.partitions.push_back(parts->text(i, "name"));
    }
    auto cols = conn.query(pg::queries::kIndexColumns, {t.root});
    if (!cols) return cols.error();
    for (size_t i = 0; i < cols->size(); ++i) t.columns.insert(cols->text(i, "name"));
    auto idx = conn.query(pg::queries::kIndexesOfTable, {t.root});
    if (!idx) return idx.error();
    for (size_t i = 0; i < idx->size(); ++i) {
        t.indexes.push_back({idx->text(i, "name"), split_columns(idx->text(i, "columns")),
                             idx->text(i, "valid") == "t", idx->text(i, "partial") == "t",
                             idx->text(i, "definition")});
    }
    return t;
}

Result<Advice> advise_index(pg::SyncConnection& conn, const AdviseOptions& o) {
    if (o.sql.empty()) return make_error(ErrorCode::kInvalidArgument, "no statement to advise on");
    if (auto st = prepare_session(conn, o.statement_timeout, false); !st) return st.error();
    auto installed = conn.query(pg::queries::kHypopgInstalled);
    if (!installed) return installed.error();
    const bool hypopg = installed->text(0, "n") != "0";
    if (hypopg) (void)conn.query(pg::queries::kHypopgReset);
    if (o.generic) {
        // Without values, EXPLAIN EXECUTE's NULLs would prune every partition at executor start-up (a bound
        // compared with NULL matches nothing): pruning is off, so each partition's scan is in the plan to
        // cost.
        if (auto r = conn.simple_query(
                "advise.generic",
                "SET plan_cache_mode = force_generic_plan; SET enable_partition_pruning = off");
            !r)
            return r.error();
    }
    struct Deallocate {
        pg::SyncConnection& conn;
        bool generic;
        ~Deallocate() {
            if (generic)
                (void)conn.simple_query("advise.deallocate",
                                        std::string("DEALLOCATE ALL") +
                                            "; RESET plan_cache_mode; RESET enable_partition_pruning");
        }
    } deallocate{conn, o.generic};

    auto base = explain(conn, o);
    if (!base) return base.error();
    Advice a;
    a.costed = hypopg;
    a.baseline_cost = base->cost;
    a.plan = plan_path(base->plan);

    // The tables the plan reads, by their partition roots.
    std::map<std::string, std::string> root_of_relation;
    std::map<std::string, TableInfo> tables;
    std::map<std::string, std::set<std::string>> columns_of;
    Status failed;
    walk(base->plan, [&](const json::object& node) {
        const std::string relation = text_of(node, "Relation Name");
        if (relation.empty() || root_of_relation.count(relation) || !failed) return;
        auto info = table_info(conn, relation);
        if (!info) {
            failed = info.error();
            return;
        }
        root_of_relation[relation] = info->root;
        columns_of[info->root] = info->columns;
        tables.emplace(info->root, std::move(*info));
    });
    if (!failed) return failed.error();
    a.uses = column_uses(
        base->plan,
        [&](const std::string& r) -> std::optional<std::string> {
            auto it = root_of_relation.find(r);
            if (it == root_of_relation.end()) return std::nullopt;
            return it->second;
        },
        columns_of);
    for (const auto& [root, info] : tables)
        for (const auto& idx : info.indexes)
            if (!idx.valid) a.invalid_indexes.push_back(idx.name);

    const auto quote = [&](const std::string& id) { return conn.quote_identifier(id); };
    for (const auto& [root, info] : tables) {
        for (auto& cols : candidate_columns(a.uses, root, o.max_columns)) {
            Candidate c{root, std::move(cols), 0, false};
            if (hypopg) {
                const std::string ddl = fmt::format("CREATE INDEX ON {} ({})", quote_qualified(root, quote),
                                                    quoted_columns(c.columns, quote));
                auto made = conn.query(pg::queries::kHypopgCreate, {ddl});
                if (!made) return make_error(ErrorCode::kInternal, "HypoPG: " + made.error().message);
                auto with = explain(conn, o);
                (void)conn.query(pg::queries::kHypopgReset);
                if (!with) return with.error();
                c.cost = with->cost;
                c.used = made->size() > 0 &&
                         with->text.find("<" + made->text(0, "oid") + ">") != std::string::npos;
            }
            a.candidates.push_back(std::move(c));
        }
    }
    if (!hypopg) {
        a.notes.push_back(
            "HypoPG is not in this database, so no candidate is costed: install it (Debian: apt install "
            "postgresql-15-hypopg) and, as a superuser, CREATE EXTENSION hypopg on the primary (replicas "
            "follow); "
            "the candidates below come from the plan alone");
    }
    for (const auto& c : a.candidates) {
        if (!c.used || c.cost > o.max_cost_ratio * a.baseline_cost) continue;
        if (!a.best || c.cost < a.best->cost * 0.95 ||
            (c.cost <= a.best->cost * 1.05 && c.columns.size() < a.best->columns.size()))
            a.best = c;
    }
    // An index that already leads with the columns: the statement needs no new one (its plan may need fresh
    // statistics, or the predicate of a partial index).
    const Candidate* subject = a.best ? &*a.best : (a.candidates.empty() ? nullptr : &a.candidates.front());
    if (subject) {
        for (const auto& idx : tables[subject->table].indexes) {
            if (idx.valid && covers(idx.columns, subject->columns)) {
                a.covered_by = idx.name;
                break;
            }
        }
    }
    if (a.best && a.covered_by.empty()) {
        const auto& info = tables[a.best->table];
        a.index_name = index_name(a.best->table, a.best->columns);
        a.statements =
            index_plan(a.index_name, a.best->table, info.partitions, a.best->columns, "", quote).all();
    } else if (!a.covered_by.empty()) {
        a.notes.push_back(
            fmt::format("{} already leads with ({}): no new index; if the plan does not use it, "
                        "ANALYZE the table or check the partial index's predicate",
                        a.covered_by, fmt::join(subject->columns, ", ")));
    } else if (hypopg && !a.candidates.empty()) {
        a.notes.push_back(
            fmt::format("no candidate brings the estimated cost to {:.0f} % of {:.1f} or less: an "
                        "index is not what this statement needs",
                        o.max_cost_ratio * 100, a.baseline_cost));
    } else if (a.candidates.empty()) {
        a.notes.push_back("the plan filters and sorts on no plain column: nothing to index");
    }
    return a;
}

json::object to_json(const Advice& a) {
    auto kind = [](ColumnUse::Kind k) {
        switch (k) {
            case ColumnUse::Kind::kEquality:
                return "equality";
            case ColumnUse::Kind::kRange:
                return "range";
            case ColumnUse::Kind::kSort:
                return "sort";
        }
        return "equality";
    };
    json::array uses;
    for (const auto& u : a.uses)
        uses.push_back({{"table", u.table}, {"column", u.column}, {"kind", kind(u.kind)}});
    auto candidate = [&](const Candidate& c) {
        json::array cols;
        for (const auto& col : c.columns) cols.push_back(json::value(col));
        json::object o{{"table", c.table}, {"columns", std::move(cols)}};
        if (a.costed) {
            o["cost"] = c.cost;
            o["cost_ratio"] = a.baseline_cost > 0 ? c.cost / a.baseline_cost : 0.0;
            o["used"] = c.used;
        }
        return o;
    };
    json::array candidates;
    for (const auto& c : a.candidates) candidates.push_back(candidate(c));
    json::array statements, notes, invalid;
    for (const auto& s : a.statements) statements.push_back(json::value(s));
    for (const auto& n : a.notes) notes.push_back(json::value(n));
    for (const auto& i : a.invalid_indexes) invalid.push_back(json::value(i));
    return {{"costed", a.costed},
            {"plan", a.plan},
            {"baseline_cost", a.baseline_cost},
            {"uses", std::move(uses)},
            {"candidates", std::move(candidates)},
            {"best", a.best ? json::value(candidate(*a.best)) : json::value(nullptr)},
            {"covered_by", a.covered_by.empty() ? json::value(nullptr) : json::value(a.covered_by)},
            {"index_name", a.index_name.empty() ? json::value(nullptr) : json::value(a.index_name)},
            {"statements", std::move(statements)},
            {"invalid_indexes", std::move(invalid)},
            {"notes", std::move(notes)}};
}

}  // namespace yw::ops
