// yw_chaos (`make chaos`, docs/reliability.md): the hostile run as a program. For each fault, on a fresh
// throwaway topology with its own ywmsgd, a mixed read/write load runs through the API; the fault is injected
// after a warm-up, held, healed, and the load goes on for a settle period; then every acknowledged write is
// looked up on the primary of the moment. One table row per fault, each judged against the promise the system
// makes for it; the exit status says whether every promise held. Not a ctest test: it takes minutes and
// measures the whole system (docs/reliability.md).
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "cluster/local_topology.hpp"
#include "common/config.hpp"
#include "common/logging.hpp"
#include "hostile.hpp"
#include "node/control.hpp"
#include "ops/api_load.hpp"
#include "ops/failover.hpp"
#include "pg/migrator.hpp"
#include "pg/queries.hpp"
#include "pg/sync_connection.hpp"
#include "support/topology_fixture.hpp"

namespace yw::chaos {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kExitUsage = 64;
constexpr double kRssLimitMb = 64;
constexpr double kMaxPrimaryXactPerUnknownKey = 0.05;
constexpr int kIdleConnectionsWanted = 10'000;
constexpr long long kHealthLatencyLimitMs = 100;

constexpr pg::Query kXacts{"chaos.xacts",
                           "SELECT xact_commit + xact_rollback AS x FROM pg_stat_database"
                           " WHERE datname = 'ywmessaging'"};
constexpr pg::Query kPauseReplay{"chaos.pause_replay", "SELECT pg_wal_replay_pause()"};
constexpr pg::Query kResumeReplay{"chaos.resume_replay", "SELECT pg_wal_replay_resume()"};

long long ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

Error fail(std::string message) { return make_error(ErrorCode::kUnavailable, std::move(message)); }

void say(const std::string& message) { std::fprintf(stderr, "[chaos] %s\n", message.c_str()); }

struct Args {
    std::vector<std::string> faults;  // empty: all
    int seconds = 12;                 // of load per phase, fault included
    int clients = 6;                  // load threads, one tenant and key each
    bool sync = false;
    bool json = false;
};

// A phase's durations, from --seconds: a quarter of warm-up, the fault held for a third or more, the rest to
// settle.
struct Timeline {
    std::chrono::milliseconds warmup, hold, settle;
    explicit Timeline(int seconds)
        : warmup(seconds * 250), hold(seconds * 1000 * 5 / 12), settle(seconds * 1000 / 3) {}
};

// One promise of a phase, and whether it held.
struct Check {
    std::string promise;
    bool ok = false;
};

struct PhaseResult {
    std::string fault;
    std::string error;  // the phase could not run to the end: counts as broken
    long long reads = 0, failed_reads = 0, writes = 0, failed_writes = 0, acked = 0;
    long long lost = -1;  // acknowledged writes missing on the primary; -1: not verified
    std::vector<std::string> lost_ids;
    long long recover_ms = -1;  // heal → the first acknowledged write sent after it
    double peak_rss_mb = 0;
    std::vector<Check> checks;
    std::vector<std::string> notes;  // what else was measured, and why requests failed
    long long total_ms = 0;

    bool ok() const {
        if (!error.empty()) return false;
        for (const auto& c : checks)
            if (!c.ok) return false;
        return true;
    }
};

// A throwaway topology (free ports, a temp dir, migrated), destroyed with the object; a reaper destroys it
// even if this process dies. Phases share one as long as each heals what it broke.
class Topology {
  public:
    static Result<std::unique_ptr<Topology>> start(const Args& args) {
        auto t = std::unique_ptr<Topology>(new Topology());
        char templ[] = "/tmp/yw-chaos-XXXXXX";
        if (!mkdtemp(templ)) return fail("mkdtemp failed");
        t->dir_ = templ;
        int base = test::pick_port_base();
        if (base == 0) return fail("no free port range for a topology");
        cluster::Options options;
        options.dir = t->dir_;
        options.port_base = base;
        options.sync = args.sync;
        options.first_backup = false;
        auto opened = cluster::LocalTopology::open(options);
        if (!opened) return opened.error();
        t->local_ = std::make_unique<cluster::LocalTopology>(std::move(*opened));
        t->reaper_pipe_ = test::destroy_at_exit(t->dir_);
        if (auto s = t->local_->up(); !s) return s.error();
        auto migrated =
            pg::migrate(t->local_->connections().pgbouncer, std::string(YW_SOURCE_DIR) + "/sql/migrations");
        if (!migrated) return migrated.error();
        auto env = read_env_file(t->local_->env_file().string());
        if (!env) return env.error();
        t->admin_token_ = env->at("YW_ADMIN_TOKEN");
        return t;
    }

