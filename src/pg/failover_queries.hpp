// The named SQL of failover, switchover, rejoin and the failover drill (RB-2, RB-4).
#pragma once

#include "pg/queries.hpp"

namespace yw::pg::queries {

// Run as the superuser on the nodes directly. Part of the query registry (pg/queries.hpp).

// Ends recovery and waits for it (up to $1 seconds): the SQL twin of `pg_ctl promote`, usable remotely.
inline constexpr Query kPromote{"failover.promote", "SELECT pg_promote(true, $1::integer) AS promoted"};
inline constexpr Query kInRecovery{"failover.in_recovery", "SELECT pg_is_in_recovery() AS in_recovery"};
inline constexpr Query kSlotEnsure{
    "failover.slot_ensure",
    "SELECT pg_create_physical_replication_slot($1, true)"
    " WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)"};
// pg_rewind reads the source's timeline from its control file, which a recently promoted primary only updates
// at its first checkpoint (pg_rewind's documentation): force it.
inline constexpr Query kCheckpoint{"failover.checkpoint", "CHECKPOINT"};
inline constexpr Query kReloadConf{"failover.reload_conf", "SELECT pg_reload_conf()"};
inline constexpr Query kStreamingStandbys{
    "failover.streaming_standbys",
    "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY application_name"};
// The drill's verification: which of the acknowledged message ids the (new) primary holds.
inline constexpr Query kMessagesPresent{
    "drill.messages_present",
    "SELECT count(*) AS present FROM conversation_message WHERE id = ANY($1::uuid[])"};
inline constexpr Query kMessagesMissing{
    "drill.messages_missing",
    "SELECT a.id::text AS id FROM unnest($1::uuid[]) AS a(id)"
    " WHERE NOT EXISTS (SELECT 1 FROM conversation_message m WHERE m.id = a.id) LIMIT 20"};

}  // namespace yw::pg::queries
