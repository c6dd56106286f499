// ywctl replicas check (RB-1) | rebuild NAME (RB-3): read replicas, against any hosts in DATABASE_ADMIN_URLS.
#include <fmt/format.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <iostream>

#include "commands.hpp"
#include "ops/rebuild.hpp"
#include "ops/replication.hpp"
#include "report.hpp"

namespace ywctl {
namespace {

struct ReplicasArgs {
    int timeout_s = kDefaultConnectTimeoutS;
    yw::ops::ReplicationThresholds thresholds;
    std::string node;
    std::string data_dir;
    std::string dir = "var/cluster";
    std::string log_file;
    std::string from;
    int wait_s = 300;
    bool dry_run = false;
    bool yes = false;
};

int check(const Globals& g, const ReplicasArgs& a) {
    if (a.thresholds.behind_warning_bytes > a.thresholds.behind_critical_bytes) {
        print_error(g.json,
                    fmt::format("--warn-lag-bytes {} is above --max-lag-bytes {}",
                                a.thresholds.behind_warning_bytes, a.thresholds.behind_critical_bytes));
        return kUsage;
    }
    auto config = config_or_report(g);
    if (!config) return kConfig;
    auto nodes = admin_nodes_or_report(g, *config);
    if (!nodes) return kConfig;
    auto snap = yw::ops::collect_replication(*nodes, std::chrono::seconds(a.timeout_s));
    return print_report(yw::ops::assess_replication(snap, a.thresholds), g.json);
}

int rebuild(const Globals& g, const ReplicasArgs& a) {
    auto config = config_or_report(g);
    if (!config) return kConfig;
    if (auto url = admin_url(*config, a.node); !url) {
        print_error(g.json, url.error().message);
        return url.error().code == yw::ErrorCode::kInvalidArgument ? kUsage : kConfig;
    }
    yw::ops::RebuildOptions o;
    o.node = a.node;
    if (a.data_dir.empty()) {
        o.data_dir = std::filesystem::absolute(std::filesystem::path(a.dir) / a.node);
        if (a.log_file.empty())
            o.log_file = std::filesystem::absolute(std::filesystem::path(a.dir) / "log" / (a.node + ".log"));
    } else {
        o.data_dir = std::filesystem::absolute(a.data_dir).lexically_normal();
        // "/srv/pg/main/" names the directory itself: its old copy goes beside it, not inside.
        if (o.data_dir.filename().empty()) o.data_dir = o.data_dir.parent_path();
    }
    if (!a.log_file.empty()) o.log_file = std::filesystem::absolute(a.log_file);
    o.source = a.from;
    o.connect_timeout = std::chrono::seconds(a.timeout_s);
    o.wait = std::chrono::seconds(a.wait_s);
    o.show_progress = !g.json && isatty(STDERR_FILENO);
    if (!g.json) o.progress = [](const std::string& m) { std::cerr << "· " << m << std::endl; };
    auto plan = yw::ops::plan_rebuild(config->admin_urls, o);
    if (!plan) {
        print_error(g.json, plan.error().message);
        return plan.error().code == yw::ErrorCode::kInvalidArgument ? kUsage : kCritical;
    }
    auto steps = plan_with_warnings(plan->steps, plan->warnings);
    if (a.dry_run) return print_dry_run(steps, g.json, {{"node", a.node}, {"source", plan->source}});
    if (!confirm(steps, a.yes, g.json)) return kUsage;
    auto done = yw::ops::run_rebuild(*plan);
    if (!done) {
        print_error(g.json, fmt::format("rebuild of {} failed: {}", a.node, done.error().message));
        return kCritical;
    }
    std::string old = done->old_dir.empty() ? "" : done->old_dir.string();
    if (g.json) {
        print_json(boost::json::object{{"node", a.node},
                                       {"source", plan->source},
                                       {"slot", plan->slot},
                                       {"data_dir", plan->options.data_dir.string()},
                                       {"old_data_dir", old},
                                       {"seconds", done->seconds},
                                       {"replay_lag_ms", done->replay_lag_ms},
                                       {"status", "streaming"}});
    } else {
        std::cout << fmt::format("✓ {} rebuilt from {} in {:.1f} s: streaming on {}, replay lag {} ms\n",
                                 a.node, plan->source, done->seconds, plan->slot, done->replay_lag_ms);
        if (!old.empty())
            std::cout << "  the old data directory is kept in " << old << " (delete it when satisfied)\n";
    }
    return kOk;
}

}  // namespace

void add_replicas_commands(CLI::App& app, const Globals& g, Action& action) {
    auto args = std::make_shared<ReplicasArgs>();
    auto* replicas = app.add_subcommand("replicas", "Read replicas: health (RB-1) and rebuild (RB-3)");
    replicas->require_subcommand(1);
    auto* check_cmd = replicas->add_subcommand(
        "check",
        "RB-1: every node answers, one primary, each replica streaming with lag < 1000 ms, less than a WAL "
        "segment behind, replay not paused");
    add_timeout_option(check_cmd, args->timeout_s);
    check_cmd
        ->add_option("--warn-lag-bytes", args->thresholds.behind_warning_bytes,
                     "WAL a replica may have left to replay before a warning, bytes (one segment)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 50))
        ->capture_default_str();
    check_cmd
        ->add_option("--max-lag-bytes", args->thresholds.behind_critical_bytes,
                     "WAL a replica may have left to replay before it is critical, bytes (eight segments)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 50))
        ->capture_default_str();
    check_cmd->callback([&g, &action, args] { action = [&g, args] { return check(g, *args); }; });

    auto* rb = replicas->add_subcommand(
        "rebuild", "RB-3, on the replica's host: re-copy NAME from the primary and wait until it streams");
    rb->add_option("name", args->node, "The node to rebuild (a name of DATABASE_ADMIN_URLS)")->required();
    rb->add_option("--data-dir", args->data_dir,
                   "Its data directory (default: <--dir>/<name>, the local topology)");
    rb->add_option("--dir", args->dir, "The local topology's directory")->capture_default_str();
    rb->add_option("--log-file", args->log_file, "pg_ctl's log file (default <--dir>/log/<name>.log)");
    rb->add_option("--from", args->from, "Copy from this node (default: the one primary)");
    rb->add_option("--wait", args->wait_s, "Seconds to wait for streaming with lag < 1 s")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    add_timeout_option(rb, args->timeout_s);
    rb->add_flag("--dry-run", args->dry_run, "Show the plan only");
    rb->add_flag("--yes", args->yes, "Do not ask");
    rb->callback([&g, &action, args] { action = [&g, args] { return rebuild(g, *args); }; });
}

}  // namespace ywctl
