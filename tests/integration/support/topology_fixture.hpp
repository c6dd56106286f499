// Integration test support: one throwaway topology per test binary (free ports, temp dir, migrated), torn
// down at exit even when a test fails or the binary crashes; plus helpers to run ywctl and ywmsgd.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cluster/local_topology.hpp"
#include "common/process.hpp"
#include "pg/sync_connection.hpp"

namespace yw::test {

class Topology {
  public:
    // The binary's topology; started by the test environment before the first test.
    static Topology& get();

    cluster::LocalTopology& local() { return *local_; }
    const cluster::Ports& ports() const { return local_->ports(); }
    cluster::Connections connections() const { return local_->connections(); }
    std::filesystem::path dir() const { return local_->dir(); }
    std::filesystem::path env_file() const { return local_->env_file(); }

    // A superuser connection to a node ("primary", "replica-1", "replica-2"), direct.
    pg::SyncConnection superuser(const std::string& node, const std::string& db = "ywmessaging") const;
    // app_user through PgBouncer, as ywmsgd connects.
    pg::SyncConnection app() const;

    void start();
    void stop();

  private:
    std::unique_ptr<cluster::LocalTopology> local_;
    int reaper_pipe_ = -1;
};

// A port base (cluster::Ports::from_base) whose five ports are all free now; 0 when none was found.
int pick_port_base();

// Forks a reaper that runs `ywctl cluster destroy --yes --dir DIR` when this process ends, however it ends
// (it waits for EOF on a pipe only this process holds). Returns that pipe's write end: close it once the
// topology is destroyed, and the reaper finds nothing left. -1 when the reaper could not start.
int destroy_at_exit(const std::filesystem::path& dir);

// Runs a program of the build (ywctl, ywmsgd) to completion.
RunResult run_built(const std::string& program, const std::vector<std::string>& args,
                    const std::vector<std::string>& env = {},
                    std::chrono::seconds timeout = std::chrono::seconds(120));

// A background ywmsgd (or any program) killed when this object goes away.
class Child {
  public:
    Child(const std::string& program, const std::vector<std::string>& args,
          const std::vector<std::string>& env);
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    int pid() const { return pid_; }  // -1 once it ended
    bool running();
    // Sends SIGTERM and waits; returns the exit code (-1 if killed).
    int terminate(std::chrono::seconds grace = std::chrono::seconds(15));
    std::string log() const;  // what the child printed so far

  private:
    int pid_ = -1;
    std::string log_path_;
    int exit_code_ = -1;
    int crash_signal_ = 0;  // the signal it died by, when not one of ours (SIGTERM, SIGKILL)
};

struct HttpResponse {
    int status = 0;  // 0 when the request failed
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
};
HttpResponse http_request(int port, const std::string& method, const std::string& target,
                          const std::string& body = {},
                          const std::map<std::string, std::string>& headers = {});

// One series of GET /metrics by its full text (labels included), e.g.
// yw_cache_loads_total{namespace="users"}; -1 when the server does not expose it.
double metric_value(int port, const std::string& series);

// A TCP port on 127.0.0.1 nobody is listening on right now, and not handed out before in this process.
// The versions of sql/migrations (NNNN_*.sql), in order, as schema_migrations records them.
std::vector<std::string> migration_versions();

int free_port();
// The AWS CLI (the tests' independent S3 client): from PATH, else pyenv's shims, where the machine image's
// pip puts it.
std::string aws_cli();
// Waits until something listens on 127.0.0.1:port.
bool wait_for_port(int port, std::chrono::milliseconds limit);

}  // namespace yw::test
