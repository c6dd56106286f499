// Running external programs (initdb, pg_ctl, pg_basebackup, pgbouncer, redis-server) with captured output.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace yw {

// A program may run as another system user (as_user): PostgreSQL and PgBouncer refuse to run as root.
struct RunOptions {
    std::string as_user;                        // empty: the current user; only honoured when running as root
    std::vector<std::string> env;               // extra "KEY=VALUE" entries
    std::chrono::milliseconds timeout{120000};  // the child is killed past it
    std::string stdout_file;  // if set, the child's stdout/stderr go there instead of a pipe
    // The child writes to our stdout/stderr and stays in our process group (Ctrl-C reaches it): a sub-command
    // run in the foreground. Nothing is captured.
    bool inherit_output = false;
};

struct RunResult {
    int exit_code = -1;  // -1 when killed by a signal or the timeout
    std::string output;  // stdout and stderr, interleaved
    bool timed_out = false;
};

// Runs argv[0] (searched on PATH) and waits for it. Fails only when the program cannot be started.
Result<RunResult> run_process(const std::vector<std::string>& argv, const RunOptions& options = {});

// The executable `name` on PATH, else in pyenv's shims ($HOME/.pyenv/shims, /root/.pyenv/shims), where the
// machine image's pip puts Python tools (moto_server, aws); nullopt when there is none.
std::optional<std::string> find_program(const std::string& name);

// True when this process runs as root.
bool running_as_root();

// uid and gid of a system user, if it exists.
struct UserIds {
    unsigned uid = 0;
    unsigned gid = 0;
};
std::optional<UserIds> lookup_user(const std::string& name);

// Whether something is listening on, or has bound, 127.0.0.1:port (a bind attempt fails).
bool port_in_use(int port);

// A shell-safe rendering of argv for logs and --dry-run plans.
std::string render_command(const std::vector<std::string>& argv);

}  // namespace yw
