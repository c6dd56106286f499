// The named SQL of /health/detailed's DBA view and of PgBouncer's admin console (RB-5, RB-23).
#pragma once

#include "pg/queries.hpp"

namespace yw::pg::queries {

// Run on the primary by ywmsgd (DATABASE_PRIMARY_URL: the application role sees only its own sessions'
// transaction times unless it has pg_monitor) and by ywctl (DATABASE_ADMIN_URLS: a superuser sees all).

// The oldest database's transaction-ID age (wraparound), the longest open transaction and the longest
// idle-in-transaction session, in one round trip. Ages are seconds; 0 when there is no such session.
inline constexpr Query kHealthActivity{
    "health.activity",
    "SELECT (SELECT datname FROM pg_database ORDER BY age(datfrozenxid) DESC LIMIT 1) AS xid_database,"
    " (SELECT max(age(datfrozenxid)) FROM pg_database)::int8 AS xid_age,"
    " coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8 AS longest_transaction_s,"
    " coalesce(max(extract(epoch FROM clock_timestamp() - state_change))"
    " FILTER (WHERE state LIKE 'idle in transaction%'), 0)::float8 AS longest_idle_in_transaction_s,"
    // WAL archiving (pgBackRest, docs/backup.md): pg_stat_archiver is readable by any role.
    " current_setting('archive_mode') AS archive_mode,"
    " (SELECT failed_count FROM pg_stat_archiver)::int8 AS archive_failed_count,"
    " (SELECT last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > "
    "last_archived_time) FROM pg_stat_archiver) AS archive_failing,"
    " (SELECT extract(epoch FROM now() - last_archived_time)::int8 FROM pg_stat_archiver) AS archived_s_ago"
    " FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"};

// Every replication slot: whether a consumer streams from it and how much WAL it holds back on the primary.
inline constexpr Query kHealthSlots{
    "health.slots",
    "SELECT slot_name, active,"
    " CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN NULL"
    " ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 END AS retained_bytes"
    " FROM pg_replication_slots ORDER BY slot_name"};

// PgBouncer's admin console speaks the simple query protocol only (SyncConnection::simple_query,
// Connection::exec_simple); these are its commands, named like the rest of the registry.
inline constexpr Query kPgBouncerShowPools{"pgbouncer.show_pools", "SHOW POOLS"};
inline constexpr Query kPgBouncerShowConfig{"pgbouncer.show_config", "SHOW CONFIG"};
inline constexpr Query kPgBouncerShowDatabases{"pgbouncer.show_databases", "SHOW DATABASES"};
inline constexpr Query kPgBouncerShowClients{"pgbouncer.show_clients", "SHOW CLIENTS"};
inline constexpr Query kPgBouncerShowServers{"pgbouncer.show_servers", "SHOW SERVERS"};
inline constexpr Query kPgBouncerReload{"pgbouncer.reload", "RELOAD"};

}  // namespace yw::pg::queries
