// `ywctl backup check`: are there recent backups, does WAL archiving work, is the repository sound.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "backup/pgbackrest.hpp"
#include "ops/check.hpp"
#include "pg/sync_connection.hpp"

namespace yw::backup {

struct ArchiverState {
    std::string archive_mode;  // on | always | off
    bool has_command = false;
    long long archived_count = 0;
    long long failed_count = 0;
    std::string last_archived_wal, last_failed_wal;
    std::optional<long long> archived_s_ago, failed_s_ago;
    bool failing = false;          // the last attempt failed (it came after the last success)
    long long ready_segments = 0;  // WAL waiting for archive_command: kept on the primary's disk
    long long segment_bytes = 16ll << 20;
    bool in_recovery = false;
};

struct BackupSnapshot {
    long long now = 0;  // unix seconds
    std::optional<RepoInfo> repo;
    std::string repo_error;  // why the repository could not be read
    std::optional<ArchiverState> archiver;
    std::string archiver_error;
    bool checked = false;  // `pgbackrest check` ran (it forces a WAL switch and waits for its archive)
    std::string check_error;
    bool verified = false;  // `pgbackrest verify` ran
    std::string verify_error;
};

struct BackupThresholds {
    std::chrono::hours warning_age{26};   // a daily backup that missed one run
    std::chrono::hours critical_age{50};  // two missed runs
    long long ready_warning = 8;          // segments waiting to be archived (16 MB each by default)
    long long ready_critical = 64;
};

ArchiverState read_archiver(pg::SyncConnection& primary, std::string* error);

// What is assessed: the newest usable backup's age, the backups pgBackRest flagged, WAL archiving (failing
// now, WAL piling up on the primary), the repository's status, and `check` and `verify` when they ran.
ops::Report assess_backups(const BackupSnapshot& s, const BackupThresholds& t = {});

// RB-20 "If Recovery Fails" (no replica can be promoted): the newest usable backup, its age, and the exact
// restore command, added to an emergency report; a critical finding when there is none or the repository
// cannot be read.
void advise_restore(ops::Report& report, const Result<RepoInfo>& info, long long now);

// The snapshot as Prometheus text, for node_exporter's textfile collector (`backup check --prometheus-file`):
// yw_backup_* gauges that deploy/prometheus/alerts.yml judges (docs/backup.md).
std::string metrics_text(const BackupSnapshot& s);

std::string bytes_text(long long bytes);
std::string age_text(long long seconds);

}  // namespace yw::backup
