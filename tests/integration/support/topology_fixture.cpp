// The topology fixture and process/HTTP helpers of the integration tests (their main() is in main.cpp).
#include "support/topology_fixture.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/logging.hpp"
#include "ops/http_client.hpp"
#include "pg/migrator.hpp"

namespace yw::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string built(const std::string& program) { return std::string(YW_BINARY_DIR) + "/" + program; }

}  // namespace

std::string aws_cli() { return find_program("aws").value_or("aws"); }

int pick_port_base() {
    // Below the kernel's ephemeral range: a listening port inside it can be taken, while its server is down,
    // as the source port of some outgoing connection, and the node cannot be restarted (seen in the chaos
    // suite: Redis killed under load, "port … already in use" on every restart for seconds). PgBouncer, the
    // highest, is base + 1000.
    int ephemeral_low = 32768;
    if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> ephemeral_low;
    std::mt19937 rng(static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(time(nullptr)));
    std::uniform_int_distribution<int> dist(20000, std::max(20001, ephemeral_low - 1001));
    for (int attempt = 0; attempt < 200; ++attempt) {
        int base = dist(rng);
        auto p = cluster::Ports::from_base(base);
        if (!port_in_use(p.primary) && !port_in_use(p.replica1) && !port_in_use(p.replica2) &&
            !port_in_use(p.pgbouncer) && !port_in_use(p.redis) && !port_in_use(p.s3) &&
            !port_in_use(p.s3_tls)) {
            return base;
        }
    }
    return 0;
}

int destroy_at_exit(const fs::path& dir) {
    // The reaper waits for EOF on a pipe only we hold open: the kernel closes it however we end.
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t reaper = fork();
    if (reaper < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (reaper == 0) {
        close(fds[1]);
        setsid();  // outlive a signal to our process group
        // Not into our stdout, which may be a report (yw_chaos --json): destroy's "Deleted …" is noise there.
        if (int null = open("/dev/null", O_WRONLY); null >= 0) dup2(null, STDOUT_FILENO);
        char c;
        while (read(fds[0], &c, 1) > 0) {
        }
        std::string ywctl = built("ywctl");
        execl(ywctl.c_str(), "ywctl", "cluster", "destroy", "--yes", "--dir", dir.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return fds[1];
}

Topology& Topology::get() {
    static Topology instance;
    return instance;
}

void Topology::start() {
    char templ[] = "/tmp/yw-it-XXXXXX";
    char* made = mkdtemp(templ);
    ASSERT_NE(made, nullptr);
    int base = pick_port_base();
    ASSERT_NE(base, 0) << "no free port range for a topology";
    cluster::Options options;
    options.dir = made;
    options.port_base = base;
    options.first_backup = false;  // archiving and the stanza only: backup_test takes its own backups
    options.progress = [](const std::string& m) { std::fprintf(stderr, "[topology] %s\n", m.c_str()); };
    auto opened = cluster::LocalTopology::open(options);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    local_ = std::make_unique<cluster::LocalTopology>(std::move(opened.value()));

    reaper_pipe_ = destroy_at_exit(made);
    ASSERT_GE(reaper_pipe_, 0) << "cannot start the reaper";

    auto up = local_->up();
    ASSERT_TRUE(up.ok()) << up.error().message;
    auto migrated = pg::migrate(connections().pgbouncer, std::string(YW_SOURCE_DIR) + "/sql/migrations");
    ASSERT_TRUE(migrated.ok()) << migrated.error().message;
}

void Topology::stop() {
    if (!local_) return;
    auto s = local_->destroy();
    if (!s) std::fprintf(stderr, "[topology] destroy failed: %s\n", s.error().message.c_str());
    if (reaper_pipe_ >= 0) close(reaper_pipe_);  // the reaper's destroy finds nothing left
    reaper_pipe_ = -1;
}

pg::SyncConnection Topology::superuser(const std::string& node, const std::string& db) const {
    int port = node == "primary"     ? ports().primary
               : node == "replica-1" ? ports().replica1
                                     : ports().replica2;
    auto c =
        pg::SyncConnection::open(fmt::format("host=127.0.0.1 port={} user=postgres dbname={}", port, db));
    if (!c) throw std::runtime_error("cannot connect to " + node + ": " + c.error().message);
    return std::move(c.value());
}

pg::SyncConnection Topology::app() const {
    auto c = pg::SyncConnection::open(connections().pgbouncer);
    if (!c) throw std::runtime_error("cannot connect through pgbouncer: " + c.error().message);
    return std::move(c.value());
}

RunResult run_built(const std::string& program, const std::vector<std::string>& args,
                    const std::vector<std::string>& env, std::chrono::seconds timeout) {
    std::vector<std::string> argv{built(program)};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions opts;
    opts.env = env;
    opts.timeout = timeout;
    auto r = run_process(argv, opts);
    if (!r) return RunResult{-1, r.error().message, false};
    return *r;
}

Child::Child(const std::string& program, const std::vector<std::string>& args,
             const std::vector<std::string>& env) {
    char templ[] = "/tmp/yw-child-XXXXXX.log";
    int fd = mkstemps(templ, 4);
    log_path_ = templ;
    std::vector<std::string> argv{built(program)};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<std::string> envs;
    for (char** e = environ; e && *e; ++e) envs.emplace_back(*e);
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> cenv;
    for (auto& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execve(cargv[0], cargv.data(), cenv.data());
        _exit(127);
    }
    close(fd);
}

Child::~Child() {
    if (running()) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    } else if (crash_signal_ != 0) {
        // A child that crashed (a sanitizer's abort, a segfault) says why in the test's output: its log is
        // deleted next.
        // Sanitizer frames name whole template types: each line is cut, so the report fits a CI log's tail.
        std::istringstream in(log());
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) {
            constexpr size_t kLine = 200;
            if (line.size() > kLine) line = line.substr(0, kLine) + "…";
            lines.push_back(std::move(line));
        }
        // From a sanitizer's report on, else the end of the log.
        constexpr size_t kLines = 200;
        size_t from = lines.size() > kLines ? lines.size() - kLines : 0;
        for (size_t i = 0; i < lines.size(); ++i) {
            if (lines[i].find("ERROR: AddressSanitizer") != std::string::npos ||
                lines[i].find("runtime error:") != std::string::npos) {
                from = i;
                break;
            }
        }
        fmt::print(stderr, "[child] {} died by signal {}; its log:\n", log_path_, crash_signal_);
        for (size_t i = from; i < lines.size() && i < from + kLines; ++i)
            fmt::print(stderr, "{}\n", lines[i]);
    }
    unlink(log_path_.c_str());
}

bool Child::running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGKILL)
            crash_signal_ = WTERMSIG(status);
        pid_ = -1;
        return false;
    }
    return true;
}

