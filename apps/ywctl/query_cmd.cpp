// ywctl query top (RB-8 from pg_stat_statements) and query compare (RB-10: two statements timed on one
// connection, interleaved, with statistics).
#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "common/files.hpp"
#include "ops/query_compare.hpp"
#include "ops/query_explain.hpp"
#include "ops/query_top.hpp"
#include "output.hpp"
#include "pg/ops_queries.hpp"
#include "pg/queries.hpp"

namespace ywctl {

namespace {
// The node's DSN: the application's role on that node (replica-1 by default, so that a heavy statement does
// not load the primary), the primary when the topology has no replica.
yw::Result<std::string> node_url(const yw::Config& config, std::string name) {
    auto nodes = config.nodes();
    if (name.empty()) name = nodes.size() > 1 ? nodes[1].name : nodes.at(0).name;
    for (const auto& n : nodes)
        if (n.name == name) return n.url;
    return yw::make_error(yw::ErrorCode::kInvalidArgument, fmt::format("no node '{}' (known: {})", name,
                                                                       fmt::join(yw::names_of(nodes), ", ")));
}
}  // namespace

yw::Result<std::string> statement_or_registry(const std::string& sql, const std::string& name) {
    if (sql.empty() == name.empty())
        return yw::make_error(yw::ErrorCode::kInvalidArgument,
                              "a statement (SQL) or --name REGISTRY_NAME is required, not both");
    if (name.empty()) return sql;
    std::vector<std::string_view> known;
    for (const auto* q : yw::pg::queries::kServerQueries) {
        if (q->name == name) return std::string(q->sql);
        known.push_back(q->name);
    }
    return yw::make_error(
        yw::ErrorCode::kInvalidArgument,
        fmt::format("no registry statement '{}' (known: {})", name, fmt::join(known, ", ")));
}

std::optional<yw::pg::SyncConnection> open_node(const Globals& g, const yw::Config& config,
                                                const std::string& node, int& exit) {
    auto url = node_url(config, node);
    if (!url) {
        print_error(g.json, url.error().message);
        exit = kUsage;
        return std::nullopt;
    }
    auto conn = yw::pg::SyncConnection::open(*url);
    if (!conn) {
        print_error(g.json, "cannot connect: " + conn.error().message);
        exit = kCritical;
        return std::nullopt;
    }
    return std::move(conn.value());
}

namespace {

struct CompareArgs {
    std::string before, after, before_file, after_file;
    std::string around;  // a shell command between the two phases
    std::vector<std::string> params;
    int runs = 30;
    double seconds = 0;
    int warmup = 3;
    std::string node;
    bool allow_writes = false;
    long long timeout_ms = 30000;
    double alpha = 0.01;
    double min_effect = 5;
    std::string markdown;
};

// A statement from the option or its file; kInvalidArgument when neither or both.
yw::Result<std::string> statement(const std::string& text, const std::string& file, const char* which) {
    if (!text.empty() && !file.empty())
        return yw::make_error(yw::ErrorCode::kInvalidArgument,
                              fmt::format("--{0} or --{0}-file, not both", which));
    if (!file.empty()) {
        auto sql = yw::read_text(file);
        if (sql.empty())
            return yw::make_error(yw::ErrorCode::kInvalidArgument,
                                  "cannot read " + file + " (or it is empty)");
        return sql;
    }
    if (text.empty())
        return yw::make_error(yw::ErrorCode::kInvalidArgument, fmt::format("--{} is required", which));
    return text;
}

int compare(const Globals& g, const CompareArgs& args) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    yw::ops::CompareOptions o;
    auto before = statement(args.before, args.before_file, "before");
    const bool around = !args.around.empty();
    if (around && (!args.after.empty() || !args.after_file.empty())) {
        print_error(g.json, "--around measures --before before and after the command: no --after with it");
        return kUsage;
    }
    yw::Result<std::string> after =
        around ? yw::Result<std::string>(std::string()) : statement(args.after, args.after_file, "after");
    for (auto* s : {&before, &after}) {
        if (!*s) {
            print_error(g.json, s->error().message);
            return kUsage;
        }
    }
    o.before = *before;
    o.after = *after;
    for (const auto& p : args.params) o.params.emplace_back(p);
    o.runs = args.runs;
    o.duration = std::chrono::milliseconds(static_cast<long long>(args.seconds * 1000));
    o.warmup = args.warmup;
    o.allow_writes = args.allow_writes;
    o.statement_timeout = std::chrono::milliseconds(args.timeout_ms);
    o.alpha = args.alpha;
    o.min_effect_percent = args.min_effect;
    int exit = kOk;
    auto conn = open_node(g, *config, args.node, exit);
    if (!conn) return exit;
    if (around) {
        // The command's output goes to stderr (stdout is the report), then the node replays what it wrote on
        // the primary before the after phase starts.
        o.between = [&]() -> yw::Status {
            int status = std::system(("(" + args.around + ") 1>&2").c_str());
            if (status != 0)
                return yw::make_error(
                    yw::ErrorCode::kInvalidArgument,
                    fmt::format("--around: the command failed (status {}); nothing compared",
                                WIFEXITED(status) ? WEXITSTATUS(status) : status));
            auto primary = yw::pg::SyncConnection::open(config->nodes().at(0).url);
            if (!primary) return primary.error();
            auto lsn = primary->query(yw::pg::queries::kCurrentWalLsn);
            if (!lsn || lsn->empty())
                return yw::make_error(yw::ErrorCode::kUnavailable, "the primary's WAL position");
            const std::string at = lsn->rows[0][0].value_or("0/0");
            for (int i = 0; i < 300; ++i) {
                auto done = conn->query(yw::pg::queries::kReplayedUpTo, {at});
                if (done && !done->empty() && done->text(0, "done") == "t") return {};
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            return yw::make_error(yw::ErrorCode::kTimeout,
                                  "the node did not replay the command's changes in 30 s");
        };
    }
    auto c = yw::ops::compare_queries(*conn, o);
    if (!c) {
        print_error(g.json, c.error().message);
        return kCritical;
    }
    if (!args.markdown.empty()) {
        std::ofstream(args.markdown) << yw::ops::markdown(*c, o);
    }
    if (g.json) {
        print_json(yw::ops::to_json(*c, o));
    } else {
        Table table{{"", "runs", "median", "p95", "mean (95 % CI)", "rows", "hit/read", "plan"}, {}};
        auto row = [&](const char* name, const yw::ops::SideResult& s) {
            table.rows.push_back(
                {name, std::to_string(s.summary.n), fmt::format("{:.3f} ms", s.summary.median),
                 fmt::format("{:.3f} ms", s.summary.p95),
                 fmt::format("{:.3f} ({:.3f} … {:.3f})", s.summary.mean, s.summary.mean_low,
                             s.summary.mean_high),
                 std::to_string(s.rows), fmt::format("{}/{}", s.shared_hit, s.shared_read), s.plan});
        };
        row("before", c->before);
        row("after", c->after);
        std::cout << render(table);
        std::cout << "\n" << c->verdict << "\n";
        if (!args.markdown.empty()) std::cout << "report: " << args.markdown << "\n";
    }
    // 1: the after side is significantly slower (a regression), or the two answer differently.
    bool regression = c->significant && c->change.percent > 0;
    return regression || !c->same_rows ? kWarning : kOk;
}

struct ExplainArgs {
    std::string sql;
    std::string name;  // --name: a registry statement instead of SQL
    std::vector<std::string> params;
    std::string node;
    bool primary = false;
    bool allow_writes = false;
    long long timeout_ms = 30000;
};

int explain(const Globals& g, const ExplainArgs& args) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    // EXPLAIN ANALYZE runs the statement: never on the primary unless asked.
    if (args.node == "primary" && !args.primary) {
        print_error(g.json, "EXPLAIN ANALYZE runs the statement: on the primary only with --primary");
        return kUsage;
    }
    int exit = kOk;
    auto conn = open_node(g, *config, args.primary ? "primary" : args.node, exit);
    if (!conn) return exit;
    yw::ops::ExplainOptions o;
    auto sql = statement_or_registry(args.sql, args.name);
    if (!sql) {
        print_error(g.json, sql.error().message);
        return kUsage;
    }
    o.sql = *sql;
    for (const auto& p : args.params) o.params.emplace_back(p);
    o.allow_writes = args.allow_writes;
    o.statement_timeout = std::chrono::milliseconds(args.timeout_ms);
    auto e = yw::ops::explain_query(*conn, o);
    if (!e) {
        print_error(g.json, e.error().message);
        return kCritical;
    }
    if (g.json) {
        print_json(yw::ops::to_json(*e));
    } else {
        std::cout << e->plan_text << "\n";
        if (e->signals.empty()) std::cout << "✓ nothing in this plan calls for an index or a change\n";
        for (const auto& s : e->signals)
            std::cout << "✗ " << s.message << (s.node.empty() ? "" : " [" + s.node + "]") << "\n";
    }
    return e->signals.empty() ? kOk : kWarning;
}

struct TopArgs {
    yw::ops::TopOptions options;
    std::string node;  // empty: every node
};

std::string shortened(std::string text, std::size_t width) {
    for (auto& c : text)
        if (c == '\n' || c == '\t') c = ' ';
    if (text.size() > width) text = text.substr(0, width - 1) + "…";
    return text;
}

int top(const Globals& g, const TopArgs& args) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    std::vector<yw::ops::NodeStatements> nodes;
    bool known = args.node.empty();
    for (const auto& n : config->nodes()) {
        if (!args.node.empty() && n.name != args.node) continue;
        known = true;
        // A superuser sees every role's statement texts; the application's role only its own.
        auto url = admin_url(*config, n.name);
        auto conn = yw::pg::SyncConnection::open(url ? *url : n.url);
        if (!conn) {
            nodes.push_back({n.name, {}, "cannot connect: " + conn.error().message});
            continue;
        }
        nodes.push_back(yw::ops::collect_statements(*conn, n.name, args.options));
    }
    if (!known) {
        print_error(g.json, fmt::format("no node '{}' (known: {})", args.node,
                                        fmt::join(yw::names_of(config->nodes()), ", ")));
        return kUsage;
    }
    bool any_slow = false, any_read = false;
    boost::json::array out;
    Table table{{"", "node", "calls", "mean", "total", "rows/call", "hit %", "name", "statement"}, {}};
    for (const auto& n : nodes) {
        any_read = any_read || n.error.empty();
        boost::json::array list;
        for (const auto& s : n.statements) {
            any_slow = any_slow || s.slow;
            auto blocks = s.shared_hit + s.shared_read;
            list.push_back({{"queryid", s.queryid},
                            {"name", s.name},
                            {"query", s.query},
                            {"calls", s.calls},
                            {"mean_ms", s.mean_ms},
                            {"total_ms", s.total_ms},
                            {"rows", s.rows},
                            {"shared_hit", s.shared_hit},
                            {"shared_read", s.shared_read},
                            {"slow", s.slow}});
            table.rows.push_back(
                {s.slow ? "✗" : "✓", n.node, std::to_string(s.calls), fmt::format("{:.2f} ms", s.mean_ms),
                 fmt::format("{:.0f} ms", s.total_ms),
                 fmt::format("{:.1f}", s.calls ? double(s.rows) / double(s.calls) : 0.0),
                 blocks ? fmt::format("{:.1f}", 100.0 * double(s.shared_hit) / double(blocks)) : "—",
                 s.name.empty() ? "—" : s.name, shortened(s.query, 70)});
        }
        boost::json::object node{{"node", n.node}, {"statements", std::move(list)}};
        if (!n.error.empty()) node["error"] = n.error;
        out.push_back(std::move(node));
        if (!n.error.empty())
            table.rows.push_back({"?", n.node, "", "", "", "", "", "", shortened(n.error, 120)});
    }
    if (g.json) {
        print_json(boost::json::object{{"slow_mean_ms", args.options.slow_mean_ms},
                                       {"slow_min_calls", args.options.slow_min_calls},
                                       {"nodes", std::move(out)}});
    } else {
        std::cout << render(table);
        std::cout << fmt::format(
            "\n✗ slow: mean ≥ {} ms and ≥ {} calls (PgHero's rule). Next: ywctl query compare "
            "(RB-10) to prove a fix.\n",
            args.options.slow_mean_ms, args.options.slow_min_calls);
    }
    if (!any_read) return kCritical;
    return any_slow ? kWarning : kOk;
}

}  // namespace

