// The named SQL of ywctl's replica, pool and emergency runbooks (RB-1, RB-3, RB-7, RB-20 … RB-22).
#pragma once

#include "pg/queries.hpp"

namespace yw::pg::queries {

// Run as a superuser on a node. Part of the query registry; every value is a parameter.

// What ywctl reads of a node beyond the router's topology probe (kTopologyProbe, which node::probe runs first
// for the role, WAL positions, replay age and a paused replay): settings only a superuser may read.
inline constexpr Query kNodeSettings{"replication.node_settings",
                                     "SELECT current_setting('server_version') AS version,"
                                     " (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status,"
                                     " current_setting('synchronous_standby_names') AS sync_names,"
                                     " current_setting('primary_conninfo') AS primary_conninfo"};

// The primary's view of each walsender (RB-1's pg_stat_replication), with the slot it streams from. Lags are
// NULL when PostgreSQL has no recent measurement (an idle, caught-up standby).
inline constexpr Query kReplicationDetail{
    "replication.detail",
    "SELECT r.application_name, r.state, r.sync_state, s.slot_name,"
    " pg_current_wal_lsn()::text AS current_lsn, r.sent_lsn::text AS sent_lsn,"
    " r.write_lsn::text AS write_lsn, r.flush_lsn::text AS flush_lsn, r.replay_lsn::text AS replay_lsn,"
    " (extract(epoch FROM r.write_lag) * 1000)::bigint AS write_lag_ms,"
    " (extract(epoch FROM r.flush_lag) * 1000)::bigint AS flush_lag_ms,"
    " (extract(epoch FROM r.replay_lag) * 1000)::bigint AS replay_lag_ms"
    " FROM pg_stat_replication r LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid"
    " ORDER BY r.application_name"};

inline constexpr Query kReplicationSlots{
    "replication.slots",
    "SELECT slot_name, slot_type, active, coalesce(wal_status, '') AS wal_status,"
    " restart_lsn::text AS restart_lsn FROM pg_replication_slots ORDER BY slot_name"};
inline constexpr Query kSlotActive{"replication.slot_active",
                                   "SELECT active FROM pg_replication_slots WHERE slot_name = $1"};
inline constexpr Query kSlotDrop{"replication.slot_drop", "SELECT pg_drop_replication_slot($1)"};

// How many server connections a PgBouncer pool may open before PostgreSQL refuses them (RB-6).
inline constexpr Query kConnectionLimits{
    "replication.connection_limits",
    "SELECT current_setting('max_connections')::int AS max_connections,"
    " current_setting('superuser_reserved_connections')::int AS reserved"};

// RB-7 / RB-21: client backends busy (or holding a transaction open) for longer than $1 seconds, oldest
// first. A session idle in transaction holds its PgBouncer server connection: the leak of transaction
// pooling.
inline constexpr Query kLongRunning{
    "activity.long_running",
    "SELECT pid, usename, datname, coalesce(application_name, '') AS application_name,"
    " coalesce(client_addr::text, '') AS client_addr, state,"
    " (extract(epoch FROM now() - coalesce(xact_start, query_start)) * 1000)::bigint AS duration_ms,"
    " left(query, 200) AS query"
    " FROM pg_stat_activity"
    " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'"
    " AND coalesce(xact_start, query_start) < now() - make_interval(secs => $1::float8)"
    " ORDER BY duration_ms DESC LIMIT $2::int"};
inline constexpr Query kBackend{
    "activity.backend",
    "SELECT pid, usename, datname, coalesce(state, '') AS state, backend_type,"
    " coalesce((extract(epoch FROM now() - coalesce(xact_start, query_start)) * 1000)::bigint, 0)"
    " AS duration_ms, left(query, 200) AS query"
    " FROM pg_stat_activity WHERE pid = $1::int"};
inline constexpr Query kTerminate{"activity.terminate", "SELECT pg_terminate_backend($1::int) AS terminated"};

}  // namespace yw::pg::queries
