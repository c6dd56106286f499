// ywctl failover | switchover | rejoin | drill failover: RB-2 and RB-4 (see src/ops/failover.hpp, drill.hpp).
#include <fmt/format.h>

#include <boost/json.hpp>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "node/probe.hpp"
#include "ops/drill.hpp"
#include "ops/failover.hpp"
#include "ops/http_client.hpp"
#include "output.hpp"

namespace ywctl {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

struct FailoverArgs {
    std::string to;
    bool force = false;
    bool yes = false;
    std::string node;  // rejoin
    std::string dir = "var/cluster";
    std::string data_dir;  // node-local
    std::string log_file;
    bool basebackup = false;
    std::string api;  // drill
    bool kill = false;
    bool switch_back = false;
    int clients = 4;
};

yw::ops::Progress progress_for(const Globals& g) {
    if (g.json) return {};
    return [](const std::string& m) { std::cerr << "· " << m << std::endl; };
}

fs::path data_dir_for(const FailoverArgs& a, const std::string& node) {
    return a.data_dir.empty() ? fs::path(a.dir) / node : fs::path(a.data_dir);
}

fs::path log_file_for(const FailoverArgs& a, const std::string& node) {
    if (!a.log_file.empty()) return a.log_file;
    return fs::path(a.dir) / "log" / (node + ".log");
}

json::array steps_json(const std::vector<yw::ops::StepTiming>& steps) {
    json::array out;
    for (const auto& s : steps)
        out.push_back(json::object{{"step", s.name}, {"ms", s.ms}, {"ok", s.ok}, {"detail", s.detail}});
    return out;
}

void print_steps(const std::vector<yw::ops::StepTiming>& steps) {
    Table t{{"", "step", "time", "detail"}, {}};
    for (const auto& s : steps) t.rows.push_back({mark(s.ok), s.name, fmt::format("{} ms", s.ms), s.detail});
    std::cout << render(t);
}

// WAL positions as PostgreSQL prints them; "" for a node that did not answer.
std::string lsn_text(const yw::ops::NodeProbe& n, std::uint64_t lsn) {
    return n.reachable ? yw::pg::format_lsn(lsn) : "";
}

json::array topology_json(const std::vector<yw::ops::NodeProbe>& nodes) {
    json::array out;
    for (const auto& n : nodes)
        out.push_back(json::object{{"name", n.name},
                                   {"role", n.role()},
                                   {"receive_lsn", lsn_text(n, n.received())},
                                   {"replay_lsn", lsn_text(n, n.replayed())},
                                   {"streaming", n.receiver_status == "streaming"},
                                   {"error", n.error}});
    return out;
}

json::array checks_json(const std::vector<yw::ops::Precheck>& checks) {
    json::array out;
    for (const auto& c : checks)
        out.push_back(json::object{
            {"name", c.name}, {"ok", c.ok}, {"overridable", c.overridable}, {"detail", c.detail}});
    return out;
}

void print_topology(const std::vector<yw::ops::NodeProbe>& nodes) {
    Table t{{"node", "role", "wal received", "wal replayed", "upstream", "detail"}, {}};
    for (const auto& n : nodes)
        t.rows.push_back(
            {n.name, n.role(), lsn_text(n, n.received()), lsn_text(n, n.replayed()),
             n.role() == "replica" ? (n.receiver_status.empty() ? "none" : n.receiver_status) : "", n.error});
    std::cout << "\nTopology now:\n" << render(t);
}

// Config load failures exit 78; a missing DATABASE_ADMIN_URLS too.
std::optional<yw::Config> config_or_exit(const Globals& g, int& exit) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        exit = kConfig;
        return std::nullopt;
    }
    if (config->admin_urls.empty()) {
        print_error(g.json, "DATABASE_ADMIN_URLS is not set (superuser DSNs of the nodes, by name)");
        exit = kConfig;
        return std::nullopt;
    }
    return std::move(config.value());
}

