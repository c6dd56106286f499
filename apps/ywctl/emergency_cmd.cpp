// ywctl emergency db-down (RB-20) | pool-exhausted (RB-21) | replica-failure (RB-22).
#include <fmt/format.h>

#include <boost/json.hpp>
#include <iostream>

#include "backup/check.hpp"
#include "commands.hpp"
#include "common/process.hpp"
#include "common/time.hpp"
#include "ops/emergency.hpp"
#include "ops/pgbouncer.hpp"
#include "report.hpp"

namespace ywctl {
namespace {

struct EmergencyArgs {
    int timeout_s = kDefaultConnectTimeoutS;
    int min_duration_s = yw::ops::kLongRunningDefaultS;
    std::string dir = "var/cluster";
    bool failover = false;
    bool terminate_long = false;
    bool rebuild = false;
    bool yes = false;
};

// The diagnosis, unless --json output belongs to the action that follows; returns its exit code.
int show(const yw::ops::Report& report, bool json, bool acting) {
    if (json && acting) return to_check_report(report).exit_code();
    return print_report(report, json);
}

// Runs another ywctl command (this very binary) with our stdio, so its plan and confirmation reach the
// operator.
int run_ywctl(const Globals& g, std::vector<std::string> args, bool yes) {
    std::vector<std::string> argv{"ywctl"};
    if (!g.config_file.empty()) argv.insert(argv.end(), {"--config", g.config_file});
    if (g.json) argv.push_back("--json");
    argv.insert(argv.end(), args.begin(), args.end());
    if (yes) argv.push_back("--yes");
    std::cerr << "→ running: ywctl";
    for (size_t i = 1; i < argv.size(); ++i) std::cerr << " " << argv[i];
    std::cerr << std::endl;
    std::cout.flush();
    argv.front() = "/proc/self/exe";
    yw::RunOptions options;
    options.inherit_output = true;
    options.timeout = std::chrono::hours(24);  // the sub-command bounds its own steps
    auto r = yw::run_process(argv, options);
    if (!r) {
        print_error(g.json, r.error().message);
        return kCritical;
    }
    return r->exit_code < 0 ? int(kCritical) : r->exit_code;
}

int db_down(const Globals& g, const EmergencyArgs& a) {
    auto config = config_or_report(g);
    if (!config) return kConfig;
    if (!admin_nodes_or_report(g, *config)) return kConfig;
    auto d = yw::ops::diagnose_db_down(*config, std::chrono::seconds(a.timeout_s));
    // No node answers and no replica can be promoted: RB-20's last resort is the backup.
    bool no_candidate = false;
    for (const auto& f : d.report.findings)
        no_candidate = no_candidate || (f.name == "failover candidate" && f.value == "none");
    if (no_candidate && config->backup.configured()) {
        yw::backup::PgBackRest engine(yw::backup::settings_from(*config));
        yw::backup::advise_restore(d.report, engine.info(), yw::unix_us_now() / 1000000);
    }
    int code = show(d.report, g.json, a.failover);
    if (!a.failover) return code;
    if (d.action.empty()) {
        print_error(g.json, "--failover: the diagnosis recommends no failover; nothing done");
        return code;
    }
    return run_ywctl(g, d.action, a.yes);
}

int pool_exhausted(const Globals& g, const EmergencyArgs& a) {
    auto config = config_or_report(g);
    if (!config) return kConfig;
    auto timeout = std::chrono::seconds(a.timeout_s);
    auto d = yw::ops::diagnose_pool_exhausted(*config, a.min_duration_s, timeout);
    int code = show(d.report, g.json, a.terminate_long);
    if (!a.terminate_long) return code;
    if (d.terminate_pids.empty()) {
        print_error(g.json, "--terminate-long: no session is older than the limit; nothing done");
        return code;
    }
    auto primary = yw::ops::find_primary(*config, timeout);
    if (!primary) {
        print_error(g.json, primary.error().message);
        return kCritical;
    }
    std::vector<std::string> plan;
    for (long long pid : d.terminate_pids)
        plan.push_back(fmt::format("on {}: pg_terminate_backend({})", primary->name, pid));
    if (!confirm(plan, a.yes, g.json)) return kUsage;
    boost::json::array done;
    int failures = 0;
    for (long long pid : d.terminate_pids) {
        auto r = yw::ops::terminate_backend(primary->url, pid, timeout);
        bool ok = r && *r;
        failures += !ok;
        done.push_back({{"pid", pid}, {"terminated", ok}});
        if (!g.json)
            std::cout << mark(ok) << " pid " << pid << (ok ? " terminated" : " not terminated") << "\n";
    }
    if (g.json) print_json(boost::json::object{{"terminated", done}});
    return failures == 0 ? int(kOk) : int(kWarning);
}

int replica_failure(const Globals& g, const EmergencyArgs& a) {
    auto config = config_or_report(g);
    if (!config) return kConfig;
    if (!admin_nodes_or_report(g, *config)) return kConfig;
    auto d = yw::ops::diagnose_replica_failure(*config, std::chrono::seconds(a.timeout_s));
    int code = show(d.report, g.json, a.rebuild);
    if (!a.rebuild) return code;
    if (d.action.empty()) {
        print_error(g.json, "--rebuild: no single replica needs a rebuild; nothing done");
        return code;
    }
    auto args = d.action;
    args.insert(args.end(), {"--dir", a.dir});
    return run_ywctl(g, args, a.yes);
}

}  // namespace

// Each emergency command diagnoses, prints the findings and the recommended next command; it acts only with
// an explicit flag.
void add_emergency_commands(CLI::App& app, const Globals& g, Action& action) {
    auto args = std::make_shared<EmergencyArgs>();
    auto* em = app.add_subcommand("emergency",
                                  "Emergency runbooks RB-20 … RB-22: diagnose, recommend, act on a flag");
    em->require_subcommand(1);
    auto timeout = [args](CLI::App* cmd) { add_timeout_option(cmd, args->timeout_s); };
    auto* db = em->add_subcommand("db-down", "RB-20: is the primary down? which replica to fail over to");
    db->add_flag("--failover", args->failover,
                 "Run the recommended `ywctl failover --to …` (it asks, or --yes)");
    db->add_flag("--yes", args->yes, "Pass --yes to the action");
    timeout(db);
    db->callback([&g, &action, args] { action = [&g, args] { return db_down(g, *args); }; });

    auto* pool =
        em->add_subcommand("pool-exhausted", "RB-21: waiting clients and the sessions that hold the pool");
    pool->add_option("--min-duration", args->min_duration_s, "Sessions older than this are stuck, seconds")
        ->check(CLI::Range(0, 86400 * 7))
        ->capture_default_str();
    pool->add_flag("--terminate-long", args->terminate_long,
                   "pg_terminate_backend each session listed (asks, or --yes)");
    pool->add_flag("--yes", args->yes, "Do not ask");
    timeout(pool);
    pool->callback([&g, &action, args] { action = [&g, args] { return pool_exhausted(g, *args); }; });

    auto* rep =
        em->add_subcommand("replica-failure", "RB-22: why a replica does not stream, and what fixes it");
    rep->add_flag("--rebuild", args->rebuild,
                  "Run the recommended `ywctl replicas rebuild NAME` here (on that replica's host)");
    rep->add_option("--dir", args->dir, "The local topology's directory, for --rebuild")
        ->capture_default_str();
    rep->add_flag("--yes", args->yes, "Pass --yes to the action");
    timeout(rep);
    rep->callback([&g, &action, args] { action = [&g, args] { return replica_failure(g, *args); }; });
}

}  // namespace ywctl
