// ywctl backup run|list|check|restore and ywctl drill restore: pgBackRest on S3 (docs/backup.md, RB-20).
#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "backup/check.hpp"
#include "backup/restore.hpp"
#include "commands.hpp"
#include "common/time.hpp"
#include "node/probe.hpp"
#include "output.hpp"
#include "report.hpp"

namespace ywctl {
namespace {

namespace json = boost::json;

struct BackupArgs {
    std::string type = "incr";
    bool quick = false;
    int warning_hours = 26;
    int critical_hours = 50;
    std::string to;
    std::string target_time;
    std::string target_lsn;
    std::string set;
    int port = 0;
    bool stop = false;
    bool keep = false;
    std::string scratch;
    std::string prometheus_file;
};

void progress_to_stderr(const std::string& m) { std::cerr << "· " << m << "\n" << std::flush; }

// The configuration with backups configured, or the exit code after printing why not.
std::variant<yw::Config, int> setup(const Globals& g) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return int(kConfig);
    }
    if (!config->backup.configured()) {
        print_error(g.json,
                    "no backups configured: PGBACKREST_CONFIG names pgBackRest's configuration file "
                    "(docs/backup.md)");
        return int(kConfig);
    }
    return std::move(config.value());
}

// The superuser DSN of the node that is the primary now (DATABASE_ADMIN_URLS), or "" with the reason.
std::string primary_admin_dsn(const yw::Config& config, std::string& why) {
    if (config.admin_urls.empty()) {
        why = "DATABASE_ADMIN_URLS is not set";
        return {};
    }
    for (const auto& p : yw::node::probe_all(config.admin_urls))
        if (p.reachable && !p.in_recovery) return p.url;
    why = "no node answers as the primary";
    return {};
}

std::string utc(long long unix_s) { return yw::rfc3339_from_us(unix_s * 1000000).substr(0, 19) + "Z"; }

json::object to_json(const yw::backup::BackupSet& b) {
    return {{"label", b.label},         {"type", b.type},           {"prior", b.prior},
            {"start", utc(b.start)},    {"stop", utc(b.stop)},      {"seconds", b.stop - b.start},
            {"size", b.size},           {"repo_size", b.repo_size}, {"repo_delta", b.repo_delta},
            {"lsn_start", b.lsn_start}, {"lsn_stop", b.lsn_stop},   {"wal_start", b.wal_start},
            {"wal_stop", b.wal_stop},   {"usable", !b.error}};
}

