// The named SQL of backups and restores (src/backup, pgBackRest): archiving state, restore checks, drills.
#pragma once

#include "pg/queries.hpp"

namespace yw::pg::queries {

// WAL archiving on the primary: pg_stat_archiver, the segments still waiting for archive_command (.ready
// files: WAL the primary must keep while archiving fails) and the settings that make archiving happen.
inline constexpr Query kBackupArchiver{
    "backup.archiver",
    "SELECT current_setting('archive_mode') AS archive_mode,"
    " current_setting('archive_command') <> '' AS has_command,"
    " s.archived_count, s.failed_count, coalesce(s.last_archived_wal, '') AS last_archived_wal,"
    " coalesce(s.last_failed_wal, '') AS last_failed_wal,"
    " extract(epoch FROM now() - s.last_archived_time)::bigint AS archived_s_ago,"
    " extract(epoch FROM now() - s.last_failed_time)::bigint AS failed_s_ago,"
    " (s.last_failed_time IS NOT NULL AND (s.last_archived_time IS NULL"
    "   OR s.last_failed_time > s.last_archived_time)) AS failing,"
    " (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS ready_segments,"
    " pg_size_bytes(current_setting('wal_segment_size')) AS segment_bytes,"
    " pg_is_in_recovery() AS in_recovery"
    " FROM pg_stat_archiver s"};

// Where the primary is now, in time and WAL, before a drill forces a switch to a new segment.
inline constexpr Query kBackupPrimaryPosition{
    "backup.primary_position",
    "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00') AS at,"
    " pg_current_wal_lsn()::text AS lsn"};
inline constexpr Query kBackupSwitchWal{"backup.switch_wal",
                                        "SELECT pg_walfile_name(pg_switch_wal()) AS segment"};
inline constexpr Query kBackupLastArchived{
    "backup.last_archived", "SELECT coalesce(last_archived_wal, '') AS wal FROM pg_stat_archiver"};

// A restored server: still replaying, or promoted; how far it got.
inline constexpr Query kBackupRecoveryState{"backup.recovery_state",
                                            "SELECT pg_is_in_recovery() AS in_recovery,"
                                            " coalesce(to_char(pg_last_xact_replay_timestamp() AT TIME ZONE "
                                            "'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00'), '')"
                                            " AS last_replayed_xact,"
                                            " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
                                            "ELSE pg_current_wal_lsn() END::text AS lsn"};

// Exact row counts of the product's main tables (a restore's report, a drill's comparison).
inline constexpr Query kBackupRowCounts{
    "backup.row_counts",
    "SELECT 'tenants' AS table_name, count(*) AS rows FROM tenants"
    " UNION ALL SELECT 'api_keys', count(*) FROM api_keys"
    " UNION ALL SELECT 'users', count(*) FROM users"
    " UNION ALL SELECT 'conversations', count(*) FROM conversations"
    " UNION ALL SELECT 'conversation_message', count(*) FROM conversation_message"};

// The messages of a closed time range, as a count and a checksum of their ids: equal on the primary and on a
// restored copy when no row of the range was lost.
inline constexpr Query kBackupMessageChecksum{
    "backup.message_checksum",
    "SELECT count(*) AS rows, coalesce(md5(string_agg(id::text, ',' ORDER BY id)), '') AS checksum"
    " FROM conversation_message WHERE created_at < $1::timestamptz"};

// Bytes of WAL between two positions (the drill's RPO in bytes).
inline constexpr Query kBackupLsnDiff{
    "backup.lsn_diff", "SELECT greatest(pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn), 0)::bigint AS bytes"};

}  // namespace yw::pg::queries
