// PostgreSQL node control: pg_ctl and friends as child processes, with every step checked.
#include "node/control.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>

#include "common/files.hpp"
#include "common/process.hpp"
#include "pg/failover_queries.hpp"
#include "pg/sync_connection.hpp"

namespace yw::node {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string service_user() { return running_as_root() ? kServiceUser : ""; }

Status fail(std::string message) { return make_error(ErrorCode::kUnavailable, std::move(message)); }

}  // namespace

std::string postgres_bindir() {
    if (const char* env = std::getenv("YW_PG_BINDIR"); env && *env) return env;
    if (fs::exists("/usr/lib/postgresql/15/bin/pg_ctl")) return "/usr/lib/postgresql/15/bin";
    return {};
}

std::string pg_program(const std::string& name) {
    std::string dir = postgres_bindir();
    return dir.empty() ? name : dir + "/" + name;
}

// PostgreSQL programs run as the postgres system user when we are root.
Status run_postgres_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                            const std::string& log_file) {
    RunOptions opts;
    opts.as_user = service_user();
    opts.timeout = timeout;
    opts.stdout_file = log_file;
    auto r = run_process(argv, opts);
    if (!r) return r.error();
    if (r->timed_out)
        return fail(fmt::format("{} did not finish within {} s", argv[0], timeout.count() / 1000));
    if (r->exit_code != 0) {
        std::string out = r->output;
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        return fail(fmt::format("{} failed (exit {}){}{}", render_command(argv), r->exit_code,
                                out.empty() ? "" : ": ", out));
    }
    return {};
}

void give_to_service_user(const fs::path& path) {
    if (!running_as_root()) return;
    auto ids = lookup_user(kServiceUser);
    if (!ids) return;
    std::error_code ec;
    if (lchown(path.c_str(), ids->uid, ids->gid) != 0) return;
    if (!fs::is_directory(path, ec)) return;
    for (auto it = fs::recursive_directory_iterator(path, ec); it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (ec) break;
        (void)lchown(it->path().c_str(), ids->uid, ids->gid);
    }
}

std::string application_name(const std::string& node) {
    std::string out = node;
    std::replace(out.begin(), out.end(), '-', '_');
    return out;
}

std::string slot_name(const std::string& node) { return application_name(node) + "_slot"; }

bool process_alive(int pid) {
    if (pid <= 0 || ::kill(pid, 0) != 0) return false;
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

bool postmaster_running(const fs::path& data) {
    std::ifstream in(data / "postmaster.pid");
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return false;
    if (process_alive(static_cast<int>(pid))) return true;
    wait_until(10s, [&] { return ::kill(static_cast<pid_t>(pid), 0) != 0; });  // a zombie: let it be reaped
    return false;
}

Status start(const fs::path& data, const fs::path& log_file) {
    return run_postgres_program(
        {pg_program("pg_ctl"), "-D", data.string(), "-l", log_file.string(), "-w", "-t", "60", "start"}, 90s);
}

Status stop(const fs::path& data, bool kill_it) {
    if (!kill_it) {
        if (!fs::exists(data / "PG_VERSION") || !postmaster_running(data)) return {};
        return run_postgres_program(
            {pg_program("pg_ctl"), "-D", data.string(), "-m", "fast", "-w", "-t", "60", "stop"}, 90s);
    }
    std::ifstream in(data / "postmaster.pid");
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return fail("no postmaster.pid in " + data.string());
    if (::kill(static_cast<pid_t>(pid), SIGKILL) != 0) return fail(fmt::format("kill -9 {} failed", pid));
    // The backends notice their postmaster died and exit; the port closes with the postmaster.
    if (!wait_until(
            10s, [&] { return !process_alive(static_cast<int>(pid)); }, 50ms))
        return fail(fmt::format("postmaster {} survived SIGKILL", pid));
    return {};
}

std::optional<std::string> controldata_value(const fs::path& data, const std::string& key) {
    RunOptions opts;
    opts.as_user = service_user();
    opts.timeout = 10s;
    auto r = run_process({pg_program("pg_controldata"), "-D", data.string()}, opts);
    if (!r || r->exit_code != 0) return std::nullopt;
    auto at = r->output.find(key + ":");
    if (at == std::string::npos) return std::nullopt;
    auto start = r->output.find_first_not_of(' ', at + key.size() + 1);
    auto end = r->output.find('\n', start);
    return r->output.substr(start, end - start);
}

Status wait_streaming(const std::string& primary_url, const std::vector<std::string>& nodes,
                      std::chrono::milliseconds limit) {
    std::string last;
    bool ok = wait_until(limit, [&] {
        auto conn = pg::SyncConnection::open(primary_url, 2s);
        if (!conn) {
            last = conn.error().message;
            return false;
        }
        auto rows = conn->query(pg::queries::kStreamingStandbys);
        if (!rows) {
            last = rows.error().message;
            return false;
        }
        std::set<std::string> streaming;
        for (size_t i = 0; i < rows->size(); ++i)
            if (rows->text(i, "state") == "streaming") streaming.insert(rows->text(i, "application_name"));
        std::vector<std::string> missing;
        for (const auto& n : nodes)
            if (!streaming.count(application_name(n))) missing.push_back(n);
        last = missing.empty() ? "" : fmt::format("not streaming yet: {}", fmt::join(missing, ", "));
        return missing.empty();
    });
    if (!ok)
        return fail(fmt::format("standbys did not stream within {} s ({})",
                                std::chrono::duration_cast<std::chrono::seconds>(limit).count(), last));
    return {};
}

}  // namespace yw::node