int run(const Globals& g, const BackupArgs& a) {
    auto s = setup(g);
    if (auto* code = std::get_if<int>(&s)) return *code;
    yw::backup::PgBackRest engine(yw::backup::settings_from(std::get<yw::Config>(s)));
    auto before = engine.info();
    if (!g.json) progress_to_stderr(fmt::format("pgbackrest backup --type={}", a.type));
    auto started = std::chrono::steady_clock::now();
    if (auto r = engine.run_checked({"--type=" + a.type, "backup"}, std::chrono::hours(24)); !r) {
        print_error(g.json, r.error().message);
        return kCritical;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto after = engine.info();
    if (!after || !after->newest()) {
        print_error(g.json, "the backup finished but the repository does not list it: " +
                                (after ? std::string("no backups") : after.error().message));
        return kCritical;
    }
    const auto& b = *after->newest();
    if (g.json) {
        auto o = to_json(b);
        o["elapsed_seconds"] = seconds;
        print_json(json::object{{"ok", true}, {"backup", o}});
    } else {
        std::cout << fmt::format("✓ {} backup {} in {:.1f} s: {} of data, {} in the repository{}\n", b.type,
                                 b.label, seconds, yw::backup::bytes_text(b.size),
                                 yw::backup::bytes_text(b.repo_delta),
                                 b.type == "full" ? "" : fmt::format(" (on top of {})", b.prior));
        if (a.type != "full" && b.type == "full")
            std::cout << "  (pgBackRest made a full backup: there was no full one to build on)\n";
    }
    return kOk;
}

int list(const Globals& g, const BackupArgs&) {
    auto s = setup(g);
    if (auto* code = std::get_if<int>(&s)) return *code;
    yw::backup::PgBackRest engine(yw::backup::settings_from(std::get<yw::Config>(s)));
    auto info = engine.info();
    if (!info) {
        print_error(g.json, info.error().message);
        return kCritical;
    }
    long long now = yw::unix_us_now() / 1000000;
    auto window = yw::backup::recovery_window(*info, now);
    if (g.json) {
        json::array backups;
        for (const auto& b : info->backups) backups.push_back(to_json(b));
        json::object o{{"stanza", engine.settings().stanza},
                       {"status", info->status_code},
                       {"status_message", info->status_message},
                       {"cipher", info->cipher},
                       {"wal_min", info->archive_min},
                       {"wal_max", info->archive_max},
                       {"backups", backups}};
        if (window) o["recovery_window"] = json::object{{"from", utc(window->from)}, {"to", utc(window->to)}};
        print_json(o);
        return kOk;
    }
    Table t{{"", "label", "type", "started (UTC)", "took", "data", "repository", "WAL"}, {}};
    for (const auto& b : info->backups)
        t.rows.push_back({mark(!b.error), b.label, b.type, utc(b.start).substr(0, 19),
                          fmt::format("{} s", b.stop - b.start), yw::backup::bytes_text(b.size),
                          yw::backup::bytes_text(b.repo_delta), b.wal_start + " … " + b.wal_stop});
    std::cout << "Backups of stanza " << engine.settings().stanza << " (" << info->status_message
              << ", cipher " << info->cipher << ")\n";
    if (t.rows.empty())
        std::cout << "  none: ywctl backup run --type full\n";
    else
        std::cout << render(t);
    if (window)
        std::cout << "Point-in-time recovery: " << utc(window->from) << " … now (WAL up to "
                  << info->archive_max << ")\n";
    return kOk;
}

int check(const Globals& g, const BackupArgs& a) {
    auto s = setup(g);
    if (auto* code = std::get_if<int>(&s)) return *code;
    const auto& config = std::get<yw::Config>(s);
    yw::backup::PgBackRest engine(yw::backup::settings_from(config));
    yw::backup::BackupSnapshot snap;
    snap.now = yw::unix_us_now() / 1000000;
    auto info = engine.info();
    if (info)
        snap.repo = *info;
    else
        snap.repo_error = info.error().message;
    std::string why;
    std::string dsn = primary_admin_dsn(config, why);
    if (dsn.empty()) {
        snap.archiver_error = why;
    } else if (auto conn = yw::pg::SyncConnection::open(dsn, std::chrono::seconds(3))) {
        snap.archiver = yw::backup::read_archiver(*conn, &snap.archiver_error);
        if (!snap.archiver_error.empty()) snap.archiver.reset();
    } else {
        snap.archiver_error = conn.error().message;
    }
    if (!a.quick && info) {
        // `check` proves the whole path now: a WAL switch, archive_command, the repository.
        snap.checked = true;
        if (auto r = engine.run_checked({"--archive-timeout=30", "check"}, std::chrono::seconds(90)); !r)
            snap.check_error = r.error().message;
        snap.verified = true;
        if (auto r = engine.run_checked({"verify"}, std::chrono::hours(2)); !r)
            snap.verify_error = r.error().message;
    }
    if (!a.prometheus_file.empty()) {
        // Atomically: node_exporter must never read half a file.
        std::string tmp = a.prometheus_file + ".tmp";
        std::ofstream out(tmp, std::ios::trunc);
        out << yw::backup::metrics_text(snap);
        out.close();
        if (!out || std::rename(tmp.c_str(), a.prometheus_file.c_str()) != 0) {
            print_error(g.json, "cannot write " + a.prometheus_file);
            return kUnknown;
        }
    }
    yw::backup::BackupThresholds t;
    t.warning_age = std::chrono::hours(a.warning_hours);
    t.critical_age = std::chrono::hours(a.critical_hours);
    return print_report(yw::backup::assess_backups(snap, t), g.json);
}

json::array counts_json(const std::vector<yw::backup::TableRows>& counts) {
    json::array out;
    for (const auto& c : counts) out.push_back(json::object{{"table", c.table}, {"rows", c.rows}});
    return out;
}

int restore(const Globals& g, const BackupArgs& a) {
    auto s = setup(g);
    if (auto* code = std::get_if<int>(&s)) return *code;
    yw::backup::PgBackRest engine(yw::backup::settings_from(std::get<yw::Config>(s)));
    yw::backup::RestoreRequest req;
    req.dir = a.to;
    if (!a.target_time.empty()) req.target_time = a.target_time;
    if (!a.target_lsn.empty()) req.target_lsn = a.target_lsn;
    req.set = a.set;
    req.port = a.port;
    req.keep_running = !a.stop;
    if (!g.json) req.progress = progress_to_stderr;
    auto r = yw::backup::restore_to(engine, req);
    if (!r) {
        print_error(g.json, r.error().message);
        return exit_for(r.error().code);
    }
    if (g.json) {
        print_json(json::object{{"ok", true},
                                {"dir", r->dir.string()},
                                {"port", r->port},
                                {"running", !a.stop},
                                {"recovered_to", r->recovered_to},
                                {"lsn", r->lsn},
                                {"restore_ms", r->restore_ms},
                                {"recovery_ms", r->recovery_ms},
                                {"total_ms", r->total_ms},
                                {"counts", counts_json(r->counts)},
                                {"log", r->log_file}});
        return kOk;
    }
    std::cout << fmt::format(
        "✓ restored into {} in {:.1f} s (files {:.1f} s, WAL replay and promotion {:.1f} s)\n",
        r->dir.string(), r->total_ms / 1000.0, r->restore_ms / 1000.0, r->recovery_ms / 1000.0);
    std::cout << "  newest transaction recovered: "
              << (r->recovered_to.empty() ? "none replayed" : r->recovered_to) << ", WAL " << r->lsn << "\n";
    Table t{{"table", "rows"}, {}};
    for (const auto& c : r->counts) t.rows.push_back({c.table, std::to_string(c.rows)});
    std::cout << render(t);
    if (a.stop)
        std::cout << "  stopped; start it with: pg_ctl -D " << r->dir.string() << " start\n";
    else
        std::cout << "  running on port " << r->port << ": psql -h 127.0.0.1 -p " << r->port
                  << " -U postgres ywmessaging\n  stop it with: pg_ctl -D " << r->dir.string() << " stop\n";
    return kOk;
}

int drill(const Globals& g, const BackupArgs& a) {
    auto s = setup(g);
    if (auto* code = std::get_if<int>(&s)) return *code;
    const auto& config = std::get<yw::Config>(s);
    yw::backup::PgBackRest engine(yw::backup::settings_from(config));
    yw::backup::DrillRequest req;
    std::string why;
    req.primary_dsn = primary_admin_dsn(config, why);
    if (req.primary_dsn.empty()) {
        print_error(g.json, "the drill compares with the primary: " + why);
        return kCritical;
    }
    req.keep = a.keep;
    req.scratch_root = a.scratch;
    if (!g.json) req.progress = progress_to_stderr;
    auto d = yw::backup::run_restore_drill(engine, req);
    if (g.json) {
        json::array tables;
        for (const auto& [name, rows] : d.tables)
            tables.push_back(
                json::object{{"table", name}, {"primary", rows.first}, {"restored", rows.second}});
        print_json(json::object{{"ok", d.ok},
                                {"error", d.error},
                                {"backup", d.backup_label},
                                {"backup_age_s", d.backup_age_s},
                                {"point", d.primary_at},
                                {"messages_primary", d.primary_messages},
                                {"messages_restored", d.restored_messages},
                                {"checksum_primary", d.primary_checksum},
                                {"checksum_restored", d.restored_checksum},
                                {"tables", tables},
                                {"rto_ms", d.rto_ms},
                                {"rpo_bytes", d.rpo_bytes},
                                {"recovered_to", d.recovered_to},
                                {"scratch", a.keep ? d.restore.dir.string() : ""}});
        return d.ok ? kOk : kCritical;
    }
    std::cout << "Restore drill (RB-20)\n";
    if (!d.backup_label.empty())
        std::cout << fmt::format("  backup {} ({} old) plus WAL up to {}\n", d.backup_label,
                                 yw::backup::age_text(d.backup_age_s), d.primary_at);
    if (d.rto_ms > 0) {
        std::cout << fmt::format(
            "  {} messages created before {}: {} on the primary, {} restored, checksums {}\n",
            mark(d.primary_messages == d.restored_messages && d.primary_checksum == d.restored_checksum),
            d.primary_at, d.primary_messages, d.restored_messages,
            d.primary_checksum == d.restored_checksum ? "equal" : "differ");
        Table t{{"table", "primary (at the point)", "restored"}, {}};
        for (const auto& [name, rows] : d.tables)
            t.rows.push_back({name, std::to_string(rows.first), std::to_string(rows.second)});
        std::cout << render(t);
        std::cout << fmt::format(
            "  RTO {:.1f} s (to a queryable server); RPO {} bytes of WAL (newest transaction "
            "recovered: {})\n",
            d.rto_ms / 1000.0, d.rpo_bytes, d.recovered_to.empty() ? "none" : d.recovered_to);
        if (a.keep)
            std::cout << "  scratch server kept: " << d.restore.dir.string() << " on port " << d.restore.port
                      << "\n";
    }
    std::cout << (d.ok ? "✓ DRILL PASSED\n" : "✗ DRILL FAILED: " + d.error + "\n");
    return d.ok ? kOk : kCritical;
}

}  // namespace