int failover(const Globals& g, const FailoverArgs& a) {
    int exit = kOk;
    auto config = config_or_exit(g, exit);
    if (!config) return exit;
    auto probes = yw::node::probe_all(config->admin_urls);
    auto decision = yw::ops::decide_failover(probes, a.to, a.force);
    if (!decision) {
        print_error(g.json, decision.error().message);
        return kUsage;
    }
    // The pre-checks, as RB-2 lists them.
    CheckReport checks;
    checks.title = "Failover pre-checks (RB-2)";
    for (const auto& c : decision->checks) {
        Level level = c.ok ? Level::kOk : (a.force && c.overridable ? Level::kWarning : Level::kCritical);
        checks.add({c.name, level,
                    c.ok ? "ok" : (a.force && c.overridable ? "overridden by --force" : "failed"), "",
                    c.detail});
    }
    if (!g.json) checks.print(false);
    if (!decision->allowed) {
        if (g.json)
            print_json(json::object{{"ok", false},
                                    {"refused", decision->refusal},
                                    {"checks", checks_json(decision->checks)},
                                    {"topology", topology_json(probes)}});
        else
            std::cerr << "ywctl failover: refused, nothing changed: " << decision->refusal << "\n";
        return kCritical;
    }
    yw::ops::FailoverRequest request;
    request.nodes = config->admin_urls;
    request.target = decision->target;
    request.force = a.force;
    request.pgbouncer_admin_url = config->pgbouncer_admin_url;
    request.pgbouncer_ini = config->pgbouncer_ini;
    request.progress = progress_for(g);
    if (!confirm(yw::ops::failover_plan(request, *decision), a.yes, g.json)) return kUsage;
    auto report = yw::ops::execute_failover(request, *decision);
    if (g.json) {
        print_json(json::object{{"ok", report.ok},
                                {"error", report.error},
                                {"new_primary", report.target},
                                {"steps", steps_json(report.steps)},
                                {"total_ms", report.total_ms},
                                {"topology", topology_json(report.topology)}});
    } else {
        print_steps(report.steps);
        std::cout << fmt::format("{} in {} ms{}\n", report.ok ? "Failover done" : "Failover FAILED",
                                 report.total_ms, report.ok ? "" : ": " + report.error);
        print_topology(report.topology);
    }
    return report.ok ? kOk : kCritical;
}

int rejoin(const Globals& g, const FailoverArgs& a) {
    int exit = kOk;
    auto config = config_or_exit(g, exit);
    if (!config) return exit;
    yw::ops::RejoinRequest request;
    request.nodes = config->admin_urls;
    request.node = a.node;
    request.data_dir = data_dir_for(a, a.node);
    request.log_file = log_file_for(a, a.node);
    request.force_basebackup = a.basebackup;
    request.progress = progress_for(g);
    auto plan = yw::ops::rejoin_plan(request);
    if (!plan) {
        print_error(g.json, plan.error().message);
        return plan.error().code == yw::ErrorCode::kInvalidArgument ? kUsage : kCritical;
    }
    if (!confirm(*plan, a.yes, g.json)) return kUsage;
    auto report = yw::ops::rejoin(request);
    if (g.json) {
        print_json(json::object{{"ok", report.ok},
                                {"error", report.error},
                                {"node", a.node},
                                {"primary", report.primary},
                                {"method", report.method},
                                {"steps", steps_json(report.steps)},
                                {"total_ms", report.total_ms}});
    } else {
        print_steps(report.steps);
        std::cout << fmt::format("{} {} as a standby of {} ({}) in {} ms{}\n",
                                 report.ok ? "Rejoined" : "FAILED to rejoin", a.node, report.primary,
                                 report.method, report.total_ms, report.ok ? "" : ": " + report.error);
    }
    return report.ok ? kOk : kCritical;
}

int switchover(const Globals& g, const FailoverArgs& a) {
    int exit = kOk;
    auto config = config_or_exit(g, exit);
    if (!config) return exit;
    std::string current;
    for (const auto& p : yw::node::probe_all(config->admin_urls))
        if (p.role() == "primary") current = p.name;
    yw::ops::SwitchoverRequest request;
    request.nodes = config->admin_urls;
    request.target = a.to;
    request.old_primary_data = data_dir_for(a, current);
    request.old_primary_log = log_file_for(a, current);
    request.pgbouncer_admin_url = config->pgbouncer_admin_url;
    request.pgbouncer_ini = config->pgbouncer_ini;
    request.progress = progress_for(g);
    auto plan = yw::ops::switchover_plan(request);
    if (!plan) {
        print_error(g.json, plan.error().message);
        return plan.error().code == yw::ErrorCode::kInvalidArgument ? kUsage : kCritical;
    }
    if (!confirm(*plan, a.yes, g.json)) return kUsage;
    auto report = yw::ops::switchover(request);
    auto after = yw::node::probe_all(config->admin_urls);
    if (g.json) {
        print_json(json::object{{"ok", report.ok},
                                {"error", report.error},
                                {"old_primary", report.old_primary},
                                {"new_primary", report.target},
                                {"steps", steps_json(report.steps)},
                                {"total_ms", report.total_ms},
                                {"topology", topology_json(after)}});
    } else {
        print_steps(report.steps);
        std::cout << fmt::format("{} {} -> {} in {} ms{}\n",
                                 report.ok ? "Switchover done" : "Switchover FAILED", report.old_primary,
                                 report.target, report.total_ms, report.ok ? "" : ": " + report.error);
        print_topology(after);
    }
    return report.ok ? kOk : kCritical;
}

