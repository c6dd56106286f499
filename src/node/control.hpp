// PostgreSQL node control: server programs, process state, replication names, waiting for standbys.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace yw::node {

// The server programs (pg_ctl, pg_rewind, pg_basebackup, pg_controldata) run as the service user; a node's
// process state, its replication names, and waiting until standbys stream. One module for the launcher
// (`ywctl cluster`), failover, switchover, rejoin, rebuild, the drill and the tests.

// The system user that runs PostgreSQL and PgBouncer when we are root (they refuse to run as root).
inline constexpr const char* kServiceUser = "postgres";

// Where the PostgreSQL server programs live: $YW_PG_BINDIR, Debian's /usr/lib/postgresql/15/bin, or PATH.
std::string postgres_bindir();
// The path of a PostgreSQL program (pg_ctl, pg_rewind, …) in postgres_bindir().
std::string pg_program(const std::string& name);

// Runs a PostgreSQL program as the service user (postgres, when we are root: the servers refuse root); a
// non-zero exit becomes an error carrying the program's output.
Status run_postgres_program(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout = std::chrono::seconds(120),
                            const std::string& log_file = {});
// Hands a path (recursively) to the service user, so PostgreSQL and PgBouncer can use it; no-op unless root.
void give_to_service_user(const std::filesystem::path& path);

// A node's application_name: replica-1 -> replica_1, primary -> primary. The names the runbooks fix for the
// replicas; the same rule for a former primary that rejoined.
std::string application_name(const std::string& node);
// Its physical replication slot: replica-1 -> replica_1_slot.
std::string slot_name(const std::string& node);

// Whether a process is alive: it exists and is not a zombie.
bool process_alive(int pid);

// Whether the postmaster of data directory `data` runs. A killed postmaster stays a zombie until its parent
// reaps it (PID 1 of some containers takes seconds), which pg_ctl counts as running and a new postmaster
// takes for a live lock holder: such a zombie is waited for (up to 10 s) and then reported as not running.
bool postmaster_running(const std::filesystem::path& data);

// pg_ctl start -w, logging to `log_file`.
Status start(const std::filesystem::path& data, const std::filesystem::path& log_file);
// pg_ctl stop -m fast (nothing to do when it does not run), or with `kill` SIGKILL to the postmaster (a
// crash, for the drill and the fault tests), waiting until it is gone.
Status stop(const std::filesystem::path& data, bool kill = false);

// One field of pg_controldata ("Latest checkpoint's REDO location"); nullopt when unreadable.
std::optional<std::string> controldata_value(const std::filesystem::path& data, const std::string& key);

// Waits until every node in `nodes` (node names) streams from the primary at `primary_url` (superuser DSN),
// as its pg_stat_replication shows them by application_name.
Status wait_streaming(const std::string& primary_url, const std::vector<std::string>& nodes,
                      std::chrono::milliseconds limit);

}  // namespace yw::node
