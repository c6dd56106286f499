// The backup check's facts and the thresholds they are judged against (see check.hpp).
#include "backup/check.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "common/prometheus.hpp"
#include "pg/backup_queries.hpp"

namespace yw::backup {

using ops::Finding;
using ops::Level;

std::string bytes_text(long long bytes) {
    if (bytes >= (1ll << 30)) return fmt::format("{:.2f} GB", static_cast<double>(bytes) / (1ll << 30));
    if (bytes >= (1ll << 20)) return fmt::format("{:.1f} MB", static_cast<double>(bytes) / (1ll << 20));
    return fmt::format("{} kB", (bytes + 1023) >> 10);
}

std::string age_text(long long s) {
    if (s < 120) return fmt::format("{} s", s);
    if (s < 2 * 3600) return fmt::format("{} min", s / 60);
    if (s < 3 * 86400) return fmt::format("{:.1f} h", static_cast<double>(s) / 3600);
    return fmt::format("{} days", s / 86400);
}

ArchiverState read_archiver(pg::SyncConnection& primary, std::string* error) {
    ArchiverState a;
    auto rows = primary.query(pg::queries::kBackupArchiver);
    if (!rows || rows->empty()) {
        if (error) *error = rows ? "no answer" : rows.error().message;
        return a;
    }
    a.archive_mode = rows->text(0, "archive_mode");
    a.has_command = rows->text(0, "has_command") == "t";
    a.archived_count = rows->optional_int(0, "archived_count").value_or(0);
    a.failed_count = rows->optional_int(0, "failed_count").value_or(0);
    a.last_archived_wal = rows->text(0, "last_archived_wal");
    a.last_failed_wal = rows->text(0, "last_failed_wal");
    a.archived_s_ago = rows->optional_int(0, "archived_s_ago");
    a.failed_s_ago = rows->optional_int(0, "failed_s_ago");
    a.failing = rows->text(0, "failing") == "t";
    a.ready_segments = rows->optional_int(0, "ready_segments").value_or(0);
    a.segment_bytes = rows->optional_int(0, "segment_bytes").value_or(16ll << 20);
    a.in_recovery = rows->text(0, "in_recovery") == "t";
    return a;
}

ops::Report assess_backups(const BackupSnapshot& s, const BackupThresholds& t) {
    ops::Report r;
    r.title = "Backups (pgBackRest)";
    boost::json::object data;

    // The repository and its backups.
    if (!s.repo) {
        r.add({"repository reachable", Level::kCritical, "no", "answers", s.repo_error});
        r.recommend("check the repository's endpoint, bucket and key in PGBACKREST_CONFIG (docs/backup.md)");
    } else {
        const RepoInfo& repo = *s.repo;
        bool ok = repo.status_code == 0 || repo.status_code == 2 || repo.status_code == 6;
        r.add({"repository reachable", ok ? Level::kOk : Level::kCritical,
               fmt::format("status {} ({})", repo.status_code, repo.status_message), "0 (ok)",
               repo.cipher == "none" ? "not encrypted: set repo1-cipher-type" : ""});
        const BackupSet* usable = nullptr;
        for (const auto& b : repo.backups)
            if (!b.error) usable = &b;
        if (!usable) {
            r.add({"newest backup", Level::kCritical, "none", fmt::format("< {} h", t.warning_age.count()),
                   "no usable backup: a restore is impossible"});
            r.recommend("ywctl backup run --type full");
        } else {
            long long age = s.now - usable->stop;
            Level level = age > std::chrono::duration_cast<std::chrono::seconds>(t.critical_age).count()
                              ? Level::kCritical
                          : age > std::chrono::duration_cast<std::chrono::seconds>(t.warning_age).count()
                              ? Level::kWarning
                              : Level::kOk;
            r.add({"newest backup age", level, age_text(std::max(0ll, age)),
                   fmt::format("warning > {} h, critical > {} h", t.warning_age.count(),
                               t.critical_age.count()),
                   fmt::format("{} ({}, {} in the repository)", usable->label, usable->type,
                               bytes_text(usable->repo_size))});
            if (level != Level::kOk)
                r.recommend("ywctl backup run   # and check the schedule (docs/backup.md)");
            data["newest_backup"] = usable->label;
            data["newest_backup_age_s"] = age;
        }
        long long flagged = 0;
        for (const auto& b : repo.backups) flagged += b.error ? 1 : 0;
        if (flagged > 0)
            r.add({"backups with page errors", Level::kWarning, std::to_string(flagged), "0",
                   "pgBackRest found checksum errors while copying: see `ywctl backup list`"});
        data["backups"] = static_cast<long long>(repo.backups.size());
        data["repository_status"] = repo.status_code;
        data["wal_min"] = repo.archive_min;
        data["wal_max"] = repo.archive_max;
    }

    // WAL archiving on the primary.
    if (!s.archiver) {
        r.add({"WAL archiving", Level::kUnknown, "unknown", "works", s.archiver_error});
    } else {
        const ArchiverState& a = *s.archiver;
        if (a.archive_mode == "off" || !a.has_command) {
            r.add({"WAL archiving", Level::kCritical,
                   a.archive_mode == "off" ? "archive_mode off" : "no command",
                   "on, through pgbackrest archive-push",
                   "without archived WAL there is no point-in-time recovery (docs/backup.md)"});
        } else if (a.failing) {
            r.add({"WAL archiving", Level::kCritical,
                   fmt::format("failing ({} failures, last {} ago)", a.failed_count,
                               age_text(a.failed_s_ago.value_or(0))),
                   "the last attempt succeeded",
                   fmt::format("segment {} is not archived; see the primary's log", a.last_failed_wal)});
            r.recommend("ywctl backup check --json   # the repository's error; then the primary's log");
        } else {
            r.add({"WAL archiving", Level::kOk,
                   a.archived_s_ago
                       ? fmt::format("last {} ago ({})", age_text(*a.archived_s_ago), a.last_archived_wal)
                       : "nothing archived yet",
                   "the last attempt succeeded", ""});
        }
        long long retained = a.ready_segments * a.segment_bytes;
        Level level = a.ready_segments >= t.ready_critical  ? Level::kCritical
                      : a.ready_segments >= t.ready_warning ? Level::kWarning
                                                            : Level::kOk;
        r.add({"WAL waiting to be archived", level,
               fmt::format("{} segments ({})", a.ready_segments, bytes_text(retained)),
               fmt::format("warning ≥ {}, critical ≥ {} segments", t.ready_warning, t.ready_critical),
               level == Level::kOk ? "" : "kept on the primary's disk until archiving works again"});
        data["archive_failed_count"] = a.failed_count;
        data["archive_failing"] = a.failing;
        data["wal_ready_segments"] = a.ready_segments;
        data["wal_retained_bytes"] = retained;
        if (a.archived_s_ago) data["last_archived_s_ago"] = *a.archived_s_ago;
    }

    if (s.checked)
        r.add({"pgbackrest check", s.check_error.empty() ? Level::kOk : Level::kCritical,
               s.check_error.empty() ? "passed" : "failed", "a WAL switch reaches the repository",
               s.check_error});
    if (s.verified)
        r.add({"pgbackrest verify", s.verify_error.empty() ? Level::kOk : Level::kCritical,
               s.verify_error.empty() ? "clean" : "problems", "every file readable and intact",
               s.verify_error});
    r.data = std::move(data);
    return r;
}

std::string metrics_text(const BackupSnapshot& s) {
    prometheus::Writer w;
    w.family("yw_backup_check_timestamp_seconds", "gauge", "When ywctl backup check last ran (Unix time).");
    w.sample("yw_backup_check_timestamp_seconds", "", s.now);
    w.family("yw_backup_repository_up", "gauge",
             "1 when pgBackRest could read the repository and its status is ok.");
    bool repo_ok =
        s.repo && (s.repo->status_code == 0 || s.repo->status_code == 2 || s.repo->status_code == 6);
    w.sample("yw_backup_repository_up", "", repo_ok);
    if (s.repo) {
        const BackupSet* usable = nullptr;
        long long count = 0;
        for (const auto& b : s.repo->backups) {
            if (b.error) continue;
            usable = &b;
            ++count;
        }
        w.family("yw_backup_usable", "gauge", "Backups in the repository that pgBackRest did not flag.");
        w.sample("yw_backup_usable", "", count);
        if (usable) {
            w.family("yw_backup_last_success_timestamp_seconds", "gauge",
                     "When the newest usable backup ended (Unix time).");
            w.sample("yw_backup_last_success_timestamp_seconds", prometheus::label("type", usable->type),
                     usable->stop);
            w.family("yw_backup_last_size_bytes", "gauge", "Repository bytes of the newest usable backup.");
            w.sample("yw_backup_last_size_bytes", "", usable->repo_size);
        }
    }
    if (s.archiver) {
        w.family("yw_backup_archive_failing", "gauge",
                 "1 when the primary's last archive_command attempt failed.");
        w.sample("yw_backup_archive_failing", "", s.archiver->failing);
        w.family("yw_backup_wal_ready_segments", "gauge",
                 "WAL segments waiting for archive_command on the primary (kept on its disk).");
        w.sample("yw_backup_wal_ready_segments", "", s.archiver->ready_segments);
    }
    if (s.verified) {
        w.family("yw_backup_verify_ok", "gauge", "1 when the last `pgbackrest verify` found nothing wrong.");
        w.sample("yw_backup_verify_ok", "", s.verify_error.empty());
    }
    return w.take();
}

void advise_restore(ops::Report& r, const Result<RepoInfo>& info, long long now) {
    if (!info) {
        r.add({"newest backup", Level::kCritical, "unknown", "a usable backup", info.error().message});
        return;
    }
    const BackupSet* usable = nullptr;
    for (const auto& b : info->backups)
        if (!b.error) usable = &b;
    if (!usable) {
        r.add({"newest backup", Level::kCritical, "none", "a usable backup",
               "the repository holds no usable backup: nothing to restore"});
        return;
    }
    r.add({"newest backup", Level::kOk, usable->label, "a usable backup",
           fmt::format("{} old; WAL archived up to {}", age_text(std::max(0ll, now - usable->stop)),
                       info->archive_max)});
    r.recommend(
        fmt::format("ywctl backup restore --to <new data directory>   # backup {} plus all archived WAL; "
                    "--target-time <RFC 3339> to stop before a bad change (docs/backup.md)",
                    usable->label));
    r.data["newest_backup"] = usable->label;
    r.data["newest_backup_age_s"] = now - usable->stop;
}

}  // namespace yw::backup
