// ywctl index advise | create | check (RB-9): the index a slow statement needs, costed before it exists;
// built concurrently partition by partition with nothing INVALID left behind; and the indexes that cost
// writes for nothing (invalid, duplicate, unused).
#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "ops/index_advise.hpp"
#include "ops/index_build.hpp"
#include "ops/query_top.hpp"
#include "output.hpp"

namespace ywctl {
namespace {

struct AdviseArgs {
    std::string sql, name, node;
    int top = 0;  // instead of a statement: the node's N statements with the most time (pg_stat_statements)
    std::vector<std::string> params;
    long long timeout_ms = 30000;
    double max_ratio = 0.5;
};

// The advice in words: the candidates with their estimated costs, then what to build (or why nothing).
void print_advice(const yw::ops::Advice& a) {
    std::cout << "plan: " << a.plan << fmt::format(" (estimated cost {:.1f})\n", a.baseline_cost);
    Table table{{"table", "columns", a.costed ? "estimated cost" : "cost", "used"}, {}};
    for (const auto& c : a.candidates) {
        table.rows.push_back({c.table, fmt::format("({})", fmt::join(c.columns, ", ")),
                              a.costed
                                  ? fmt::format("{:.1f} ({:.0f} %)", c.cost,
                                                a.baseline_cost > 0 ? 100 * c.cost / a.baseline_cost : 0.0)
                                  : "not costed",
                              a.costed ? (c.used ? "yes" : "no") : "-"});
    }
    if (!table.rows.empty()) std::cout << render(table);
    for (const auto& i : a.invalid_indexes)
        std::cout << "✗ " << i << " is INVALID: writes maintain it, no read uses it (ywctl index check)\n";
    for (const auto& n : a.notes) std::cout << "• " << n << "\n";
    if (!a.statements.empty()) {
        std::cout << fmt::format("✓ suggest {} on {} ({}): estimated cost {:.1f} → {:.1f}\n", a.index_name,
                                 a.best->table, fmt::join(a.best->columns, ", "), a.baseline_cost,
                                 a.best->cost);
        std::cout << fmt::format("  build it: ywctl index create {} --on '{}({})' --yes\n", a.index_name,
                                 a.best->table, fmt::join(a.best->columns, ", "));
        std::cout << "  which runs:\n";
        for (const auto& s : a.statements) std::cout << "    " << s << ";\n";
    }
}

int advise_top(const Globals& g, const AdviseArgs& args, const yw::Config& config);

int advise(const Globals& g, const AdviseArgs& args) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    if (args.top > 0) {
        if (!args.sql.empty() || !args.name.empty() || !args.params.empty()) {
            print_error(g.json,
                        "--top advises on the node's busiest statements: no statement, --name or --param");
            return kUsage;
        }
        return advise_top(g, args, *config);
    }
    yw::ops::AdviseOptions o;
    auto sql = statement_or_registry(args.sql, args.name);
    if (!sql) {
        print_error(g.json, sql.error().message);
        return kUsage;
    }
    o.sql = *sql;
    for (const auto& p : args.params) o.params.emplace_back(p);
    o.statement_timeout = std::chrono::milliseconds(args.timeout_ms);
    o.max_cost_ratio = args.max_ratio;
    int exit = kOk;
    auto conn = open_node(g, *config, args.node, exit);
    if (!conn) return exit;
    auto a = yw::ops::advise_index(*conn, o);
    if (!a) {
        print_error(g.json, a.error().message);
        return a.error().code == yw::ErrorCode::kInvalidArgument ? kUsage : kCritical;
    }
    if (g.json) {
        print_json(yw::ops::to_json(*a));
    } else {
        print_advice(*a);
    }
    // 1: an index is suggested (or one is INVALID); 0: nothing to do.
    return !a->statements.empty() || !a->invalid_indexes.empty() ? kWarning : kOk;
}

// Whether a statement pg_stat_statements kept is one to advise on: a query of the application's tables, not
// the catalog reads of health checks and of this advisor.
bool worth_advising(const std::string& query) {
    std::string head;
    for (char c : query) {
        if (std::isspace(static_cast<unsigned char>(c)) && head.empty()) continue;
        head += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (head.size() == 6) break;
    }
    if (head.rfind("select", 0) != 0 && head.rfind("with", 0) != 0) return false;
    return query.find("pg_") == std::string::npos && query.find("hypopg") == std::string::npos;
}

int advise_top(const Globals& g, const AdviseArgs& args, const yw::Config& config) {
    int exit = kOk;
    auto conn = open_node(g, config, args.node, exit);
    if (!conn) return exit;
    yw::ops::TopOptions top;
    top.limit = std::max(50, args.top * 5);  // room for the statements skipped below
    auto collected = yw::ops::collect_statements(*conn, args.node.empty() ? "replica-1" : args.node, top);
    if (!collected.error.empty()) {
        print_error(g.json, collected.error);
        return kCritical;
    }
    boost::json::array out;
    bool suggested = false;
    int advised = 0;
    for (const auto& st : collected.statements) {
        if (advised >= args.top) break;
        if (!worth_advising(st.query)) continue;
        ++advised;
        yw::ops::AdviseOptions o;
        o.sql = st.query;
        o.generic = true;
        o.statement_timeout = std::chrono::milliseconds(args.timeout_ms);
        o.max_cost_ratio = args.max_ratio;
        auto a = yw::ops::advise_index(*conn, o);
        const std::string label = st.name.empty() ? st.query : st.name;
        boost::json::object entry{{"name", st.name},
                                  {"query", st.query},
                                  {"calls", st.calls},
                                  {"mean_ms", st.mean_ms},
                                  {"total_ms", st.total_ms}};
        if (a) {
            suggested = suggested || !a->statements.empty();
            entry["advice"] = yw::ops::to_json(*a);
        } else {
            entry["error"] = a.error().message;
        }
        if (g.json) {
            out.push_back(std::move(entry));
            continue;
        }
        std::string shown = label.size() > 100 ? label.substr(0, 99) + "…" : label;
        for (auto& c : shown)
            if (c == '\n') c = ' ';
        std::cout << fmt::format("── {} ({} calls, mean {:.2f} ms, total {:.0f} ms)\n", shown, st.calls,
                                 st.mean_ms, st.total_ms);
        if (a) {
            print_advice(*a);
        } else {
            std::cout << "• cannot plan it without values: " << a.error().message << "\n";
        }
        std::cout << "\n";
    }
    if (g.json) print_json(boost::json::object{{"statements", std::move(out)}});
    if (!g.json && advised == 0)
        std::cout << "no statement of the application's tables in pg_stat_statements yet\n";
    return suggested ? kWarning : kOk;
}

struct CreateArgs {
    std::string name, on, where;
    long long lock_timeout_ms = 5000;
    bool yes = false;
};

std::string bar(double fraction, int width = 30) {
    int filled = static_cast<int>(fraction * width + 0.5);
    filled = std::clamp(filled, 0, width);
    std::string out;
    for (int i = 0; i < width; ++i) out += i < filled ? "█" : "·";
    return out;
}

int create(const Globals& g, const CreateArgs& args) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    auto target = yw::ops::parse_index_target(args.on);
    if (!target) {
        print_error(g.json, target.error().message);
        return kUsage;
    }
    yw::ops::BuildOptions o;
    o.name = args.name;
    o.table = target->first;
    o.columns = target->second;
    o.where = args.where;
    o.lock_timeout = std::chrono::milliseconds(args.lock_timeout_ms);
    // On the primary, as the application's role (the tables' owner).
    const std::string dsn = config->nodes().at(0).url;
    auto conn = yw::pg::SyncConnection::open(dsn);
    if (!conn) {
        print_error(g.json, "cannot connect to the primary: " + conn.error().message);
        return kCritical;
    }
    auto plan = yw::ops::plan_build(*conn, o);
    if (!plan) {
        print_error(g.json, plan.error().message);
        return plan.error().code == yw::ErrorCode::kInvalidArgument ? kUsage : kCritical;
    }
    if (!args.yes) {
        std::cout << "would run (add --yes to build):\n";
        for (const auto& s : plan->all()) std::cout << "  " << s << ";\n";
        return kOk;
    }
    const bool tty = !g.json && isatty(STDOUT_FILENO);
    size_t last_step = 0;
    auto progress = [&](const yw::ops::BuildProgress& p) {
        if (g.json) return;
        double fraction = p.blocks_total > 0   ? static_cast<double>(p.blocks_done) / p.blocks_total
                          : p.tuples_total > 0 ? static_cast<double>(p.tuples_done) / p.tuples_total
                                               : 0;
        if (tty) {
            std::cout << fmt::format("\r[{}/{}] {} {} {:3.0f} % {}\x1b[K", p.step, p.steps, p.relation,
                                     bar(fraction), fraction * 100, p.phase)
                      << std::flush;
        } else if (p.step != last_step) {
            std::cout << fmt::format("[{}/{}] {}: {}\n", p.step, p.steps, p.relation, p.phase) << std::flush;
        }
        last_step = p.step;
    };
    yw::ops::InterruptGuard guard;
    auto report = yw::ops::build_index(dsn, o, *plan, progress, guard.flag());
    if (tty) std::cout << "\r\x1b[K";
    if (g.json) {
        boost::json::array built, dropped;
        for (const auto& b : report.built) built.push_back(boost::json::value(b));
        for (const auto& d : report.dropped) dropped.push_back(boost::json::value(d));
        print_json(boost::json::object{{"ok", report.ok},
                                       {"interrupted", report.interrupted},
                                       {"index", o.name},
                                       {"built", std::move(built)},
                                       {"dropped", std::move(dropped)},
                                       {"error", report.error},
                                       {"cleanup_error", report.cleanup_error},
                                       {"seconds", report.seconds}});
    } else if (report.ok) {
        std::cout << fmt::format("✓ {} built ({} index(es), {:.1f} s), valid\n", o.name, report.built.size(),
                                 report.seconds);
    } else {
        std::cout << fmt::format("✗ {} not built: {}\n", o.name, report.error);
        for (const auto& d : report.dropped) std::cout << "  dropped " << d << ", which the build left\n";
        if (!report.cleanup_error.empty())
            std::cout << "  ✗ could not clean up: " << report.cleanup_error
                      << " (ywctl index check lists it)\n";
    }
    if (report.ok) return kOk;
    return report.cleanup_error.empty() ? kWarning : kCritical;
}

