// RB-18/RB-19: archive old months of conversation_message to S3, verified, and restore them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "s3/client.hpp"

namespace yw::archive {

struct ArchiveOptions {
    std::optional<std::string> month;  // YYYY_MM; unset: every month older than the cut-off
    int older_than_months = 12;        // the cut-off: months that began more than N months before this one
    bool dry_run = false;              // print what would happen, change nothing
    std::optional<int>
        keep_detached_days;  // keep the verified table detached this long instead of dropping it
    std::chrono::milliseconds lock_timeout{
        1000};                // DETACH/DROP wait at most this long for a lock, per attempt
    int lock_attempts = 5;    // then give up (the API never waits longer than one)
    int gzip_level = 6;       // gzip's own default, as the runbook's pipeline
    std::string archive_log;  // YW_ARCHIVE_LOG; empty: no file
    std::function<void(const std::string&)> progress;  // step messages; may be empty
    // Fault injection for tests (YW_ARCHIVE_KILL_AFTER=<state>): the process SIGKILLs itself right after it
    // recorded that state, as a crash between two steps would; "uploading": once the first part of the object
    // is in S3, as a crash in the middle of the upload would.
    std::string kill_after;
};

struct MonthOutcome {
    std::string month;  // YYYY_MM
    std::string table;
    std::string state;    // partition_archive.state after the run ("" when never started)
    std::string outcome;  // archived | kept | dropped | would archive | skipped | refused | failed
    std::string detail;   // the reason, the error, or the log line
    std::int64_t rows = 0;
    std::uint64_t table_bytes = 0;
    std::uint64_t object_bytes = 0;
    double seconds = 0;
    ErrorCode error = ErrorCode::kInternal;  // meaningful for refused and failed
};

struct ArchiveReport {
    std::vector<MonthOutcome> months;
    bool ok() const;
};

// Runs the archive on the primary, directly (DATABASE_PRIMARY_URL: a session advisory lock serialises runs,
// which PgBouncer's transaction pooling cannot hold). Fails as a whole only when it cannot start (no
// database, another run holds the lock, a bad option); each month's own failure is in its outcome.
Result<ArchiveReport> archive(const std::string& primary_url, s3::Client& s3, const ArchiveOptions& options);

struct RestoreOptions {
    std::string month;     // YYYY_MM
    bool attach = true;    // back into conversation_message; false: a separate read-only table
    std::string as_table;  // with attach = false: its name (default conversation_message_YYYY_MM_restored)
    std::string temp_dir;  // where the checked CSV waits for its load (default: TMPDIR, /tmp); needs its size
    std::function<void(const std::string&)> progress;
};

struct RestoreOutcome {
    std::string month;
    std::string table;  // what now holds the rows
    bool attached = false;
    std::int64_t rows = 0;
    std::uint64_t object_bytes = 0;
    double seconds = 0;
};

// Downloads, checks both checksums and the row count against the manifest before loading a row, creates the
// table from the live parent's definition, loads it, checks the count again, then attaches it (validated by a
// CHECK constraint first) or leaves it read-only; ANALYZE. All of it in one transaction: a failure leaves
// nothing behind.
Result<RestoreOutcome> restore(const std::string& primary_url, s3::Client& s3, const RestoreOptions& options);

// "2023_12" → true; anything else false (pure).
bool valid_month(const std::string& month);
// Month arithmetic on YYYY_MM (pure): add(2023_12, 1) = 2024_01.
std::string add_months(const std::string& month, int delta);

}  // namespace yw::archive