void add_query_commands(CLI::App& app, const Globals& g, Action& action) {
    auto* query = app.add_subcommand("query", "RB-10: measure statements as the database answers them");
    query->require_subcommand(1);
    auto top_args = std::make_shared<TopArgs>();
    auto* t = query->add_subcommand(
        "top",
        "RB-8 from pg_stat_statements: each node's statements with the most execution time, the slow ones "
        "marked (exit 0 none slow, 1 some slow, 2 no node readable)");
    t->add_option("--limit", top_args->options.limit, "Statements per node (default 10)")
        ->check(CLI::Range(1, 1000));
    t->add_option("--slow-mean-ms", top_args->options.slow_mean_ms, "Slow from this mean (default 20 ms)")
        ->check(CLI::Range(0.0, 1e9));
    t->add_option("--slow-min-calls", top_args->options.slow_min_calls, "…and this many calls (default 100)")
        ->check(CLI::Range(0LL, 1000000000000LL));
    t->add_option("--node", top_args->node, "Only this node (primary, replica-1, …)");
    t->callback([&g, &action, top_args] { action = [&g, top_args] { return top(g, *top_args); }; });

    auto explain_args = std::make_shared<ExplainArgs>();
    auto* ex = query->add_subcommand("explain",
                                     "RB-9: EXPLAIN (ANALYZE, BUFFERS) on a replica, with what the plan says "
                                     "in words: sequential scans of "
                                     "large tables, partitions not pruned, planning over execution, rows "
                                     "removed by filter, heap fetches, disk "
                                     "reads, sorts on disk (exit 0 nothing found, 1 something, 2 an error)");
    auto* ex_sql = ex->add_option("statement", explain_args->sql, "The SQL ($1… from --param)");
    ex->add_option("--name", explain_args->name,
                   "…or a statement of ywmsgd's registry (e.g. messages.recent)")
        ->excludes(ex_sql);
    ex->add_option("--param", explain_args->params, "A parameter for $1, $2, … (repeat)");
    ex->add_option("--node", explain_args->node, "Where to run: replica-1 (default), replica-2");
    ex->add_flag("--primary", explain_args->primary, "Run it on the primary (it executes the statement)");
    ex->add_flag(
        "--allow-writes", explain_args->allow_writes,
        "Allow a statement that writes, in a transaction rolled back (else the session is read-only)");
    ex->add_option("--timeout-ms", explain_args->timeout_ms, "statement_timeout (default 30000)")
        ->check(CLI::Range(1LL, 86400000LL));
    ex->callback(
        [&g, &action, explain_args] { action = [&g, explain_args] { return explain(g, *explain_args); }; });

    auto args = std::make_shared<CompareArgs>();
    auto* cmp = query->add_subcommand(
        "compare",
        "Time two statements on one connection, interleaved after a warm-up; median, p95, mean ± 95 % CI, "
        "the "
        "change with its interval, Mann-Whitney U, buffers, plans and whether both return the same rows "
        "(exit 0; 1 when after is significantly slower or the rows differ; 2 on an error)");
    cmp->add_option("--before", args->before, "The statement as it is (SQL; $1… from --param)");
    cmp->add_option("--after", args->after, "The statement after the change");
    cmp->add_option("--before-file", args->before_file, "…or read from a file");
    cmp->add_option("--after-file", args->after_file, "…or read from a file");
    cmp->add_option(
        "--around", args->around,
        "Instead of --after: measure --before, run this shell command (e.g. ywctl index create …), "
        "wait for the node to replay it, measure --before again");
    cmp->add_option("--param", args->params, "A parameter for $1, $2, … of both (repeat)");
    cmp->add_option("--runs", args->runs, "Timed runs of each (default 30)")->check(CLI::Range(2, 1000000));
    cmp->add_option("--seconds", args->seconds, "Instead of --runs: alternate for this long")
        ->check(CLI::Range(0.1, 86400.0));
    cmp->add_option("--warmup", args->warmup, "Untimed runs of each first (default 3)")
        ->check(CLI::Range(0, 1000));
    cmp->add_option("--node", args->node, "Where to run: replica-1 (default), replica-2, primary");
    cmp->add_flag("--allow-writes", args->allow_writes,
                  "Allow statements that write, each run in a transaction rolled back (else the session is "
                  "read-only)");
    cmp->add_option("--timeout-ms", args->timeout_ms, "statement_timeout of each run (default 30000)")
        ->check(CLI::Range(1LL, 86400000LL));
    cmp->add_option("--alpha", args->alpha, "Significance level of the rank test (default 0.01)")
        ->check(CLI::Range(1e-9, 0.5));
    cmp->add_option("--min-effect", args->min_effect,
                    "Smallest median change in % called significant (default 5)")
        ->check(CLI::Range(0.0, 1000.0));
    cmp->add_option("--markdown", args->markdown, "Also write RB-10's before/after report to this file");
    cmp->callback([&g, &action, args] { action = [&g, args] { return compare(g, *args); }; });
}

}  // namespace ywctl
