// ywctl partitions archive|restore (RB-18, RB-19): old months to S3, verified, and back.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <iostream>

#include "archive/archiver.hpp"
#include "commands.hpp"
#include "common/logging.hpp"
#include "output.hpp"
#include "report.hpp"
#include "s3/settings.hpp"

namespace ywctl {

namespace {

struct ArchiveArgs {
    std::string month;
    int older_than = 12;
    int keep_days = -1;
    bool yes = false;
    bool dry_run = false;
    int lock_timeout_ms = 1000;
    int gzip_level = 1;
};

struct RestoreArgs {
    std::string month;
    bool attach = false;
    std::string as_table;
};

struct Setup {
    yw::Config config;
    yw::s3::Config s3;
};

// The configuration and S3 settings, or the exit code after printing why not.
std::variant<Setup, int> setup(const Globals& g) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return int(kConfig);
    }
    auto s3 = yw::s3::config_from(*config);
    if (!s3) {
        print_error(g.json, s3.error().message);
        return int(kConfig);
    }
    return Setup{std::move(config.value()), std::move(s3.value())};
}

boost::json::object to_json(const yw::archive::MonthOutcome& m) {
    return {{"month", m.month},
            {"table", m.table},
            {"state", m.state},
            {"outcome", m.outcome},
            {"detail", m.detail},
            {"rows", m.rows},
            {"table_bytes", m.table_bytes},
            {"object_bytes", m.object_bytes},
            {"seconds", m.seconds}};
}

void progress_to_stderr(const std::string& m) { std::cerr << "  " << m << "\n" << std::flush; }

int archive(const Globals& g, const ArchiveArgs& a) {
    auto s = setup(g);
    if (auto* code = std::get_if<int>(&s)) return *code;
    auto& [config, s3_config] = std::get<Setup>(s);
    yw::archive::ArchiveOptions o;
    if (!a.month.empty()) o.month = a.month;
    o.older_than_months = a.older_than;
    if (a.keep_days >= 0) o.keep_detached_days = a.keep_days;
    o.lock_timeout = std::chrono::milliseconds(a.lock_timeout_ms);
    o.gzip_level = a.gzip_level;
    o.archive_log = config.archive_log;
    if (const char* k = std::getenv("YW_ARCHIVE_KILL_AFTER")) o.kill_after = k;
    if (!g.json) o.progress = progress_to_stderr;
    yw::s3::Client s3(s3_config);

    // Without --yes: the plan first (a dry run), then the question.
    if (!a.dry_run && !a.yes) {
        auto plan_options = o;
        plan_options.dry_run = true;
        plan_options.progress = nullptr;
        auto plan = yw::archive::archive(config.primary_url, s3, plan_options);
        if (!plan) {
            print_error(g.json, plan.error().message);
            return exit_for(plan.error().code);
        }
        std::vector<std::string> lines;
        for (const auto& m : plan->months)
            if (m.outcome.rfind("would", 0) == 0) lines.push_back(fmt::format("{}: {}", m.month, m.detail));
        if (lines.empty()) {
            for (const auto& m : plan->months)
                std::cout << m.month << ": " << m.outcome << ": " << m.detail << "\n";
            std::cout << "✓ nothing to archive\n";
            return plan->ok() ? int(kOk) : int(kUsage);
        }
        if (!confirm(lines, false, g.json)) return int(kUsage);
    }
    o.dry_run = a.dry_run;
    auto report = yw::archive::archive(config.primary_url, s3, o);
    if (!report) {
        print_error(g.json, report.error().message);
        return exit_for(report.error().code);
    }
    // A month that failed (nothing dropped, resumable) is critical (2); a refusal of the month asked for is
    // the operator's mistake (64).
    int exit = kOk;
    for (const auto& m : report->months) {
        if (m.outcome == "failed") exit = int(kCritical);
        if (m.outcome == "refused" && exit == kOk) exit = exit_for(m.error);
    }
    if (g.json) {
        boost::json::array months;
        for (const auto& m : report->months) months.push_back(to_json(m));
        print_json(boost::json::object{{"months", months}, {"dry_run", a.dry_run}, {"ok", report->ok()}});
        return exit;
    }
    if (report->months.empty()) std::cout << "✓ no month is older than " << a.older_than << " months\n";
    for (const auto& m : report->months) {
        bool good = m.outcome != "failed" && m.outcome != "refused";
        std::cout << mark(good) << " " << m.month << ": " << m.outcome;
        if (m.rows || m.object_bytes)
            std::cout << fmt::format(" ({} rows, {:.1f} MB object, {:.1f} s)", m.rows,
                                     m.object_bytes / 1048576.0, m.seconds);
        std::cout << "\n    " << m.detail << "\n";
        if (m.outcome == "failed")
            std::cout << "    nothing was dropped; the state is '" << m.state
                      << "': run the same command again to resume (docs/partitions.md)\n";
    }
    return exit;
}

