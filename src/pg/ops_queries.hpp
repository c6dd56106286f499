// The named SQL of the operator side: migrations, partitions and the local topology launcher.
#pragma once

#include "pg/queries.hpp"

namespace yw::pg::queries {

// Part of the query registry (pg/queries.hpp holds the server's); identifiers are never interpolated from
// user input.

// --- transactions ---
inline constexpr Query kBegin{"tx.begin", "BEGIN"};
inline constexpr Query kCommit{"tx.commit", "COMMIT"};
inline constexpr Query kRollback{"tx.rollback", "ROLLBACK"};

// --- migrations ---
// hashtext('ywmessaging.migrations'): one lock id shared by every instance and ywctl.
inline constexpr Query kMigrationLock{"migrations.lock",
                                      "SELECT pg_advisory_xact_lock(hashtext('ywmessaging.migrations'))"};
inline constexpr Query kMigrationsCreateTable{
    "migrations.create_table",
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"};
inline constexpr Query kMigrationApplied{"migrations.applied",
                                         "SELECT 1 FROM schema_migrations WHERE version = $1::integer"};
inline constexpr Query kMigrationRecord{
    "migrations.record", "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)"};
inline constexpr Query kMigrationCurrentVersion{
    "migrations.current_version", "SELECT coalesce(max(version), 0) AS version FROM schema_migrations"};
inline constexpr Query kMigrationList{
    "migrations.list", "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"};

// --- partitions ---
inline constexpr Query kPartitionsEnsure{
    "partitions.ensure",
    "SELECT partition_name FROM ensure_conversation_message_partitions($1::integer, $2::integer)"};
inline constexpr Query kPartitionsList{
    "partitions.list",
    "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,"
    " pg_total_relation_size(c.oid) AS bytes"
    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'conversation_message'::regclass ORDER BY c.relname"};

// The partition maintainer's run (migration 0002): $1 instance, $2 months ahead. One row: ran (false: another
// instance holds the lock), created (text[]), months_ahead_now, last_success (Unix seconds, NULL: never).
inline constexpr Query kPartitionsMaintain{"partitions.maintain",
                                           "SELECT ran, created::text[] AS created, months_ahead_now,"
                                           " extract(epoch FROM last_success)::float8 AS last_success"
                                           " FROM maintain_conversation_message_partitions($1, $2::integer)"};
// A failed run, recorded by a second statement (the failed one rolled back): $1 started (Unix seconds), $2
// instance, $3 error. Answers the months ahead as they are.
inline constexpr Query kPartitionsMaintainFailed{
    "partitions.maintain_failed",
    "INSERT INTO partition_maintenance_run (started_at, instance, months_ahead, error)"
    " VALUES (to_timestamp($1::float8), $2, conversation_message_months_ahead(now()), $3)"
    " RETURNING months_ahead"};

// RB-17: every attached partition with its size and rows estimate (reltuples; the live tuples before the
// first ANALYZE), and the maintainer's state: this month in UTC, its last success and last run.
inline constexpr Query kPartitionsHealth{
    "partitions.health",
    "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,"
    " pg_total_relation_size(c.oid) AS bytes,"
    " CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE coalesce(s.n_live_tup, 0) END AS rows"
    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
    " WHERE i.inhparent = 'conversation_message'::regclass ORDER BY c.relname"};
// Months whose rows live in S3 (archived, RB-18) and were not restored.
inline constexpr Query kPartitionsArchived{"partitions.archived",
                                           "SELECT to_char(month, 'YYYY_MM') AS month FROM partition_archive "
                                           "WHERE state <> 'restored' ORDER BY month"};
inline constexpr Query kPartitionsMaintainerState{
    "partitions.maintainer_state",
    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM') AS month,"
    " (SELECT extract(epoch FROM now() - max(finished_at))::bigint FROM partition_maintenance_run"
    "  WHERE error IS NULL) AS success_s_ago,"
    " extract(epoch FROM now() - r.finished_at)::bigint AS run_s_ago,"
    " coalesce(r.instance, '') AS run_instance, coalesce(r.error, '') AS run_error"
    " FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT * FROM partition_maintenance_run"
    "  ORDER BY finished_at DESC LIMIT 1) AS r ON true"};

// --- local topology (run as the postgres superuser) ---
inline constexpr Query kRoleExists{"cluster.role_exists", "SELECT 1 FROM pg_roles WHERE rolname = $1"};
inline constexpr Query kDatabaseExists{"cluster.database_exists",
                                       "SELECT 1 FROM pg_database WHERE datname = $1"};
inline constexpr Query kSlotExists{"cluster.slot_exists",
                                   "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1"};
inline constexpr Query kSlotCreate{"cluster.slot_create",
                                   "SELECT pg_create_physical_replication_slot($1, true)"};
inline constexpr Query kReplicationStatus{
    "cluster.replication_status",
    "SELECT application_name, state, sync_state,"
    " coalesce(extract(epoch FROM write_lag) * 1000, 0)::bigint AS write_lag_ms,"
    " coalesce(extract(epoch FROM flush_lag) * 1000, 0)::bigint AS flush_lag_ms,"
    " coalesce(extract(epoch FROM replay_lag) * 1000, 0)::bigint AS replay_lag_ms,"
    " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes"
    " FROM pg_stat_replication ORDER BY application_name"};
inline constexpr Query kNodeRole{
    "cluster.node_role",
    "SELECT pg_is_in_recovery() AS in_recovery, current_setting('server_version') "
    "AS version"};

// --- demo data (make run) ---
inline constexpr Query kTenantInsert{"seed.tenant_insert",
                                     "INSERT INTO tenants (id, name) VALUES ($1::uuid, $2)"};
inline constexpr Query kApiKeyInsert{"seed.api_key_insert",
                                     "INSERT INTO api_keys (id, tenant_id, prefix, key_hash, name, tier)"
                                     " VALUES ($1::uuid, $2::uuid, $3, decode($4, 'hex'), $5, $6)"};

// --- query advisor (RB-8/9/10, docs/runbooks.md) ---
// The statements with the most total execution time in this database on this node (pg_stat_statements; the
// extension must be created and preloaded): $1 how many.
inline constexpr Query kStatementsTop{
    "advisor.statements_top",
    "SELECT s.queryid::text AS queryid, s.calls, s.total_exec_time AS total_ms, s.mean_exec_time AS mean_ms,"
    " s.rows, s.shared_blks_hit AS hit, s.shared_blks_read AS read, s.query"
    " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
    " WHERE d.datname = current_database() AND s.toplevel"
    " ORDER BY s.total_exec_time DESC LIMIT $1::integer"};
// On a replica: whether it replayed the WAL up to $1 (a pg_lsn); always true on a primary.
inline constexpr Query kReplayedUpTo{"advisor.replayed_up_to",
                                     "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, true) AS done"};
inline constexpr Query kStatementsReset{"advisor.statements_reset", "SELECT pg_stat_statements_reset()"};

// --- indexes (ywctl index advise / create / check, RB-9) ---
// The table a relation belongs to for indexing: the root of its partition tree, or itself. NULL when $1 names
// no table.
inline constexpr Query kIndexTableRoot{
    "index.table_root",
    "SELECT c.oid::regclass::text AS name, r.oid::regclass::text AS root, r.relkind::text AS root_kind"
    " FROM pg_class c JOIN pg_class r ON r.oid = coalesce(pg_partition_root(c.oid), c.oid)"
    " WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')"};
// The leaf partitions of $1 (a partitioned table), by name; none for a plain table.
inline constexpr Query kIndexPartitions{
    "index.partitions",
    "SELECT t.relid::regclass::text AS name FROM pg_partition_tree(to_regclass($1)) t"
    " WHERE t.isleaf AND t.level > 0 ORDER BY 1"};
// The columns of table $1 (not dropped, not system).
inline constexpr Query kIndexColumns{
    "index.columns",
    "SELECT a.attname AS name FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0"
    " AND NOT a.attisdropped ORDER BY a.attnum"};
// The indexes on table $1 itself: their columns in order (expressions left out), validity and definition.
inline constexpr Query kIndexesOfTable{
    "index.of_table",
    "SELECT i.indexrelid::regclass::text AS name, i.indisvalid AS valid, i.indpred IS NOT NULL AS partial,"
    " array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)"
    "   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS "
    "columns,"
    " pg_get_indexdef(i.indexrelid) AS definition"
    " FROM pg_index i WHERE i.indrelid = to_regclass($1) ORDER BY 1"};
// Whether a relation named $1 exists (an index name must be free).
inline constexpr Query kIndexRelationExists{"index.relation_exists",
                                            "SELECT to_regclass($1) IS NOT NULL AS exists"};
// Whether index $1 is valid (NULL: there is no such index).
inline constexpr Query kIndexIsValid{
    "index.is_valid", "SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass($1)"};
inline constexpr Query kHypopgInstalled{"index.hypopg_installed",
                                        "SELECT count(*) AS n FROM pg_extension WHERE extname = 'hypopg'"};
// A hypothetical index ($1: its CREATE INDEX statement, built with quoted identifiers), for this session
// only.
inline constexpr Query kHypopgCreate{"index.hypopg_create",
                                     "SELECT indexrelid::text AS oid FROM hypopg_create_index($1)"};
inline constexpr Query kHypopgReset{"index.hypopg_reset", "SELECT hypopg_reset()"};
inline constexpr Query kBackendPid{"index.backend_pid", "SELECT pg_backend_pid() AS pid"};
// The progress of a CREATE INDEX in backend $1 (pg_stat_progress_create_index): phase, blocks and tuples.
inline constexpr Query kIndexProgress{
    "index.progress",
    "SELECT phase, blocks_total, blocks_done, tuples_total, tuples_done FROM pg_stat_progress_create_index"
    " WHERE pid = $1::integer"};
// Every index of the database's own schemas with what `ywctl index check` judges: validity, its size, its
// scans on this node since the statistics were reset, whether it enforces something, its identity for
// duplicates (table, keys, operator classes, expressions, predicate) and its partitioned parent index.
inline constexpr Query kIndexInventory{
    "index.inventory",
    "SELECT i.indexrelid::regclass::text AS name, i.indrelid::regclass::text AS table_name,"
    " i.indisvalid AS valid, (i.indisunique OR i.indisprimary) AS enforces,"
    " pg_relation_size(i.indexrelid) AS bytes, coalesce(s.idx_scan, 0) AS scans,"
    " ci.relkind::text AS kind,"
    " concat_ws('|', i.indrelid::text, i.indkey::text, i.indclass::text,"
    "   coalesce(pg_get_expr(i.indexprs, i.indrelid), ''), coalesce(pg_get_expr(i.indpred, i.indrelid), ''))"
    "   AS identity,"
    " (SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) AS parent"
    " FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace n ON n.oid = "
    "ci.relnamespace"
    " LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid"
    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
    " ORDER BY 1"};

}  // namespace yw::pg::queries