    ~Topology() {
        if (local_) {
            if (auto s = local_->destroy(); !s) say("destroy failed: " + s.error().message);
        }
        if (reaper_pipe_ >= 0) close(reaper_pipe_);
    }

    cluster::LocalTopology& local() { return *local_; }
    const fs::path& dir() const { return dir_; }
    const std::string& admin_token() const { return admin_token_; }

    // A superuser DSN of a node, direct.
    std::string dsn(const std::string& node, const std::string& db = "ywmessaging") const {
        return fmt::format("host=127.0.0.1 port={} user=postgres dbname={}", local_->port_of(node), db);
    }
    std::string primary_dsn(const std::string& db = "ywmessaging") const {
        return dsn(local_->current_primary(), db);
    }

    // `ywctl cluster up` on this topology: starts what is not running. A node killed a moment ago may still
    // hold its port or shared memory, so it is tried a few times.
    Status restart_missing() {
        Status last;
        for (int attempt = 0; attempt < 5; ++attempt) {
            last = local_->up();
            if (last) return {};
            std::this_thread::sleep_for(1s);
        }
        return last;
    }

    // As the next phase needs it: the original primary leads, both replicas stream, PgBouncer and Redis
    // answer (waiting up to `limit` for a restarted node to catch up). Otherwise, why not.
    std::string unhealthy(std::chrono::milliseconds limit) const {
        auto deadline = Clock::now() + limit;
        for (;;) {
            std::string why;
            auto nodes = local_->status();
            if (!nodes) {
                why = nodes.error().message;
            } else {
                for (const auto& n : *nodes) {
                    bool ok = n.running && (n.kind == cluster::NodeKind::kPrimary   ? n.name == "primary"
                                            : n.kind == cluster::NodeKind::kReplica ? n.state == "streaming"
                                                                                    : true);
                    if (!ok)
                        why += fmt::format("{}{} {} ({})", why.empty() ? "" : ", ", n.name, n.state, n.role);
                }
            }
            if (why.empty() || Clock::now() > deadline) return why;
            std::this_thread::sleep_for(250ms);
        }
    }

    // ywctl with this topology's configuration.
    RunResult ywctl(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--config", local_->env_file().string()});
        return test::run_built("ywctl", args, {}, 120s);
    }

  private:
    Topology() = default;
    fs::path dir_;
    std::unique_ptr<cluster::LocalTopology> local_;
    int reaper_pipe_ = -1;
    std::string admin_token_;
};

// One phase's world: the topology, a ywmsgd of its own (so its RSS and state start afresh) and the load's
// tenants and keys.
class Stage {
  public:
    static Result<std::unique_ptr<Stage>> start(Topology& topology, int clients) {
        auto stage = std::unique_ptr<Stage>(new Stage(topology));
        stage->port_ = test::free_port();
        stage->server_ = std::make_unique<test::Child>(
            "ywmsgd", std::vector<std::string>{"--config", topology.local().env_file().string()},
            std::vector<std::string>{fmt::format("YW_HTTP_PORT={}", stage->port_), "YW_LOG_LEVEL=warn"});
        if (!test::wait_for_port(stage->port_, 20s))
            return fail("ywmsgd did not listen within 20 s: " + stage->server_->log());
        auto made = ops::make_load_clients(stage->api(), topology.admin_token(), "chaos", clients, 1);
        if (!made) return made.error();
        stage->clients_ = std::move(*made);
        return stage;
    }

    ~Stage() {
        if (server_) server_->terminate(5s);
    }

    Topology& topology() { return topology_; }
    cluster::LocalTopology& local() { return topology_.local(); }
    ops::HttpTarget api() const { return {"127.0.0.1", port_}; }
    int ywmsgd_pid() const { return server_->pid(); }
    std::string ywmsgd_log() const { return server_->log(); }
    const std::vector<ops::LoadClient>& clients() const { return clients_; }
    const fs::path& dir() const { return topology_.dir(); }
    std::string dsn(const std::string& node, const std::string& db = "ywmessaging") const {
        return topology_.dsn(node, db);
    }
    std::string primary_dsn(const std::string& db = "ywmessaging") const { return topology_.primary_dsn(db); }