int restore(const Globals& g, const RestoreArgs& a) {
    auto s = setup(g);
    if (auto* code = std::get_if<int>(&s)) return *code;
    auto& [config, s3_config] = std::get<Setup>(s);
    yw::s3::Client s3(s3_config);
    yw::archive::RestoreOptions o;
    o.month = a.month;
    o.attach = a.as_table.empty();
    o.as_table = a.as_table;
    if (!g.json) o.progress = progress_to_stderr;
    auto r = yw::archive::restore(config.primary_url, s3, o);
    if (!r) {
        print_error(g.json, r.error().message);
        return exit_for(r.error().code);
    }
    if (g.json) {
        print_json(boost::json::object{{"month", r->month},
                                       {"table", r->table},
                                       {"attached", r->attached},
                                       {"rows", r->rows},
                                       {"object_bytes", r->object_bytes},
                                       {"seconds", r->seconds}});
    } else {
        std::cout << "✓ " << r->month << ": " << r->rows << " rows restored into " << r->table
                  << (r->attached ? " (attached to conversation_message)" : " (read-only, not attached)")
                  << " in " << fmt::format("{:.1f}", r->seconds) << " s\n";
    }
    return kOk;
}

}  // namespace

void add_archive_commands(CLI::App& partitions, const Globals& g, Action& action) {
    auto a = std::make_shared<ArchiveArgs>();
    auto* archive_cmd = partitions.add_subcommand("archive",
                                                  "RB-18: detach old months, upload them to S3 (gzip CSV + "
                                                  "manifest), verify by reading back, then drop");
    archive_cmd->add_option("--month", a->month, "One month, YYYY_MM (still subject to --older-than)");
    archive_cmd->add_option("--older-than", a->older_than, "Months older than this many (default 12)")
        ->check(CLI::Range(1, 600));
    archive_cmd
        ->add_option("--keep-detached-days", a->keep_days,
                     "Keep the verified table detached this many days instead of dropping it")
        ->check(CLI::Range(0, 3650));
    archive_cmd
        ->add_option("--lock-timeout-ms", a->lock_timeout_ms,
                     "How long DETACH/DROP may wait for a lock per attempt (5 attempts)")
        ->check(CLI::Range(10, 60000))
        ->capture_default_str();
    archive_cmd->add_option("--gzip-level", a->gzip_level, "gzip level, 1 (fast) to 9 (small)")
        ->check(CLI::Range(1, 9))
        ->capture_default_str();
    archive_cmd->add_flag("--yes", a->yes, "Do not ask");
    archive_cmd->add_flag("--dry-run", a->dry_run, "Show what would be archived; change nothing");
    archive_cmd->callback([&g, &action, a] { action = [&g, a] { return archive(g, *a); }; });

    auto r = std::make_shared<RestoreArgs>();
    auto* restore_cmd = partitions.add_subcommand(
        "restore",
        "RB-19: download a month, check it against its manifest, load it, attach it (or --as TABLE)");
    restore_cmd->add_option("--month", r->month, "YYYY_MM")->required();
    auto* attach =
        restore_cmd->add_flag("--attach", r->attach, "Attach it back to conversation_message (default)");
    restore_cmd->add_option("--as", r->as_table, "Load into this separate read-only table instead")
        ->excludes(attach);
    restore_cmd->callback([&g, &action, r] { action = [&g, r] { return restore(g, *r); }; });
}

}  // namespace ywctl