void add_backup_commands(CLI::App& app, const Globals& g, Action& action) {
    auto a = std::make_shared<BackupArgs>();
    auto* backup = app.add_subcommand("backup", "Backups and point-in-time recovery with pgBackRest (RB-20)");
    backup->require_subcommand(1);

    auto* run_cmd = backup->add_subcommand("run", "Take a backup now (full, differential or incremental)");
    run_cmd
        ->add_option("--type", a->type, "full | diff | incr (pgBackRest makes a full one when there is none)")
        ->check(CLI::IsMember({"full", "diff", "incr"}))
        ->capture_default_str();
    run_cmd->callback([&g, &action, a] { action = [&g, a] { return run(g, *a); }; });

    auto* list_cmd = backup->add_subcommand("list", "The backups in the repository and the recovery window");
    list_cmd->callback([&g, &action, a] { action = [&g, a] { return list(g, *a); }; });

    auto* check_cmd = backup->add_subcommand(
        "check",
        "Newest backup age, WAL archiving, repository, `pgbackrest check` and `verify` (Nagios codes)");
    check_cmd->add_flag("--quick", a->quick,
                        "Skip `pgbackrest check` and `verify` (for frequent monitoring)");
    check_cmd->add_option("--warning-hours", a->warning_hours, "Newest backup older than this: warning")
        ->check(CLI::Range(1, 24 * 365))
        ->capture_default_str();
    check_cmd->add_option("--critical-hours", a->critical_hours, "Newest backup older than this: critical")
        ->check(CLI::Range(1, 24 * 365))
        ->capture_default_str();
    check_cmd->add_option("--prometheus-file", a->prometheus_file,
                          "Also write the facts as yw_backup_* gauges to this file (node_exporter's textfile "
                          "collector; deploy/prometheus/alerts.yml)");
    check_cmd->callback([&g, &action, a] { action = [&g, a] { return check(g, *a); }; });

    auto* restore_cmd = backup->add_subcommand(
        "restore",
        "Restore into a new directory and start it as a separate server (never the running nodes)");
    restore_cmd->add_option("--to", a->to, "An empty or new directory for the restored data")->required();
    auto* tt = restore_cmd->add_option(
        "--target-time", a->target_time,
        "Recover up to this time (RFC 3339 with an offset, e.g. 2026-12-01T22:50:00Z)");
    auto* tl = restore_cmd->add_option("--target-lsn", a->target_lsn, "Recover up to this WAL position");
    tt->excludes(tl);
    restore_cmd->add_option("--set", a->set,
                            "The backup to start from (default: the newest that fits the target)");
    restore_cmd->add_option("--port", a->port, "Port of the restored server (default: a free one)")
        ->check(CLI::Range(1024, 65535));
    restore_cmd->add_flag("--stop", a->stop, "Stop the restored server once counted");
    restore_cmd->callback([&g, &action, a] { action = [&g, a] { return restore(g, *a); }; });

    // `ywctl drill` is registered by the failover commands (drill failover); the restore drill joins it.
    CLI::App* drill_cmd = app.get_subcommand("drill");
    auto* dr = drill_cmd->add_subcommand(
        "restore",
        "RB-20: the monthly restore test — newest backup + WAL into a scratch server, compared, RTO/RPO");
    dr->add_flag("--keep", a->keep, "Leave the scratch server running for inspection");
    dr->add_option("--scratch", a->scratch, "Where the scratch directory goes (default: the system's temp)");
    dr->callback([&g, &action, a] { action = [&g, a] { return drill(g, *a); }; });
}

}  // namespace ywctl
