// ywctl pool status (RB-5) | resize N (RB-6) | leaks [--terminate PID] (RB-7): PgBouncer's pools.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <iostream>

#include "commands.hpp"
#include "ops/pgbouncer.hpp"
#include "report.hpp"

namespace ywctl {
namespace {

struct PoolArgs {
    int timeout_s = kDefaultConnectTimeoutS;
    long long size = 0;
    int min_duration_s = yw::ops::kLongRunningDefaultS;
    long long terminate = 0;
    bool dry_run = false;
    bool yes = false;
};

int status(const Globals& g, const PoolArgs& a) {
    auto config = config_or_report(g);
    if (!config) return kConfig;
    if (config->pgbouncer_admin_url.empty()) {
        print_error(g.json, "PGBOUNCER_ADMIN_URL is not set (PgBouncer's admin console)");
        return kConfig;
    }
    auto snap = yw::ops::collect_pools(config->pgbouncer_admin_url, std::chrono::seconds(a.timeout_s));
    return print_report(yw::ops::assess_pools(snap), g.json);
}

int resize(const Globals& g, const PoolArgs& a) {
    auto config = config_or_report(g);
    if (!config) return kConfig;
    if (config->pgbouncer_ini.empty() || config->pgbouncer_admin_url.empty()) {
        print_error(g.json,
                    "resize needs PGBOUNCER_INI (pgbouncer.ini on this host) and PGBOUNCER_ADMIN_URL");
        return kConfig;
    }
    auto timeout = std::chrono::seconds(a.timeout_s);
    auto plan = yw::ops::plan_resize(*config, a.size, timeout);
    if (!plan) {
        print_error(g.json, plan.error().message);
        return exit_for(plan.error().code);
    }
    auto steps = plan_with_warnings(plan->steps, plan->warnings);
    if (a.dry_run) return print_dry_run(steps, g.json, {{"from", plan->from}, {"to", plan->to}});
    if (plan->from == plan->to) {
        if (g.json) {
            print_json(boost::json::object{{"from", plan->from}, {"to", plan->to}, {"changed", false}});
        } else {
            std::cout << "✓ default_pool_size is already " << plan->to << "; nothing to do\n";
        }
        return kOk;
    }
    if (!confirm(steps, a.yes, g.json)) return kUsage;
    auto now = yw::ops::run_resize(*config, *plan, timeout);
    if (!now) {
        print_error(g.json, "resize failed: " + now.error().message);
        return kCritical;
    }
    std::string rollback = fmt::format("ywctl pool resize {}", plan->from);
    if (g.json) {
        print_json(boost::json::object{{"from", plan->from},
                                       {"to", plan->to},
                                       {"changed", true},
                                       {"verified_default_pool_size", *now},
                                       {"ini", plan->ini.string()},
                                       {"rollback", rollback}});
    } else {
        std::cout << fmt::format(
                         "✓ default_pool_size {} → {}: written to {}, reloaded, SHOW CONFIG says {}\n",
                         plan->from, plan->to, plan->ini.string(), *now)
                  << "  watch: ywctl pool status   (cl_waiting back to 0)\n"
                  << "  rollback: " << rollback << "\n";
    }
    return kOk;
}

int terminate(const Globals& g, const yw::Config& config, const PoolArgs& a) {
    auto timeout = std::chrono::seconds(a.timeout_s);
    auto primary = yw::ops::find_primary(config, timeout);
    if (!primary) {
        print_error(g.json, primary.error().message);
        return kCritical;
    }
    auto backend = yw::ops::find_backend(primary->url, a.terminate, timeout);
    if (!backend) {
        print_error(g.json, backend.error().message);
        return exit_for(backend.error().code);
    }
    std::vector<std::string> plan{
        fmt::format("on {}: SELECT pg_terminate_backend({})", primary->name, a.terminate),
        "that session: " + yw::ops::describe(*backend),
        "its open transaction rolls back; its client sees the connection close"};
    if (!confirm(plan, a.yes, g.json)) return kUsage;
    auto done = yw::ops::terminate_backend(primary->url, a.terminate, timeout);
    if (!done) {
        print_error(g.json, done.error().message);
        return kCritical;
    }
    if (g.json) {
        print_json(boost::json::object{{"pid", a.terminate}, {"terminated", *done}, {"node", primary->name}});
    } else {
        std::cout << mark(*done) << " pid " << a.terminate << (*done ? " terminated" : " was already gone")
                  << "\n";
    }
    return *done ? kOk : kWarning;
}

int leaks(const Globals& g, const PoolArgs& a) {
    auto config = config_or_report(g);
    if (!config) return kConfig;
    if (a.terminate != 0) return terminate(g, *config, a);
    auto snap = yw::ops::collect_leaks(*config, a.min_duration_s, std::chrono::seconds(a.timeout_s));
    auto report = yw::ops::assess_leaks(snap, a.min_duration_s);
    int code = print_report(report, g.json);
    if (!g.json && !snap.long_running.empty()) {
        Table t{{"pid", "user", "database", "state", "for", "via", "query"}, {}};
        for (const auto& b : snap.long_running) {
            std::string q = b.query.substr(0, 60);
            for (auto& c : q) c = c == '\n' ? ' ' : c;
            t.rows.push_back({std::to_string(b.pid), b.user, b.database, b.state,
                              fmt::format("{} s", b.duration_ms / 1000),
                              b.via_pgbouncer.empty() ? "direct" : "pgbouncer", q});
        }
        std::cout << "\nSessions on " << snap.primary << " older than " << a.min_duration_s << " s:\n"
                  << render(t);
    }
    return code;
}

}  // namespace

void add_pool_commands(CLI::App& app, const Globals& g, Action& action) {
    auto args = std::make_shared<PoolArgs>();
    auto* pool = app.add_subcommand("pool", "PgBouncer's pools: status (RB-5), resize (RB-6), leaks (RB-7)");
    pool->require_subcommand(1);
    auto timeout = [args](CLI::App* cmd) { add_timeout_option(cmd, args->timeout_s); };
    auto* st = pool->add_subcommand("status", "RB-5: SHOW POOLS against the healthy ranges");
    timeout(st);
    st->callback([&g, &action, args] { action = [&g, args] { return status(g, *args); }; });

    auto* rs = pool->add_subcommand("resize", "RB-6: set default_pool_size in PGBOUNCER_INI, RELOAD, verify");
    rs->add_option("size", args->size, "The new default_pool_size")->required()->check(CLI::Range(1, 10000));
    rs->add_flag("--dry-run", args->dry_run, "Show the plan only");
    rs->add_flag("--yes", args->yes, "Do not ask");
    timeout(rs);
    rs->callback([&g, &action, args] { action = [&g, args] { return resize(g, *args); }; });

    auto* lk = pool->add_subcommand(
        "leaks", "RB-7: sessions busy or idle in transaction too long, who holds the server connections");
    lk->add_option("--min-duration", args->min_duration_s, "Report sessions older than this, seconds")
        ->check(CLI::Range(0, 86400 * 7))
        ->capture_default_str();
    lk->add_option("--terminate", args->terminate,
                   "pg_terminate_backend(PID) on the primary, after confirmation")
        ->check(CLI::Range(1LL, 4194304LL));
    lk->add_flag("--yes", args->yes, "Do not ask (with --terminate)");
    timeout(lk);
    lk->callback([&g, &action, args] { action = [&g, args] { return leaks(g, *args); }; });
}

}  // namespace ywctl
