// pgBackRest, the backup engine (docs/backup.md): running its commands and reading its repository's state.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/process.hpp"

namespace yw::backup {

// One backup in the repository, as `pgbackrest info --output=json` describes it.
struct BackupSet {
    std::string label;  // 20261201-224857F, 20261201-224857F_20261201-224901I
    std::string type;   // full | diff | incr
    std::string prior;  // the backup a diff or incr depends on; "" for a full one
    long long start = 0;
    long long stop = 0;  // unix seconds: the backup is consistent from here on (PITR's lower bound)
    long long size = 0;  // the database's bytes
    long long delta = 0;
    long long repo_size = 0;  // bytes in the repository (compressed, encrypted)
    long long repo_delta = 0;
    std::string lsn_start, lsn_stop;
    std::string wal_start, wal_stop;
    bool error = false;  // pgBackRest found page checksum errors while copying
};

// The stanza's state in the repository.
struct RepoInfo {
    // pgBackRest's status: 0 ok, 1 missing stanza path, 2 no valid backups, 3 missing stanza data, 4
    // different cipher, 5 database mismatch, 6 backup/expire running, 99 other.
    int status_code = -1;
    std::string status_message;
    std::string cipher;                    // none | aes-256-cbc
    std::string archive_min, archive_max;  // WAL segments in the repository
    std::vector<BackupSet> backups;        // oldest first
    bool backup_running = false;

    const BackupSet* newest() const { return backups.empty() ? nullptr : &backups.back(); }
};

// Reads `pgbackrest info --output=json` for `stanza`. Strict about types, tolerant of fields it does not use.
Result<RepoInfo> parse_info(std::string_view json, std::string_view stanza);

// The first "ERROR: [code]: message" of pgBackRest's output with its HINT, or the output's last line: what an
// operator needs, without the HTTP dumps that follow (pgBackRest redacts keys and passphrases itself).
std::string error_summary(std::string_view output);

struct Settings {
    std::string config_file;  // PGBACKREST_CONFIG
    std::string stanza = "ywmessaging";
    // pgBackRest reaches PostgreSQL over a Unix socket unless libpq's PGHOST says otherwise; the local
    // topology listens on TCP only.
    std::string pg_host = "127.0.0.1";
};
Settings settings_from(const Config& config);

// Runs pgbackrest with the configured file and stanza, as the postgres system user when we are root (it
// must read the data directory and write its lock and log paths, as archive_command does).
class PgBackRest {
  public:
    explicit PgBackRest(Settings settings) : settings_(std::move(settings)) {}

    const Settings& settings() const { return settings_; }
    Result<RunResult> run(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                          bool inherit_output = false) const;
    // Like run(), but a non-zero exit is an error carrying error_summary().
    Status run_checked(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                       bool inherit_output = false) const;

    Result<RepoInfo> info() const;
    // The argv of a command as an operator would type it (the RB-20 advice, --dry-run plans).
    std::vector<std::string> command_line(const std::vector<std::string>& args) const;

  private:
    Settings settings_;
};

// "20261201-224857F_20261201-224901I" and friends: only labels pgBackRest makes are accepted as --set.
bool valid_label(std::string_view label);

}  // namespace yw::backup