int Child::terminate(std::chrono::seconds grace) {
    if (!running()) return exit_code_;
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    if (running()) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
        exit_code_ = -1;
    }
    return exit_code_;
}

std::string Child::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

double metric_value(int port, const std::string& series) {
    auto r = http_request(port, "GET", "/metrics");
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
}

HttpResponse http_request(int port, const std::string& method, const std::string& target,
                          const std::string& body, const std::map<std::string, std::string>& headers) {
    auto reply = ops::http_call(ops::HttpTarget{"127.0.0.1", port}, method, target, body, headers, 30s);
    if (reply.status == 0) return HttpResponse{0, reply.error, {}};
    return HttpResponse{reply.status, std::move(reply.body), std::move(reply.headers)};
}

std::vector<std::string> migration_versions() {
    auto found = pg::list_migrations(std::filesystem::path(YW_SOURCE_DIR) / "sql" / "migrations");
    EXPECT_TRUE(found.ok()) << found.error().message;
    std::vector<std::string> out;
    if (found.ok())
        for (const auto& m : *found) out.push_back(std::to_string(m.version));
    return out;
}

int free_port() {
    // One generator per process, seeded once (a generator per call seeded from the pid and clock() gave two
    // quick calls the same port), and never the same port twice: a port handed out may not be bound yet.
    static std::mutex mutex;
    static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
    static std::set<int> handed_out;
    std::uniform_int_distribution<int> dist(50001, 60000);
    std::lock_guard lock(mutex);
    for (;;) {
        int p = dist(rng);
        if (!handed_out.contains(p) && !port_in_use(p)) {
            handed_out.insert(p);
            return p;
        }
    }
}

bool wait_for_port(int port, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (port_in_use(port)) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

}  // namespace yw::test
