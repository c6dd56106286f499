// ywctl: the operator CLI. `ywctl <noun> <verb>`; checks exit with Nagios codes, usage errors with 64.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.hpp"
#include "common/logging.hpp"
#include "output.hpp"

int main(int argc, char** argv) {
    yw::log::init(yw::log::Level::kWarn, yw::log::Format::kText);
    CLI::App app{"ywctl: operate ywmessaging — one command per runbook", "ywctl"};
    app.require_subcommand(1);
    app.fallthrough();  // --json and --config may follow the verb: `ywctl cluster status --json`
    ywctl::Globals globals;
    app.add_option("--config", globals.config_file, "KEY=VALUE configuration file (as ywmsgd --config)");
    app.add_flag("--json", globals.json, "Machine-readable output");
    ywctl::Action action;
    ywctl::add_cluster_commands(app, globals, action);
    ywctl::add_db_commands(app, globals, action);
    ywctl::add_failover_commands(app, globals, action);
    ywctl::add_backup_commands(app, globals, action);
    ywctl::add_replicas_commands(app, globals, action);
    ywctl::add_pool_commands(app, globals, action);
    ywctl::add_emergency_commands(app, globals, action);
    ywctl::add_ratelimit_commands(app, globals, action);
    ywctl::add_cache_commands(app, globals, action);
    ywctl::add_health_commands(app, globals, action);
    ywctl::add_query_commands(app, globals, action);
    ywctl::add_index_commands(app, globals, action);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // Name the problem, then show the usage of the deepest command the user reached, which lists its
        // verbs.
        CLI::App* reached = &app;
        for (bool deeper = true; deeper;) {
            deeper = false;
            for (CLI::App* sub : reached->get_subcommands()) {
                reached = sub;
                deeper = true;
                break;
            }
        }
        std::string path;
        std::string extra;
        for (CLI::App* a = reached; a != nullptr; a = a->get_parent()) {
            path = a->get_name() + (path.empty() ? "" : " " + path);
            if (extra.empty() && !a->remaining().empty()) extra = a->remaining().front();
        }
        std::cerr << path << ": " << e.what();
        if (!extra.empty()) std::cerr << " (not understood: " << extra << ")";
        std::cerr << "\n\n" << reached->help();
        return ywctl::kUsage;
    }
    return action ? action() : int(ywctl::kUsage);
}
