// `ywctl backup restore` and `ywctl drill restore`: a backup plus WAL into a scratch server, and the proof.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backup/pgbackrest.hpp"
#include "common/error.hpp"

namespace yw::backup {

using Progress = std::function<void(const std::string&)>;

struct RestoreRequest {
    std::filesystem::path dir;               // must not exist, or be an empty directory
    std::optional<std::string> target_time;  // RFC 3339 with an offset
    std::optional<std::string> target_lsn;   // 0/3000028
    std::string set;                         // a backup label; empty: pgBackRest picks the newest fitting one
    int port = 0;                            // 0: a free port
    bool keep_running = true;                // false: stop the server after counting (the drill)
    std::chrono::seconds recovery_limit{3600};
    Progress progress;
};

struct TableRows {
    std::string table;
    long long rows = 0;
};

struct RestoreResult {
    std::filesystem::path dir;
    int port = 0;
    std::string dsn;                // superuser, for the operator's checks
    std::string recovered_to;       // the last transaction replayed (UTC), "" when none
    std::string lsn;                // where recovery ended
    std::vector<TableRows> counts;  // exact rows of the main tables
    long long restore_ms = 0;       // pgbackrest restore: files from the repository
    long long recovery_ms = 0;      // start → WAL replayed up to the target, promoted, queryable
    long long total_ms = 0;         // the RTO
    std::string log_file;
};

// The range of times a point-in-time restore can reach: from the oldest usable backup's end to now.
struct RecoveryWindow {
    long long from = 0;  // unix seconds
    long long to = 0;
};
std::optional<RecoveryWindow> recovery_window(const RepoInfo& info, long long now);

// Checks the request against the repository (target inside the window, directory empty, label known), runs
// `pgbackrest restore` into the directory (archive_mode off: the copy never writes to the repository), starts
// it on its own port, waits until recovery reached the target and it was promoted, and counts rows.
Result<RestoreResult> restore_to(const PgBackRest& engine, const RestoreRequest& request);

// Stops a scratch server and deletes its directory.
Status destroy_scratch(const std::filesystem::path& dir);

struct DrillRequest {
    std::string primary_dsn;             // superuser, direct
    std::filesystem::path scratch_root;  // where the scratch directory goes (default: the system's temp)
    bool keep = false;                   // leave the scratch server running for inspection
    Progress progress;
};

struct DrillResult {
    bool ok = false;
    std::string error;
    std::string backup_label;
    long long backup_age_s = 0;
    std::string primary_at;        // the drill's point: the primary's clock when WAL was switched
    std::string closed_range_end;  // messages created before this are compared
    long long primary_messages = 0, restored_messages = 0;
    std::string primary_checksum, restored_checksum;
    std::vector<std::pair<std::string, std::pair<long long, long long>>>
        tables;  // name → (primary, restored)
    long long rto_ms = 0;
    long long rpo_bytes = 0;   // WAL the primary had written at the drill's point and the copy lacks
    std::string recovered_to;  // the newest transaction the copy has
    RestoreResult restore;
};

// RB-20's monthly proof: switch WAL on the primary and wait for its archive, restore the newest backup plus
// all WAL into a scratch server, compare row counts and a checksum of conversation_message ids created before
// the drill's point, report RTO and RPO, and destroy the scratch server.
DrillResult run_restore_drill(const PgBackRest& engine, const DrillRequest& request);

}  // namespace yw::backup
