// The ywctl command tree: each noun registers its verbs on the CLI11 app and runs them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "common/config.hpp"
#include "common/error.hpp"
#include "pg/sync_connection.hpp"

namespace ywctl {

struct Globals {
    std::string config_file;  // --config
    bool json = false;        // --json
};

// What a verb does once the command line parsed; returns the process exit code.
using Action = std::function<int()>;

void add_cluster_commands(CLI::App& app, const Globals& globals, Action& action);
void add_db_commands(CLI::App& app, const Globals& globals, Action& action);
// failover, switchover, rejoin, drill failover (RB-2, RB-4): apps/ywctl/failover_cmd.cpp.
void add_failover_commands(CLI::App& app, const Globals& globals, Action& action);
// The runbook commands: replicas check|rebuild (RB-1, RB-3), pool status|resize|leaks (RB-5 … RB-7),
// emergency (RB-20 … RB-22).
void add_replicas_commands(CLI::App& app, const Globals& globals, Action& action);
void add_pool_commands(CLI::App& app, const Globals& globals, Action& action);
void add_emergency_commands(CLI::App& app, const Globals& globals, Action& action);
void add_ratelimit_commands(CLI::App& app, const Globals& globals, Action& action);
void add_cache_commands(CLI::App& app, const Globals& globals, Action& action);
// health [--url URL] (RB-23): apps/ywctl/health_cmd.cpp.
void add_health_commands(CLI::App& app, const Globals& globals, Action& action);
// query compare (RB-10): apps/ywctl/query_cmd.cpp.
void add_query_commands(CLI::App& app, const Globals& globals, Action& action);
// index advise|create|check (RB-9): apps/ywctl/index_cmd.cpp.
void add_index_commands(CLI::App& app, const Globals& globals, Action& action);
// The statement of a measuring command: its SQL, or a registry statement's by name (pg/queries.hpp, e.g.
// messages.recent; --name). kInvalidArgument for both, neither, or an unknown name.
yw::Result<std::string> statement_or_registry(const std::string& sql, const std::string& name);
// A connection as the application's role to the node called `node` (replica-1 when empty, the primary when
// the topology has none): for commands that measure. nullopt with `exit` set (64 unknown node, 2 unreachable)
// and the error printed.
std::optional<yw::pg::SyncConnection> open_node(const Globals& g, const yw::Config& config,
                                                const std::string& node, int& exit);

// partitions archive|restore (RB-18, RB-19), under the `partitions` noun of add_db_commands.
void add_archive_commands(CLI::App& partitions, const Globals& globals, Action& action);
// backup run|list|check|restore and drill restore (pgBackRest, RB-20): apps/ywctl/backup_cmd.cpp. After
// add_failover_commands, which makes `drill`.
void add_backup_commands(CLI::App& app, const Globals& globals, Action& action);

// The configuration for commands that talk to the application database: --config, YW_CONFIG_FILE, the
// environment, or (when none names a database) the local topology's var/cluster/cluster.env.
yw::Result<yw::Config> load_ctl_config(const Globals& globals);

// The superuser DSN of the node called `name` (DATABASE_ADMIN_URLS). kInvalidArgument naming the known nodes
// when there is no such node (callers exit 64), kUnavailable when DATABASE_ADMIN_URLS is not set.
yw::Result<std::string> admin_url(const yw::Config& config, const std::string& name);

}  // namespace ywctl