std::string size_text(long long bytes) {
    if (bytes >= 1024LL * 1024 * 1024) return fmt::format("{:.1f} GB", bytes / (1024.0 * 1024 * 1024));
    if (bytes >= 1024LL * 1024) return fmt::format("{:.1f} MB", bytes / (1024.0 * 1024));
    return fmt::format("{} kB", (bytes + 1023) / 1024);
}

int check(const Globals& g) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    std::vector<yw::pg::SyncConnection> conns;
    std::vector<std::string> unreachable;
    auto nodes = config->nodes();
    for (const auto& n : nodes) {
        auto c = yw::pg::SyncConnection::open(n.url);
        if (!c) {
            if (conns.empty()) {
                print_error(g.json, "cannot connect to the primary: " + c.error().message);
                return kCritical;
            }
            unreachable.push_back(n.name);
            continue;
        }
        conns.push_back(std::move(c.value()));
    }
    std::vector<yw::pg::SyncConnection*> ptrs;
    for (auto& c : conns) ptrs.push_back(&c);
    auto findings = yw::ops::check_indexes(ptrs);
    if (!findings) {
        print_error(g.json, findings.error().message);
        return kCritical;
    }
    if (g.json) {
        boost::json::array list;
        for (const auto& f : *findings) list.push_back(yw::ops::to_json(f));
        boost::json::array missing;
        for (const auto& u : unreachable) missing.push_back(boost::json::value(u));
        print_json(
            boost::json::object{{"findings", std::move(list)}, {"unreachable_nodes", std::move(missing)}});
    } else {
        if (findings->empty()) std::cout << "✓ no invalid, duplicate or unused index\n";
        Table table{{"", "index", "table", "size", "partitions", "scans", "why"}, {}};
        for (const auto& f : *findings)
            table.rows.push_back({f.kind, f.index, f.table, size_text(f.bytes), std::to_string(f.partitions),
                                  std::to_string(f.scans), f.detail});
        if (!table.rows.empty()) std::cout << render(table);
        for (const auto& u : unreachable)
            std::cout << "• " << u << " did not answer: its scans are not counted\n";
    }
    bool invalid =
        std::any_of(findings->begin(), findings->end(), [](const auto& f) { return f.kind == "invalid"; });
    if (invalid) return kCritical;
    return findings->empty() ? kOk : kWarning;
}

}  // namespace