int drill(const Globals& g, const FailoverArgs& a) {
    int exit = kOk;
    auto config = config_or_exit(g, exit);
    if (!config) return exit;
    if (config->admin_token.empty()) {
        print_error(g.json, "YW_ADMIN_TOKEN is not set: the drill creates its own tenant through /admin");
        return kConfig;
    }
    if (auto api = yw::ops::parse_http_base(a.api); !api) {
        print_error(g.json, api.error().message);
        return kUsage;
    }
    std::string names;
    bool known = a.to.empty();
    for (const auto& n : config->admin_urls) {
        names += (names.empty() ? "" : ", ") + n.name;
        known = known || n.name == a.to;
    }
    if (!known) {
        print_error(g.json, fmt::format("no node named '{}'; the nodes are: {}", a.to, names));
        return kUsage;
    }
    std::vector<std::string> plan{
        fmt::format("write load through {} ({} writers), recording every acknowledged message", a.api,
                    a.clients),
        fmt::format("{} the primary", a.kill ? "kill -9" : "stop (pg_ctl stop -m fast)"),
        fmt::format("fail over to {} (RB-2: pre-checks, promote, repoint the standbys and PgBouncer)",
                    a.to.empty() ? "the standby with the most WAL" : a.to),
        "measure when writes through the API resume",
        "rejoin the old primary as a standby (pg_rewind; pg_basebackup if that fails)",
    };
    if (a.switch_back)
        plan.push_back("switch over back to the original primary (controlled: no writes lost)");
    plan.push_back("verify that every acknowledged write is on the primary");
    if (!confirm(plan, a.yes, g.json)) return kUsage;

    yw::ops::DrillRequest request;
    request.nodes = config->admin_urls;
    request.pgbouncer_admin_url = config->pgbouncer_admin_url;
    request.pgbouncer_ini = config->pgbouncer_ini;
    request.api = a.api;
    request.admin_token = config->admin_token;
    request.target = a.to;
    request.kill = a.kill;
    request.switch_back = a.switch_back;
    request.clients = a.clients;
    // The drill touches several nodes: their data directories are <dir>/<node> (run it on the database host).
    FailoverArgs local = a;
    local.data_dir.clear();
    local.log_file.clear();
    request.data_dir = [local](const std::string& node) { return data_dir_for(local, node); };
    request.log_file = [local](const std::string& node) { return log_file_for(local, node); };
    request.progress = progress_for(g);
    auto r = yw::ops::run_failover_drill(request);
    // Writes lost with synchronous replication is a failed drill; with async it is the reported price.
    int code = !r.ok ? kCritical : (r.writes_lost > 0 ? (r.sync ? kCritical : kWarning) : kOk);
    if (g.json) {
        json::array lost;
        for (const auto& id : r.lost_ids) lost.push_back(json::value(id));
        print_json(json::object{{"ok", r.ok},
                                {"error", r.error},
                                {"old_primary", r.old_primary},
                                {"new_primary", r.new_primary},
                                {"final_primary", r.final_primary},
                                {"synchronous", r.sync},
                                {"steps", steps_json(r.steps)},
                                {"time_to_recover_ms", r.time_to_recover_ms},
                                {"promote_to_write_ms", r.promote_to_write_ms},
                                {"reroute_to_write_ms", r.reroute_to_write_ms},
                                {"writes_attempted", r.writes_attempted},
                                {"writes_acknowledged", r.writes_acknowledged},
                                {"writes_failed", r.writes_failed},
                                {"writes_lost", r.writes_lost},
                                {"lost_ids", lost},
                                {"rejoin_method", r.rejoin_method},
                                {"total_ms", r.total_ms},
                                {"exit", code}});
    } else {
        std::cout << "Failover drill (RB-4)\n";
        print_steps(r.steps);
        std::cout << fmt::format(
            "\nprimary {} -> {}{}; replication {}\n"
            "time to recover (primary stopped -> writes acknowledged again): {} ms\n"
            "promotion -> first acknowledged write: {} ms (target < 2000 ms)\n"
            "writes: {} acknowledged, {} not acknowledged during the outage, {} acknowledged but LOST\n"
            "old primary rejoined by: {}\ntotal: {} ms\n",
            r.old_primary, r.new_primary, r.final_primary != r.new_primary ? " -> " + r.final_primary : "",
            r.sync ? "synchronous" : "asynchronous", r.time_to_recover_ms, r.promote_to_write_ms,
            r.writes_acknowledged, r.writes_failed, r.writes_lost, r.rejoin_method, r.total_ms);
        for (const auto& id : r.lost_ids) std::cout << "  lost: " << id << "\n";
        if (!r.ok) std::cout << "DRILL FAILED: " << r.error << "\n";
    }
    return code;
}

}  // namespace

