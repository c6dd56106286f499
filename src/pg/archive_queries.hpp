// The named SQL of archiving months to S3 and restoring them (RB-18/RB-19, src/archive).
#pragma once

#include "pg/queries.hpp"

namespace yw::pg::queries {

// Statements on one partition take its name, built from a validated YYYY_MM and quoted with
// quote_identifier(), in place of `{}`: DDL and COPY cannot take it as a parameter.

// hashtext('ywmessaging.partition_archive'): one archive or restore at a time, held for the whole run on the
// direct primary connection (a session lock: never through PgBouncer's transaction pooling).
inline constexpr Query kArchiveTryLock{
    "archive.try_lock", "SELECT pg_try_advisory_lock(hashtext('ywmessaging.partition_archive')) AS locked"};
inline constexpr Query kArchiveLockHolder{
    "archive.lock_holder",
    "SELECT coalesce(a.application_name, '') AS application, a.pid, coalesce(a.client_addr::text, 'local') "
    "AS "
    "client, extract(epoch FROM now() - a.backend_start)::bigint AS seconds"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.objid = hashtext('ywmessaging.partition_archive')::oid LIMIT 1"};

// The current month (UTC) and the server's version, once per run.
inline constexpr Query kArchiveNow{
    "archive.now",
    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM') AS month, current_setting('server_version') AS "
    "version,"
    " to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS utc,"
    " to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS log_time"};

// A month's table: does it exist, is it a partition now, is a DETACH … CONCURRENTLY of it unfinished.
inline constexpr Query kArchiveTable{
    "archive.table",
    "SELECT c.relname AS name, (i.inhrelid IS NOT NULL) AS attached,"
    " coalesce(i.inhdetachpending, false) AS detach_pending, pg_total_relation_size(c.oid) AS bytes"
    " FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
    "  AND i.inhparent = 'conversation_message'::regclass"
    " WHERE c.oid = to_regclass($1) AND c.relkind = 'r'"};

// Months past the cut-off that are partitions now, plus every unfinished archive and every kept table whose
// time is up — what `archive --older-than N` works through.
inline constexpr Query kArchiveCandidates{
    "archive.candidates",
    "SELECT right(c.relname, 7) AS month FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'conversation_message'::regclass"
    "  AND c.relname ~ '^conversation_message_[0-9]{4}_[0-9]{2}$'"
    "  AND to_date(right(c.relname, 7), 'YYYY_MM')"
    "      < (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $1::integer))::date"
    " UNION SELECT to_char(month, 'YYYY_MM') FROM partition_archive"
    "  WHERE state IN ('detaching', 'detached', 'uploaded', 'verified')"
    "     OR (state = 'kept' AND keep_until <= now())"
    " ORDER BY 1"};

inline constexpr Query kArchiveRow{
    "archive.row",
    "SELECT to_char(month, 'YYYY_MM') AS month, table_name, state, object_key, manifest_key, row_count,"
    " table_bytes, csv_bytes, csv_sha256, gzip_bytes, gzip_sha256, coalesce(keep_until::text, '') AS "
    "keep_until,"
    " (keep_until IS NOT NULL AND keep_until <= now()) AS keep_expired, coalesce(last_error, '') AS "
    "last_error,"
    " coalesce(log_line, '') AS log_line"
    " FROM partition_archive WHERE month = to_date($1, 'YYYY_MM')"};

// A new archive of a month (or again, after a restore): state detaching.
inline constexpr Query kArchiveBegin{
    "archive.begin",
    "WITH r AS ("
    " INSERT INTO partition_archive (month, table_name, state, object_key, manifest_key, table_bytes)"
    " VALUES (to_date($1, 'YYYY_MM'), $2, 'detaching', $3, $4, $5::bigint)"
    " ON CONFLICT (month) DO UPDATE SET table_name = EXCLUDED.table_name, state = 'detaching',"
    "  object_key = EXCLUDED.object_key, manifest_key = EXCLUDED.manifest_key,"
    "  table_bytes = EXCLUDED.table_bytes, row_count = NULL, csv_bytes = NULL, csv_sha256 = NULL,"
    "  gzip_bytes = NULL, gzip_sha256 = NULL, keep_until = NULL, restored_as = NULL,"
    "  started_at = clock_timestamp(), updated_at = clock_timestamp(), finished_at = NULL, last_error = NULL,"
    "  log_line = NULL"
    "  WHERE partition_archive.state = 'restored'"
    " RETURNING month)"
    " INSERT INTO partition_archive_event (month, step, detail) SELECT month, 'begin', $6 FROM r"};

// The step that just succeeded: the new state, recorded with an event.
inline constexpr Query kArchiveStep{
    "archive.step",
    "WITH r AS (UPDATE partition_archive SET state = $2, updated_at = clock_timestamp(), last_error = NULL"
    " WHERE month = to_date($1, 'YYYY_MM') RETURNING month)"
    " INSERT INTO partition_archive_event (month, step, detail) SELECT month, $2, $3 FROM r"};

inline constexpr Query kArchiveUploaded{
    "archive.uploaded",
    "WITH r AS (UPDATE partition_archive SET state = 'uploaded', updated_at = clock_timestamp(),"
    " last_error = NULL, row_count = $2::bigint, csv_bytes = $3::bigint, csv_sha256 = $4,"
    " gzip_bytes = $5::bigint, gzip_sha256 = $6"
    " WHERE month = to_date($1, 'YYYY_MM') RETURNING month)"
    " INSERT INTO partition_archive_event (month, step, detail) SELECT month, 'uploaded', $7 FROM r"};

// A step failed: the error, and the state to go back to ($3; NULL: unchanged).
inline constexpr Query kArchiveFailed{
    "archive.failed",
    "WITH r AS (UPDATE partition_archive SET last_error = $2, state = coalesce($3, state),"
    " updated_at = clock_timestamp() WHERE month = to_date($1, 'YYYY_MM') RETURNING month)"
    " INSERT INTO partition_archive_event (month, step, detail) SELECT month, 'failed', $2 FROM r"};

// The end: dropped, or kept detached until $3.
inline constexpr Query kArchiveFinished{
    "archive.finished",
    "WITH r AS (UPDATE partition_archive SET state = $2, keep_until = $3::timestamptz, log_line = $4,"
    " updated_at = clock_timestamp(), finished_at = clock_timestamp(), last_error = NULL"
    " WHERE month = to_date($1, 'YYYY_MM') RETURNING month)"
    " INSERT INTO partition_archive_event (month, step, detail) SELECT month, $2, $4 FROM r"};

inline constexpr Query kArchiveRestored{
    "archive.restored",
    "WITH r AS (UPDATE partition_archive SET state = 'restored', restored_as = $2, updated_at = "
    "clock_timestamp(),"
    " last_error = NULL WHERE month = to_date($1, 'YYYY_MM') RETURNING month)"
    " INSERT INTO partition_archive_event (month, step, detail) SELECT month, 'restored', $3 FROM r"};

// The live columns of a table (the parent, for a restore; the month, for its manifest).
inline constexpr Query kArchiveColumns{
    "archive.columns",
    "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null"
    " FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped"
    " ORDER BY a.attnum"};

inline constexpr Query kSetLockTimeout{"archive.lock_timeout",
                                       "SELECT set_config('lock_timeout', $1, false)"};

// Templates: `{}` is a quoted table name (or, where named, other quoted identifiers and literals).
inline constexpr const char* kArchiveDetachSql =
    "ALTER TABLE conversation_message DETACH PARTITION {} CONCURRENTLY";
inline constexpr const char* kArchiveDetachFinalizeSql =
    "ALTER TABLE conversation_message DETACH PARTITION {} FINALIZE";
inline constexpr const char* kArchiveCountSql = "SELECT count(*) AS n FROM {}";
inline constexpr const char* kArchiveCopyOutSql = "COPY {} TO STDOUT (FORMAT csv, HEADER)";
inline constexpr const char* kArchiveDropSql = "DROP TABLE {}";
// Restore: the table from the live parent's definition, loaded, checked, then attached or left read-only.
inline constexpr const char* kRestoreCreateSql =
    "CREATE TABLE {} (LIKE conversation_message INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)";
inline constexpr const char* kRestoreReadOnlySql = "ALTER TABLE {} SET (fillfactor = 100)";
// FREEZE: the table was created in this transaction, so its rows may be written frozen (no later rewrite of
// every page to set hint bits, no anti-wraparound vacuum of a month that never changes).
inline constexpr const char* kRestoreCopyInSql = "COPY {} ({}) FROM STDIN (FORMAT csv, HEADER, FREEZE)";
// --as: the parent's indexes, built once the rows are in (a sorted build, not a million random inserts), from
// their live definitions with the new table's name ($1) and names PostgreSQL chooses.
inline constexpr Query kRestoreIndexDefs{
    "restore.index_defs",
    "SELECT regexp_replace(pg_get_indexdef(i.indexrelid),"
    " '^CREATE (UNIQUE )?INDEX \\S+ ON ONLY \\S+ ', 'CREATE \\1INDEX ON ' || quote_ident($1) || ' ') AS sql"
    " FROM pg_index i WHERE i.indrelid = 'conversation_message'::regclass ORDER BY i.indexrelid"};
// {0} table, {1} constraint, {2} from literal, {3} to literal.
inline constexpr const char* kRestoreCheckSql =
    "ALTER TABLE {0} ADD CONSTRAINT {1} CHECK (created_at IS NOT NULL AND created_at >= {2} AND created_at < "
    "{3})";
inline constexpr const char* kRestoreAttachSql =
    "ALTER TABLE conversation_message ATTACH PARTITION {0} FOR VALUES FROM ({2}) TO ({3})";
inline constexpr const char* kRestoreDropCheckSql = "ALTER TABLE {0} DROP CONSTRAINT {1}";
inline constexpr const char* kRestoreAnalyzeSql = "ANALYZE {}";

}  // namespace yw::pg::queries
