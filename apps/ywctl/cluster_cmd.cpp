// ywctl cluster up|status|down|destroy: the local topology (see src/cluster/local_topology.hpp).
#include <fmt/format.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <iostream>

#include "cluster/local_topology.hpp"
#include "commands.hpp"
#include "output.hpp"

namespace ywctl {
namespace {

struct ClusterArgs {
    std::string dir = "var/cluster";
    int port_base = 0;  // 0: saved or default
    bool sync = false;
    bool no_backup = false;
    bool yes = false;
};

yw::Result<yw::cluster::LocalTopology> open_topology(const ClusterArgs& args, bool quiet) {
    yw::cluster::Options options;
    options.dir = args.dir;
    if (args.port_base != 0) options.port_base = args.port_base;
    options.sync = args.sync;
    options.first_backup = !args.no_backup;
    if (!quiet) options.progress = [](const std::string& m) { std::cerr << "· " << m << std::endl; };
    return yw::cluster::LocalTopology::open(options);
}

int report_failure(const Globals& g, const yw::Error& e) {
    print_error(g.json, e.message);
    return e.code == yw::ErrorCode::kInvalidArgument ? kUsage : kCritical;
}

void print_connections(const yw::cluster::LocalTopology& t) {
    auto c = t.connections();
    std::cout << "Local topology is up in " << t.dir().string() << "\n\n"
              << "  primary      psql '" << c.primary << "'\n"
              << "  replica-1    psql '" << c.replica1 << "'\n"
              << "  replica-2    psql '" << c.replica2 << "'\n"
              << "  pgbouncer    psql '" << c.pgbouncer_admin << "' -c 'SHOW POOLS'\n"
              << "  redis        redis-cli -p " << t.ports().redis << "\n\n"
              << "Application settings (DATABASE_URL with app_user's password, REDIS_URL, …): "
              << t.env_file().string() << "\n";
}

const char* kind_name(yw::cluster::NodeKind k) {
    switch (k) {
        case yw::cluster::NodeKind::kPrimary:
            return "postgresql";
        case yw::cluster::NodeKind::kReplica:
            return "postgresql";
        case yw::cluster::NodeKind::kPgBouncer:
            return "pgbouncer";
        case yw::cluster::NodeKind::kRedis:
            return "redis";
        case yw::cluster::NodeKind::kS3:
            return "s3";
    }
    return "";
}

// RB-1: replicas stream with lag < 1000 ms; everything else is up.
constexpr long long kLagWarningMs = 1000;
constexpr long long kLagCriticalMs = 5000;

int status(const Globals& g, const ClusterArgs& args) {
    auto t = open_topology(args, true);
    if (!t) return report_failure(g, t.error());
    auto nodes = t->status();
    if (!nodes) return report_failure(g, nodes.error());
    int exit = kOk;
    Table table{{"", "node", "port", "role", "state", "lag", "detail"}, {}};
    boost::json::array out;
    // Two writable primaries (an old primary restarted by hand after a failover) is the worst state there is.
    int primaries = 0;
    for (const auto& n : *nodes) primaries += n.kind == yw::cluster::NodeKind::kPrimary && n.running;
    for (const auto& n : *nodes) {
        int node_exit = n.running ? kOk : kCritical;
        if (n.kind == yw::cluster::NodeKind::kPrimary && n.running && primaries > 1) node_exit = kCritical;
        if (n.kind == yw::cluster::NodeKind::kReplica && n.running) {
            if (n.state != "streaming") node_exit = kCritical;
            if (n.lag_ms && *n.lag_ms >= kLagCriticalMs) node_exit = kCritical;
            if (n.lag_ms && *n.lag_ms >= kLagWarningMs && node_exit == kOk) node_exit = kWarning;
        }
        exit = std::max(exit, node_exit);
        std::string lag = n.lag_ms ? fmt::format("{} ms", *n.lag_ms) : "";
        table.rows.push_back(
            {mark(node_exit == kOk), n.name, std::to_string(n.port), n.role, n.state, lag, n.detail});
        boost::json::object o{
            {"name", n.name}, {"kind", kind_name(n.kind)}, {"port", n.port},     {"running", n.running},
            {"role", n.role}, {"state", n.state},          {"detail", n.detail}, {"ok", node_exit == kOk}};
        o["lag_ms"] = n.lag_ms ? boost::json::value(*n.lag_ms) : boost::json::value(nullptr);
        o["lag_bytes"] = n.lag_bytes ? boost::json::value(*n.lag_bytes) : boost::json::value(nullptr);
        out.push_back(std::move(o));
    }
    if (g.json) {
        print_json(boost::json::object{{"dir", t->dir().string()}, {"nodes", out}, {"exit", exit}});
    } else {
        std::cout << render(table);
    }
    return exit;
}

bool confirm(const std::string& question) {
    if (!isatty(STDIN_FILENO)) return false;
    std::cerr << question << " [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace

void add_cluster_commands(CLI::App& app, const Globals& g, Action& action) {
    auto* cluster = app.add_subcommand(
        "cluster", "The local topology: PostgreSQL primary + 2 replicas, PgBouncer, Redis, S3");
    cluster->require_subcommand(1);
    auto args = std::make_shared<ClusterArgs>();
    auto add_dir = [args](CLI::App* c) {
        c->add_option("--dir", args->dir, "Directory of the topology")->capture_default_str();
    };

    auto* up = cluster->add_subcommand(
        "up", "Start every node that is not running; wait until both replicas stream");
    add_dir(up);
    up->add_option("--port-base", args->port_base,
                   "Primary port N; replicas N+1, N+2; PgBouncer N+1000; Redis N+947; S3 N+948, over TLS "
                   "N+949 (default 15432)")
        ->check(CLI::Range(1024, 64000));
    up->add_flag("--sync", args->sync, "synchronous_standby_names = 'ANY 1 (replica_1, replica_2)'");
    up->add_flag("--no-backup", args->no_backup,
                 "Configure WAL archiving and the pgBackRest stanza, but take no first full backup");
    up->callback([&g, &action, args] {
        action = [&g, args] {
            auto t = open_topology(*args, g.json);
            if (!t) return report_failure(g, t.error());
            if (auto s = t->up(); !s) return report_failure(g, s.error());
            if (g.json) {
                auto c = t->connections();
                print_json(boost::json::object{{"dir", t->dir().string()},
                                               {"env_file", t->env_file().string()},
                                               {"primary", c.primary},
                                               {"replica_1", c.replica1},
                                               {"replica_2", c.replica2},
                                               {"pgbouncer_admin", c.pgbouncer_admin},
                                               {"redis", c.redis}});
            } else {
                print_connections(*t);
            }
            return int(kOk);
        };
    });

    auto* st =
        cluster->add_subcommand("status", "Each node's role, state and replication lag (Nagios exit codes)");
    add_dir(st);
    st->callback([&g, &action, args] { action = [&g, args] { return status(g, *args); }; });

    auto* down = cluster->add_subcommand("down", "Stop every node; keep the data");
    add_dir(down);
    down->callback([&g, &action, args] {
        action = [&g, args] {
            auto t = open_topology(*args, g.json);
            if (!t) return report_failure(g, t.error());
            if (auto s = t->down(); !s) return report_failure(g, s.error());
            if (!g.json) std::cout << "Local topology in " << t->dir().string() << " is stopped\n";
            return int(kOk);
        };
    });

    auto* destroy = cluster->add_subcommand("destroy", "Stop every node and delete the topology's directory");
    add_dir(destroy);
    destroy->add_flag("--yes", args->yes, "Do not ask");
    destroy->callback([&g, &action, args] {
        action = [&g, args] {
            auto t = open_topology(*args, g.json);
            if (!t) return report_failure(g, t.error());
            std::string plan = fmt::format("stop every node and delete {} (all data)", t->dir().string());
            if (!args->yes && !confirm("This will " + plan + ".")) {
                print_error(g.json, "refusing to " + plan + " without --yes");
                return int(kUsage);
            }
            if (auto s = t->destroy(); !s) return report_failure(g, s.error());
            if (!g.json) std::cout << "Deleted " << t->dir().string() << "\n";
            return int(kOk);
        };
    });
}

}  // namespace ywctl