// Each command shows its plan, needs --yes (or "yes" on a terminal), prints the time of every step and the
// topology after; --json for machines; exit 0 done, 2 refused or failed (the reason is printed), 64 usage.
void add_failover_commands(CLI::App& app, const Globals& g, Action& action) {
    auto a = std::make_shared<FailoverArgs>();
    auto add_yes = [a](CLI::App* c) { c->add_flag("--yes", a->yes, "Do not ask for confirmation"); };
    auto add_local = [a](CLI::App* c) {
        c->add_option("--dir", a->dir, "The local topology's directory (default data directories and logs)")
            ->capture_default_str();
        c->add_option("--data-dir", a->data_dir, "The node's data directory (default <dir>/<node>)");
        c->add_option("--log-file", a->log_file,
                      "Server log for pg_ctl start (default <dir>/log/<node>.log)");
    };

    auto* fo = app.add_subcommand("failover", "RB-2: promote a standby because the primary is down");
    fo->add_option("--to", a->to, "The standby to promote (default: the one that received the most WAL)");
    fo->add_flag("--force", a->force,
                 "Promote even if the primary still answers, replay lags or another standby has more WAL");
    add_yes(fo);
    fo->callback([&g, &action, a] { action = [&g, a] { return failover(g, *a); }; });

    auto* so = app.add_subcommand(
        "switchover",
        "Planned change of primary: pause writes, stop the primary cleanly, promote, rejoin it");
    so->add_option("--to", a->to, "The standby to promote")->required();
    add_yes(so);
    add_local(so);
    so->callback([&g, &action, a] { action = [&g, a] { return switchover(g, *a); }; });

    auto* rj =
        app.add_subcommand("rejoin", "Make an old primary a standby of the current primary (on its host)");
    rj->add_option("node", a->node, "The node to rejoin (e.g. primary)")->required();
    rj->add_flag("--basebackup", a->basebackup, "Skip pg_rewind: copy the primary afresh");
    add_yes(rj);
    add_local(rj);
    rj->callback([&g, &action, a] { action = [&g, a] { return rejoin(g, *a); }; });

    auto* dr = app.add_subcommand("drill", "Rehearsals of the emergency procedures");
    dr->require_subcommand(1);
    auto* df =
        dr->add_subcommand("failover", "RB-4: the monthly failover test under a write load, automated");
    df->add_option("--api", a->api, "ywmsgd base URL, e.g. http://127.0.0.1:8080")->required();
    df->add_option("--to", a->to, "The standby to promote (default: the one with the most WAL)");
    df->add_flag("--kill", a->kill, "SIGKILL the primary (a crash) instead of stopping it");
    df->add_flag("--switch-back", a->switch_back, "End with a controlled switchover to the original primary");
    df->add_option("--clients", a->clients, "Concurrent writers")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    add_yes(df);
    df->add_option("--dir", a->dir, "The local topology's directory: data directories <dir>/<node>")
        ->capture_default_str();
    df->callback([&g, &action, a] { action = [&g, a] { return drill(g, *a); }; });
}

}  // namespace ywctl