  private:
    explicit Stage(Topology& topology) : topology_(topology) {}
    Topology& topology_;
    int port_ = 0;
    std::unique_ptr<test::Child> server_;
    std::vector<ops::LoadClient> clients_;
};

// --- faults on the servers ---

std::optional<pid_t> pid_from(const fs::path& pidfile) {
    std::ifstream in(pidfile);
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return std::nullopt;
    return static_cast<pid_t>(pid);
}

Status signal_pidfile(const fs::path& pidfile, int sig, const std::string& what) {
    auto pid = pid_from(pidfile);
    if (!pid) return fail(fmt::format("no pid for {} in {}", what, pidfile.string()));
    if (::kill(*pid, sig) != 0) return fail(fmt::format("kill({}, {}) for {} failed", *pid, sig, what));
    say(fmt::format("signal {} to {} (pid {})", sig, what, *pid));
    return {};
}

// SIGKILL, then wait until the process is gone. A daemon's pidfile is removed too: killed, it cannot remove
// it, and a zombie its reaper has not collected yet would pass for a live process when the topology restarts
// it.
Status kill_daemon(const fs::path& pidfile, const std::string& what) {
    auto pid = pid_from(pidfile);
    if (auto s = signal_pidfile(pidfile, SIGKILL, what); !s) return s;
    auto deadline = Clock::now() + 5s;
    while (node::process_alive(*pid) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    std::error_code ec;
    fs::remove(pidfile, ec);
    return {};
}

// A crash, as the failover drill makes one: SIGKILL to the postmaster, then wait for it to be gone.
Status kill_postmaster(Stage& s, const std::string& node) {
    say("SIGKILL to " + node + "'s postmaster");
    return node::stop(s.local().data_dir(node), true);
}

Status on_replicas(Stage& s, const pg::Query& q) {
    for (const std::string node : {"replica-1", "replica-2"}) {
        auto c = pg::SyncConnection::open(s.dsn(node));
        if (!c) return c.error();
        if (auto r = c->query(q); !r) return r.error();
    }
    return {};
}

struct InfraFault {
    std::string name;
    std::string what;
    std::function<Status(Stage&)> inject;
    std::function<Status(Stage&)> heal;
    bool primary_lost = false;  // the primary is gone: acknowledged writes may be lost without --sync
};

std::vector<InfraFault> infrastructure_faults() {
    auto redis_pid = [](Stage& s) { return s.dir() / "redis" / "redis.pid"; };
    auto bouncer_pid = [](Stage& s) { return s.dir() / "pgbouncer" / "pgbouncer.pid"; };
    return {
        {"redis-freeze", "Redis frozen (SIGSTOP), then SIGCONT",
         [=](Stage& s) { return signal_pidfile(redis_pid(s), SIGSTOP, "redis"); },
         [=](Stage& s) { return signal_pidfile(redis_pid(s), SIGCONT, "redis"); }},
        {"redis-kill", "Redis killed (SIGKILL), then started again",
         [=](Stage& s) { return kill_daemon(redis_pid(s), "redis"); },
         [](Stage& s) { return s.topology().restart_missing(); }},
        {"pgbouncer-kill", "PgBouncer killed (SIGKILL), then started again",
         [=](Stage& s) { return kill_daemon(bouncer_pid(s), "pgbouncer"); },
         [](Stage& s) { return s.topology().restart_missing(); }},
        {"replica-kill", "replica-1 killed (SIGKILL to its postmaster), then started again",
         [](Stage& s) { return kill_postmaster(s, "replica-1"); },
         [](Stage& s) { return s.topology().restart_missing(); }},
        {"replay-pause", "WAL replay paused on both replicas (they fall behind), then resumed",
         [](Stage& s) { return on_replicas(s, kPauseReplay); },
         [](Stage& s) { return on_replicas(s, kResumeReplay); }},
        {"primary-kill", "the primary killed (SIGKILL), then `ywctl failover --yes`",
         [](Stage& s) { return kill_postmaster(s, "primary"); },
         [](Stage& s) -> Status {
             auto r = s.topology().ywctl({"failover", "--yes"});
             if (r.exit_code != 0)
                 return fail(fmt::format("ywctl failover exited {}: {}", r.exit_code,
                                         r.output.substr(r.output.size() > 600 ? r.output.size() - 600 : 0)));
             return {};
         },
         true},
    };
}

// --- the phases ---

// Three reads per write, each client under its key's rate limit (enterprise: 10 000 a minute).
std::unique_ptr<ops::ApiLoad> make_load(Stage& s) {
    ops::LoadOptions options;
    options.reads_per_write = 3;
    options.pace = 25ms;
    options.timeout = 5s;
    return std::make_unique<ops::ApiLoad>(s.api(), s.clients(), options);
}

// The load's counts, the check of every acknowledged write on the primary of the moment, and the recovery
// time from `heal_at` (waiting up to 30 s for a write to be acknowledged after it).
void finish_load(PhaseResult& r, ops::ApiLoad& load, Stage& s, Clock::time_point heal_at) {
    auto deadline = Clock::now() + 30s;
    std::optional<Clock::time_point> first;
    while (!(first = load.first_ack_sent_after(heal_at)) && Clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    load.stop();
    if (first) r.recover_ms = std::max(0LL, ms_between(heal_at, *first));
    r.reads = load.reads_attempted();
    r.failed_reads = load.reads_failed();
    r.writes = load.writes_attempted();
    r.failed_writes = load.writes_failed();
    auto acks = load.acks();
    r.acked = static_cast<long long>(acks.size());
    auto missing = ops::count_missing_acks(s.primary_dsn(), acks, r.lost_ids);
    if (missing)
        r.lost = *missing;
    else
        r.error = "cannot verify the acknowledged writes: " + missing.error().message;
    std::string reasons;
    int shown = 0;
    for (const auto& [why, n] : load.failure_reasons()) {
        if (shown++ == 4) break;
        reasons += fmt::format("{}{} × {}", reasons.empty() ? "" : ", ", n, why);
    }
    if (!reasons.empty()) r.notes.push_back("failed requests: " + reasons);
    if (!first) r.notes.push_back("no write acknowledged within 30 s of the heal");
}

void check_reads(PhaseResult& r) {
    r.checks.push_back({fmt::format("0 failed reads: {}", r.failed_reads), r.failed_reads == 0});
}

void check_lost(PhaseResult& r, bool strict) {
    if (strict || r.lost != 0)
        r.checks.push_back({fmt::format("0 lost: {}", r.lost), !strict || r.lost == 0});
}

void check_rss(PhaseResult& r) {
    r.checks.push_back(
        {fmt::format("RSS < {:.0f} MB: {:.1f}", kRssLimitMb, r.peak_rss_mb), r.peak_rss_mb < kRssLimitMb});
}

PhaseResult infrastructure_phase(Stage& s, const Args& args, const InfraFault& fault) {
    PhaseResult r;
    r.fault = fault.name;
    Timeline t(args.seconds);
    RssSampler rss(s.ywmsgd_pid());
    auto load = make_load(s);
    load->start();
    std::this_thread::sleep_for(t.warmup);
    if (load->acks().empty()) r.notes.push_back("no write acknowledged during the warm-up");
    say(fault.name + ": " + fault.what);
    if (auto st = fault.inject(s); !st) r.error = "inject: " + st.error().message;
    std::this_thread::sleep_for(t.hold);
    auto heal_at = Clock::now();
    auto healed = fault.heal(s);
    if (!healed) r.error = "heal: " + healed.error().message;
    r.notes.push_back(fmt::format("healed in {} ms", ms_between(heal_at, Clock::now())));
    std::this_thread::sleep_for(t.settle);
    finish_load(r, *load, s, heal_at);
    rss.stop();
    r.peak_rss_mb = static_cast<double>(rss.peak_kb()) / 1024.0;
    check_reads(r);
    // Losing the primary may lose what it acknowledged but had not shipped, unless replication is
    // synchronous; no other fault may lose anything.
    check_lost(r, args.sync || !fault.primary_lost);
    if (fault.primary_lost && !args.sync)
        r.notes.push_back(fmt::format("{} acked writes lost: judged only with --sync", r.lost));
    return r;
}

// 100 connections trickling a chunk-size line that never ends, 50 with an endless header, 50 with an endless
// chunked body, while the load runs.
PhaseResult slow_clients_phase(Stage& s, const Args& args) {
    PhaseResult r;
    r.fault = "slow-clients";
    Timeline t(args.seconds);
    RssSampler rss(s.ywmsgd_pid());
    auto load = make_load(s);
    load->start();
    std::this_thread::sleep_for(t.warmup);
    const auto& c = s.clients().front();
    using Kind = SlowClients::Kind;
    SlowClients hostile(
        s.api().port, {{Kind::kEndlessChunkSize, 100}, {Kind::kHugeHeader, 50}, {Kind::kHugeChunkedBody, 50}},
        "/v1/conversations/" + c.conversation + "/messages", c.key);
    say("slow-clients: 100 endless chunk-size lines, 50 endless headers, 50 endless chunked bodies");
    hostile.start();
    std::this_thread::sleep_for(std::max(t.hold, std::chrono::milliseconds(6000)));
    auto heal_at = Clock::now();
    hostile.stop();
    std::this_thread::sleep_for(t.settle);
    finish_load(r, *load, s, heal_at);
    rss.stop();
    r.peak_rss_mb = static_cast<double>(rss.peak_kb()) / 1024.0;
    for (Kind kind : {Kind::kEndlessChunkSize, Kind::kHugeHeader, Kind::kHugeChunkedBody}) {
        auto st = hostile.stats(kind);
        r.notes.push_back(
            fmt::format("{}: {} connections, {} closed by the server ({} answers 4xx), {:.1f} MB sent",
                        SlowClients::name(kind), st.connections, st.closed_by_server, st.answered_4xx,
                        static_cast<double>(st.bytes_sent) / 1e6));
    }
    check_reads(r);
    check_lost(r, true);
    check_rss(r);
    return r;
}

std::string random_key(std::mt19937_64& rng) {
    static constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string key = "key_test_";
    for (int i = 0; i < 32; ++i) key += kBase62[rng() % 62];
    return key;
}

// Threads sending well-formed keys nobody issued, each on a new connection, until stop().
class UnknownKeyFlood {
  public:
    UnknownKeyFlood(ops::HttpTarget api, int threads) : api_(std::move(api)) {
        for (int i = 0; i < threads; ++i)
            threads_.emplace_back([this, i] {
                std::mt19937_64 rng(std::random_device{}() + static_cast<unsigned>(i));
                while (!stop_) {
                    auto reply =
                        ops::http_call(api_, "GET", "/v1/users", {}, {{"X-API-Key", random_key(rng)}}, 2s);
                    ++requests_;
                    std::lock_guard lock(mutex_);
                    ++statuses_[reply.status];
                }
            });
    }
    ~UnknownKeyFlood() { stop(); }
    void stop() {
        stop_ = true;
        for (auto& t : threads_) t.join();
        threads_.clear();
    }
    long long requests() const { return requests_; }
    std::string statuses() const {
        std::lock_guard lock(mutex_);
        std::string out;
        for (const auto& [status, n] : statuses_)
            out += fmt::format("{}{} × {}", out.empty() ? "" : ", ", n, status);
        return out;
    }

  private:
    ops::HttpTarget api_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<long long> requests_{0};
    mutable std::mutex mutex_;
    std::map<int, long long> statuses_;
};

Result<long long> primary_xacts(Stage& s) {
    // From the postgres database, so that these queries are not counted themselves.
    auto c = pg::SyncConnection::open(s.primary_dsn("postgres"));
    if (!c) return c.error();
    auto rows = c->query(kXacts);
    if (!rows) return rows.error();
    return std::stoll(rows->text(0, "x"));
}

// Primary transactions per unknown-key request, measured before the load starts: the load's own transactions
// would drown the measure, and a backend flushes its counters only when busy again (or after 10 s idle), so a
// load paused just before would still report during the flood. The topology's probes set the baseline.
PhaseResult unknown_key_phase(Stage& s, const Args& args) {
    PhaseResult r;
    r.fault = "unknown-key-flood";
    Timeline t(args.seconds);
    RssSampler rss(s.ywmsgd_pid());
    double per_request = -1;
    Status measured = [&]() -> Status {
        auto x0 = primary_xacts(s);
        if (!x0) return x0.error();
        auto q0 = Clock::now();
        std::this_thread::sleep_for(2s);
        auto x1 = primary_xacts(s);
        if (!x1) return x1.error();
        double baseline_per_ms =
            static_cast<double>(*x1 - *x0) / static_cast<double>(ms_between(q0, Clock::now()));

        say("unknown-key-flood: 8 threads of random well-formed keys");
        UnknownKeyFlood flood(s.api(), 8);
        std::this_thread::sleep_for(1s);  // past the first requests, which may legitimately cost a query
        auto x2 = primary_xacts(s);
        if (!x2) return x2.error();
        long long r2 = flood.requests();
        auto w0 = Clock::now();
        std::this_thread::sleep_for(t.hold);
        auto x3 = primary_xacts(s);
        if (!x3) return x3.error();
        long long r3 = flood.requests();
        double window_ms = static_cast<double>(ms_between(w0, Clock::now()));
        if (r3 > r2) {
            per_request =
                (static_cast<double>(*x3 - *x2) - baseline_per_ms * window_ms) / static_cast<double>(r3 - r2);
            per_request = std::max(0.0, per_request);
        }
        r.notes.push_back(
            fmt::format("flood: {} requests in {:.1f} s measured, {} primary transactions (baseline "
                        "{:.1f}/s) → {:.3f} per "
                        "request",
                        r3 - r2, window_ms / 1000, *x3 - *x2, baseline_per_ms * 1000, per_request));

        // Then the legitimate load beside the flood: does it still get through?
        auto load = make_load(s);
        load->start();
        std::this_thread::sleep_for(t.hold);
        auto heal_at = Clock::now();
        flood.stop();
        r.notes.push_back("flood answers: " + flood.statuses());
        std::this_thread::sleep_for(t.settle);
        finish_load(r, *load, s, heal_at);
        return {};
    }();
    if (!measured) r.error = measured.error().message;
    rss.stop();
    r.peak_rss_mb = static_cast<double>(rss.peak_kb()) / 1024.0;
    r.checks.push_back(
        {fmt::format("primary xact/request < {}: {:.3f}", kMaxPrimaryXactPerUnknownKey, per_request),
         per_request >= 0 && per_request < kMaxPrimaryXactPerUnknownKey});
    check_reads(r);
    check_lost(r, true);
    check_rss(r);
    return r;
}

// Thousands of connections that never send a byte; then new clients ask /health.
PhaseResult connection_exhaustion_phase(Stage& s, const Args& args, long long fd_limit) {
    PhaseResult r;
    r.fault = "connection-exhaustion";
    Timeline t(args.seconds);
    RssSampler rss(s.ywmsgd_pid());
    auto load = make_load(s);
    load->start();
    std::this_thread::sleep_for(t.warmup);
    // Leave room for the load's connections, the probes' and the database connections of this process.
    int wanted = static_cast<int>(std::min<long long>(kIdleConnectionsWanted, fd_limit - 400));
    if (wanted < kIdleConnectionsWanted)
        r.notes.push_back(fmt::format("RLIMIT_NOFILE {} allows only {} idle connections", fd_limit, wanted));
    say(fmt::format("connection-exhaustion: {} idle connections", wanted));
    IdleConnections idle;
    auto opened_at = Clock::now();
    int established = idle.open(s.api().port, wanted, 2s);
    r.notes.push_back(fmt::format("{} of {} idle connections established in {} ms", established, wanted,
                                  ms_between(opened_at, Clock::now())));
    std::this_thread::sleep_for(1s);
    std::vector<long long> latencies;
    int answered = 0;
    for (int i = 0; i < 5; ++i) {
        auto t0 = Clock::now();
        auto reply = ops::http_call(s.api(), "GET", "/health", {}, {}, 2s);
        latencies.push_back(ms_between(t0, Clock::now()));
        if (reply.status == 200) ++answered;
        std::this_thread::sleep_for(200ms);
    }
    int still_open = idle.still_open();
    std::this_thread::sleep_for(t.hold);
    auto heal_at = Clock::now();
    idle.close_all();
    std::this_thread::sleep_for(t.settle);
    finish_load(r, *load, s, heal_at);
    rss.stop();
    r.peak_rss_mb = static_cast<double>(rss.peak_kb()) / 1024.0;
    auto sorted = latencies;
    std::sort(sorted.begin(), sorted.end());
    long long median = sorted[sorted.size() / 2];
    r.notes.push_back(
        fmt::format("/health from a new client: {} of 5 answered 200, median {} ms, max {} ms; {} "
                    "idle connections still open then",
                    answered, median, sorted.back(), still_open));
    r.checks.push_back(
        {fmt::format("/health < {} ms beside {} idle: {} ms", kHealthLatencyLimitMs, established, median),
         answered == 5 && median < kHealthLatencyLimitMs});
    check_reads(r);
    check_lost(r, true);
    check_rss(r);
    return r;
}

// --- the suite ---

struct Phase {
    std::string name;
    std::string what;
    std::function<PhaseResult(Stage&)> run;
};

std::vector<Phase> phases(const Args& args, long long fd_limit) {
    std::vector<Phase> out;
    for (const auto& f : infrastructure_faults())
        out.push_back({f.name, f.what, [f, &args](Stage& s) { return infrastructure_phase(s, args, f); }});
    out.push_back({"slow-clients", "100 endless chunk-size lines + 100 endless headers/bodies",
                   [&args](Stage& s) { return slow_clients_phase(s, args); }});
    out.push_back({"unknown-key-flood", "8 threads of random well-formed unknown keys",
                   [&args](Stage& s) { return unknown_key_phase(s, args); }});
    out.push_back({"connection-exhaustion", "10 000 idle connections, then a new client's /health",
                   [&args, fd_limit](Stage& s) { return connection_exhaustion_phase(s, args, fd_limit); }});
    // The failover leaves a promoted standby and a diverged old primary: it runs last (each phase has its own
    // topology anyway, but a failure to tear one down then costs nothing).
    std::stable_partition(out.begin(), out.end(), [](const Phase& p) { return p.name != "primary-kill"; });
    return out;
}

// Runs one phase on `topology`, starting a fresh one when there is none.
PhaseResult run_phase(const Phase& phase, const Args& args, std::unique_ptr<Topology>& topology) {
    auto t0 = Clock::now();
    PhaseResult r;
    r.fault = phase.name;
    if (!topology) {
        say(phase.name + ": starting a topology");
        auto started = Topology::start(args);
        if (!started) {
            r.error = "setup: " + started.error().message;
            return r;
        }
        topology = std::move(*started);
    }
    auto stage = Stage::start(*topology, args.clients);
    say(fmt::format("{}: ready in {:.1f} s", phase.name,
                    static_cast<double>(ms_between(t0, Clock::now())) / 1000));
    if (!stage) {
        r.error = "setup: " + stage.error().message;
    } else {
        r = phase.run(**stage);
        // ywmsgd's log of every phase is kept for whoever investigates a broken promise.
        fs::path logs = fs::path(YW_BINARY_DIR) / "chaos";
        std::error_code ec;
        fs::create_directories(logs, ec);
        std::ofstream(logs / (phase.name + ".ywmsgd.log")) << (*stage)->ywmsgd_log();
        if (!r.ok())
            say(fmt::format("{}: ywmsgd's log is in {}", phase.name,
                            (logs / (phase.name + ".ywmsgd.log")).string()));
        stage->reset();
    }
    r.total_ms = ms_between(t0, Clock::now());
    say(fmt::format("{}: {} in {:.1f} s", phase.name, r.ok() ? "held" : "BROKEN",
                    static_cast<double>(r.total_ms) / 1000));
    // The next phase gets this topology only if it is whole again; a failover never leaves it so.
    std::string why = r.error.empty() && phase.name != "primary-kill" ? topology->unhealthy(15s) : "replaced";
    if (!why.empty()) {
        if (why != "replaced") say("the topology did not heal (" + why + "): the next phase gets a new one");
        topology.reset();
    }
    return r;
}

// Display width of UTF-8 text (✓, ✗, →, × are one column each).
size_t width(const std::string& s) {
    size_t w = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++w;
    return w;
}

std::string pad(const std::string& s, size_t w, bool right = false) {
    std::string fill(w > width(s) ? w - width(s) : 0, ' ');
    return right ? fill + s : s + fill;
}

void print_table(const std::vector<PhaseResult>& results, const Args& args) {
    std::vector<std::vector<std::string>> rows{{"fault", "requests", "failed reads", "failed writes",
                                                "acked lost", "recover ms", "peak RSS MB", "promise", ""}};
    for (const auto& r : results) {
        std::string promises;
        for (const auto& c : r.checks)
            promises += (promises.empty() ? "" : "; ") + c.promise + (c.ok ? " ✓" : " ✗");
        if (!r.error.empty()) promises = "could not run: " + r.error.substr(0, 80);
        rows.push_back({r.fault, std::to_string(r.reads + r.writes), std::to_string(r.failed_reads),
                        std::to_string(r.failed_writes),
                        r.lost < 0 ? "?" : fmt::format("{} of {}", r.lost, r.acked),
                        r.recover_ms < 0 ? "—" : std::to_string(r.recover_ms),
                        fmt::format("{:.1f}", r.peak_rss_mb), promises, r.ok() ? "✓" : "✗"});
    }
    std::vector<size_t> widths(rows[0].size(), 0);
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
    for (size_t n = 0; n < rows.size(); ++n) {
        std::string line;
        for (size_t i = 0; i < rows[n].size(); ++i) {
            bool numeric = i >= 1 && i <= 6;
            line += (i ? "  " : "") + pad(rows[n][i], widths[i], numeric && n > 0);
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        std::cout << line << "\n";
    }
    std::cout << "\n";
    for (const auto& r : results) {
        for (const auto& note : r.notes) std::cout << r.fault << ": " << note << "\n";
        if (!r.lost_ids.empty()) {
            std::string ids;
            for (const auto& id : r.lost_ids) ids += (ids.empty() ? "" : " ") + id;
            std::cout << r.fault << ": lost ids (first " << r.lost_ids.size() << "): " << ids << "\n";
        }
    }
    std::cout << fmt::format("\n{} s of load per phase, {} clients, replication {}\n", args.seconds,
                             args.clients, args.sync ? "synchronous (--sync)" : "asynchronous");
    // Last, so that a CI log cut to its tail still says what broke.
    for (const auto& r : results) {
        if (r.ok()) continue;
        if (!r.error.empty()) std::cout << "BROKEN " << r.fault << ": could not run: " << r.error << "\n";
        for (const auto& c : r.checks)
            if (!c.ok) std::cout << "BROKEN " << r.fault << ": " << c.promise << "\n";
    }
}

void print_json(const std::vector<PhaseResult>& results, const Args& args, bool ok) {
    json::array phases;
    for (const auto& r : results) {
        json::array checks, notes, lost_ids;
        for (const auto& c : r.checks) checks.push_back(json::object{{"promise", c.promise}, {"ok", c.ok}});
        for (const auto& n : r.notes) notes.push_back(json::string(n));
        for (const auto& id : r.lost_ids) lost_ids.push_back(json::string(id));
        phases.push_back(json::object{{"fault", r.fault},
                                      {"ok", r.ok()},
                                      {"error", r.error},
                                      {"reads", r.reads},
                                      {"failed_reads", r.failed_reads},
                                      {"writes", r.writes},
                                      {"failed_writes", r.failed_writes},
                                      {"acked", r.acked},
                                      {"acked_lost", r.lost},
                                      {"lost_ids", lost_ids},
                                      {"recover_ms", r.recover_ms},
                                      {"peak_rss_mb", r.peak_rss_mb},
                                      {"checks", checks},
                                      {"notes", notes},
                                      {"total_ms", r.total_ms}});
    }
    std::cout << json::serialize(json::object{{"ok", ok},
                                              {"seconds", args.seconds},
                                              {"clients", args.clients},
                                              {"sync", args.sync},
                                              {"phases", phases}})
              << "\n";
}

constexpr const char* kUsage =
    "usage: yw_chaos [--fault NAME]... [--seconds N] [--clients N] [--sync] [--json]\n"
    "\n"
    "Injects one fault at a time into a fresh local topology under a mixed read/write load through ywmsgd\n"
    "and prints one row per fault, judged against its promise (docs/reliability.md). Exit 0 when every\n"
    "promise held, 1 otherwise, 64 on a usage error.\n"
    "\n"
    "  --fault NAME  run only this fault (repeatable; default: all of them)\n"
    "  --seconds N   load per phase, fault included (default 12, at least 4)\n"
    "  --clients N   load threads, each with its own tenant and key (default 6)\n"
    "  --sync        synchronous replication: then no fault may lose an acknowledged write\n"
    "  --json        one JSON object instead of the table\n"
    "\n"
    "faults:\n";

int usage_error(const std::string& message, const std::vector<Phase>& all) {
    std::cerr << "yw_chaos: " << message << "\n\n" << kUsage;
    for (const auto& p : all) std::cerr << fmt::format("  {:<22} {}\n", p.name, p.what);
    return kExitUsage;
}

int run(int argc, char** argv) {
    Args args;
    long long fd_limit = raise_fd_limit();
    auto all = phases(args, fd_limit);
    auto number = [&](int& i, int& out, int min) -> bool {
        if (i + 1 >= argc) return false;
        try {
            size_t used = 0;
            out = std::stoi(argv[++i], &used);
            return used == std::string(argv[i]).size() && out >= min;
        } catch (const std::exception&) {
            return false;
        }
    };
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            for (const auto& p : all) std::cout << fmt::format("  {:<22} {}\n", p.name, p.what);
            return 0;
        } else if (a == "--fault") {
            if (i + 1 >= argc) return usage_error("--fault needs a NAME", all);
            std::string name = argv[++i];
            if (std::none_of(all.begin(), all.end(), [&](const Phase& p) { return p.name == name; }))
                return usage_error("unknown fault '" + name + "'", all);
            args.faults.push_back(name);
        } else if (a == "--seconds") {
            if (!number(i, args.seconds, 4)) return usage_error("--seconds needs a whole number >= 4", all);
        } else if (a == "--clients") {
            if (!number(i, args.clients, 1)) return usage_error("--clients needs a whole number >= 1", all);
        } else if (a == "--sync") {
            args.sync = true;
        } else if (a == "--json") {
            args.json = true;
        } else {
            return usage_error("unknown argument '" + a + "'", all);
        }
    }

    std::vector<PhaseResult> results;
    std::unique_ptr<Topology> topology;
    for (const auto& phase : all) {
        if (!args.faults.empty() &&
            std::find(args.faults.begin(), args.faults.end(), phase.name) == args.faults.end())
            continue;
        results.push_back(run_phase(phase, args, topology));
    }
    topology.reset();
    bool ok = std::all_of(results.begin(), results.end(), [](const PhaseResult& r) { return r.ok(); });
    if (args.json)
        print_json(results, args, ok);
    else
        print_table(results, args);
    return ok ? 0 : 1;
}

}  // namespace
}  // namespace yw::chaos

int main(int argc, char** argv) {
    yw::log::init(yw::log::Level::kWarn, yw::log::Format::kText);
    // A dead peer must not kill the suite: writes to a closed socket fail with EPIPE instead.
    signal(SIGPIPE, SIG_IGN);
    return yw::chaos::run(argc, argv);
}