void add_index_commands(CLI::App& app, const Globals& g, Action& action) {
    auto* index =
        app.add_subcommand("index", "RB-9: the index a statement needs, built safely; indexes to drop");
    index->require_subcommand(1);

    auto advise_args = std::make_shared<AdviseArgs>();
    auto* adv = index->add_subcommand(
        "advise",
        "Candidate indexes from the statement's plan, each costed as a hypothetical index (HypoPG) on a "
        "replica; "
        "the cheapest that at least halves the estimated cost, with its CREATE INDEX CONCURRENTLY statements "
        "(exit 0 nothing to do, 1 an index suggested, 2 an error)");
    adv->add_option("statement", advise_args->sql, "The SQL ($1… from --param)");
    adv->add_option("--name", advise_args->name,
                    "…or a statement of ywmsgd's registry (e.g. messages.recent)");
    adv->add_option("--param", advise_args->params, "A parameter for $1, $2, … (repeat)");
    adv->add_option(
           "--top", advise_args->top,
           "Instead of a statement: the node's N statements with the most time in pg_stat_statements, "
           "each planned generically (no values needed)")
        ->check(CLI::Range(1, 100));
    adv->add_option("--node", advise_args->node, "Where to plan: replica-1 (default), replica-2, primary");
    adv->add_option("--timeout-ms", advise_args->timeout_ms, "statement_timeout (default 30000)")
        ->check(CLI::Range(1LL, 86400000LL));
    adv->add_option("--max-cost-ratio", advise_args->max_ratio,
                    "Suggest only what brings the estimated cost to this share or less (default 0.5)")
        ->check(CLI::Range(0.01, 1.0));
    adv->callback(
        [&g, &action, advise_args] { action = [&g, advise_args] { return advise(g, *advise_args); }; });

    auto create_args = std::make_shared<CreateArgs>();
    auto* cr = index->add_subcommand(
        "create",
        "Build an index without blocking writes: CONCURRENTLY, partition by partition then attached, "
        "bounded by lock_timeout, with progress; a build that fails or is interrupted drops what it left "
        "(exit 0 built, 1 not built and cleaned up, 2 something left behind, 64 a bad name, table or "
        "column)");
    cr->add_option("name", create_args->name, "The index's name")->required();
    cr->add_option("--on", create_args->on, "TABLE(COLUMN, …), e.g. 'conversation_message(conversation_id)'")
        ->required();
    cr->add_option("--where", create_args->where, "A partial index's predicate (SQL)");
    cr->add_option("--lock-timeout-ms", create_args->lock_timeout_ms,
                   "Give up on a lock not granted within this (default 5000)")
        ->check(CLI::Range(1LL, 86400000LL));
    cr->add_flag("--yes", create_args->yes, "Build it (without: print the statements only)");
    cr->callback(
        [&g, &action, create_args] { action = [&g, create_args] { return create(g, *create_args); }; });

    auto* ck = index->add_subcommand("check",
                                     "Invalid, duplicate and unused indexes with their sizes, partitions "
                                     "rolled up, scans summed over every "
                                     "node (exit 0 none, 1 duplicate or unused, 2 an INVALID index)");
    ck->callback([&g, &action] { action = [&g] { return check(g); }; });
}

}  // namespace ywctl
