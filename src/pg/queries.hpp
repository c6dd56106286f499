// The registry of every SQL text the programs run, each with a name that metrics, logs and timeouts use.
#pragma once

#include <string_view>

namespace yw::pg {

struct Query {
    std::string_view name;  // "area.action": the label in logs and query metrics
    std::string_view sql;   // parameters as $1, $2, …; sent as an unnamed statement
    // Read-your-writes: reads wait for replicas to replay the last write of the same scope. The scope is the
    // tenant id, for statements where parameter `tenant_param` (0-based) is one, else `scope` (a fixed name,
    // e.g. "api_keys": an admin's key change is seen by the next authentication), else none.
    int tenant_param = -1;
    std::string_view scope = {};
};

namespace queries {

// --- server ---

inline constexpr Query kHealthPing{"health.ping", "SELECT 1"};

// One node's view of replication, for topology discovery (src/pg/topology.cpp) and ywctl's RB-1 check
// (src/ops/replication.cpp). The CASEs keep functions that fail on a standby (pg_current_wal_lsn,
// pg_walfile_name) or on a primary (pg_is_wal_replay_paused) off it.
inline constexpr Query kTopologyProbe{
    "topology.probe",
    "SELECT pg_is_in_recovery() AS in_recovery,"
    " CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,"
    " pg_last_wal_receive_lsn()::text AS receive_lsn,"
    " pg_last_wal_replay_lsn()::text AS replay_lsn,"
    " (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::int8 AS "
    "replay_age_ms,"
    " CASE WHEN pg_is_in_recovery() THEN NULL"
    " ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END AS timeline,"
    " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS replay_paused"};
// The primary's write position right after a tenant's write committed: its reads wait for replicas to pass
// it.
inline constexpr Query kCurrentWalLsn{"topology.current_lsn", "SELECT pg_current_wal_lsn()::text"};

// --- messaging ---
// Timestamps leave the database as Unix microseconds (exact, and a cursor's natural form); the API renders
// them as RFC 3339. Every tenant statement carries the tenant id: another tenant's rows never match.
#define YW_US(col) "(extract(epoch FROM " col ") * 1000000)::int8"
#define YW_KEY_COLS                                                                                       \
    "id, tenant_id, prefix, name, tier, burst_size, whitelist_ips::text[] AS whitelist_ips, blocked, "    \
    "block_reason, " YW_US("created_at") " AS created_us, " YW_US("updated_at") " AS updated_us, " YW_US( \
        "last_used_at") " AS last_used_us"
#define YW_USER_COLS \
    "id, name, phone, email, " YW_US("created_at") " AS created_us, " YW_US("updated_at") " AS updated_us"
#define YW_CONVERSATION_COLS                                                                 \
    "id, user_id, status, subject, " YW_US("last_message_at") " AS last_message_us, " YW_US( \
        "created_at") " AS created_us, " YW_US("updated_at") " AS updated_us"
#define YW_MESSAGE_COLS \
    "id, conversation_id, direction, channel, content, delivery_status, " YW_US("created_at") " AS " \
                                                                                              "created_us"

inline constexpr Query kTenantCreate{
    "tenants.create", "INSERT INTO tenants (id, name) VALUES ($1::uuid, $2) RETURNING id, name, " YW_US(
                          "created_at") " AS created_us"};

inline constexpr Query kApiKeyCreate{
    "api_keys.create",
    "INSERT INTO api_keys (id, tenant_id, prefix, key_hash, name, tier)"
    " SELECT $1::uuid, t.id, $3, decode($4, 'hex'), $5, $6 FROM tenants t WHERE t.id = $2::uuid"
    " RETURNING " YW_KEY_COLS,
    -1, "api_keys"};
inline constexpr Query kApiKeyByPrefix{
    "api_keys.by_prefix", "SELECT " YW_KEY_COLS " FROM api_keys WHERE prefix = $1", -1, "api_keys"};
// PATCH: each field is ($flag, $value); a false flag keeps the column.
inline constexpr Query kApiKeyPatch{
    "api_keys.patch",
    "UPDATE api_keys SET"
    " tier = CASE WHEN $2::bool THEN $3 ELSE tier END,"
    " burst_size = CASE WHEN $4::bool THEN $5::int ELSE burst_size END,"
    " whitelist_ips = CASE WHEN $6::bool THEN $7::inet[] ELSE whitelist_ips END,"
    " blocked = CASE WHEN $8::bool THEN $9::bool ELSE blocked END,"
    " block_reason = CASE WHEN $10::bool THEN $11 ELSE block_reason END,"
    " updated_at = now()"
    " WHERE prefix = $1 RETURNING " YW_KEY_COLS,
    -1, "api_keys"};
inline constexpr Query kApiKeyAuthenticate{
    "api_keys.authenticate",
    "SELECT id, tenant_id, prefix, tier, burst_size, whitelist_ips::text[] AS whitelist_ips, blocked,"
    " block_reason, encode(key_hash, 'hex') AS key_hash FROM api_keys"
    " WHERE key_hash = decode($1, 'hex') AND revoked_at IS NULL",
    -1, "api_keys"};

inline constexpr Query kUserCreate{"users.create",
                                   "INSERT INTO users (id, tenant_id, name, phone, email)"
                                   " VALUES ($1::uuid, $2::uuid, $3, $4, $5) RETURNING " YW_USER_COLS,
                                   1};
inline constexpr Query kUserGet{"users.get",
                                "SELECT " YW_USER_COLS
                                " FROM users WHERE id = $1::uuid AND tenant_id = $2::uuid"
                                " AND deleted_at IS NULL",
                                1};
inline constexpr Query kUserList{"users.list",
                                 "SELECT " YW_USER_COLS
                                 " FROM users WHERE tenant_id = $1::uuid AND deleted_at IS NULL"
                                 " AND id > $2::uuid ORDER BY id LIMIT $3::int",
                                 0};
inline constexpr Query kUserPatch{"users.patch",
                                  "UPDATE users SET"
                                  " name = CASE WHEN $3::bool THEN $4 ELSE name END,"
                                  " phone = CASE WHEN $5::bool THEN $6 ELSE phone END,"
                                  " email = CASE WHEN $7::bool THEN $8 ELSE email END,"
                                  " updated_at = now()"
                                  " WHERE id = $1::uuid AND tenant_id = $2::uuid AND deleted_at IS NULL"
                                  " RETURNING " YW_USER_COLS,
                                  1};
inline constexpr Query kUserDelete{"users.delete",
                                   "UPDATE users SET deleted_at = now(), updated_at = now()"
                                   " WHERE id = $1::uuid AND tenant_id = $2::uuid AND deleted_at IS NULL",
                                   1};

inline constexpr Query kConversationCreate{
    "conversations.create",
    "INSERT INTO conversations (id, tenant_id, user_id, status, subject)"
    " SELECT $1::uuid, u.tenant_id, u.id, $4, $5 FROM users u"
    " WHERE u.id = $3::uuid AND u.tenant_id = $2::uuid AND u.deleted_at IS NULL"
    " RETURNING " YW_CONVERSATION_COLS,
    1};
inline constexpr Query kConversationGet{
    "conversations.get",
    "SELECT " YW_CONVERSATION_COLS " FROM conversations WHERE id = $1::uuid AND tenant_id = $2::uuid", 1};
inline constexpr Query kConversationList{
    "conversations.list",
    "SELECT " YW_CONVERSATION_COLS
    " FROM conversations WHERE tenant_id = $1::uuid"
    " AND ($2::text IS NULL OR status = $2) AND id > $3::uuid ORDER BY id LIMIT $4::int",
    0};
inline constexpr Query kConversationPatch{"conversations.patch",
                                          "UPDATE conversations SET"
                                          " status = CASE WHEN $3::bool THEN $4 ELSE status END,"
                                          " subject = CASE WHEN $5::bool THEN $6 ELSE subject END,"
                                          " updated_at = now()"
                                          " WHERE id = $1::uuid AND tenant_id = $2::uuid"
                                          " RETURNING " YW_CONVERSATION_COLS,
                                          1};

// One statement, so the message and the conversation's last_message_at move together; no conversation (or
// another tenant's) → no row.
inline constexpr Query kMessageCreate{"messages.create",
                                      "WITH conv AS (UPDATE conversations SET last_message_at = "
                                      "greatest(last_message_at, now()), updated_at = now()"
                                      " WHERE id = $2::uuid AND tenant_id = $3::uuid RETURNING id, tenant_id)"
                                      " INSERT INTO conversation_message (id, tenant_id, conversation_id, "
                                      "direction, channel, content, delivery_status)"
                                      " SELECT $1::uuid, conv.tenant_id, conv.id, $4, $5, $6,"
                                      " CASE WHEN $4 = 'inbound' THEN 'received' ELSE 'queued' END FROM conv"
                                      " RETURNING " YW_MESSAGE_COLS,
                                      2};
// The hot path (RB-8/9/10): newest first, keyset on (created_at, id). A first page is one statement:
// messages.latest when the service knows nothing of the conversation (its generic plan is an ordered Append
// that scans the partitions newest first and stops at `limit` rows), messages.recent when it knows how far
// back the last full page reached ($4, messaging::PageFloors: a parameter, so the plan prunes to the
// partitions from there on). messages.before continues below a cursor; `created_at <= $4` repeats what the
// row comparison implies, because partition pruning cannot read a row comparison: without it every partition
// newer than the cursor is scanned too.
inline constexpr Query kMessagesLatest{
    "messages.latest",
    "SELECT " YW_MESSAGE_COLS
    " FROM conversation_message"
    " WHERE conversation_id = $1::uuid AND tenant_id = $2::uuid AND deleted_at IS NULL"
    " ORDER BY created_at DESC, id DESC LIMIT $3::int",
    1};
inline constexpr Query kMessagesRecent{
    "messages.recent",
    "SELECT " YW_MESSAGE_COLS
    " FROM conversation_message"
    " WHERE conversation_id = $1::uuid AND tenant_id = $2::uuid AND deleted_at IS NULL"
    " AND created_at >= $4::timestamptz"
    " ORDER BY created_at DESC, id DESC LIMIT $3::int",
    1};
inline constexpr Query kMessagesBefore{
    "messages.before",
    "SELECT " YW_MESSAGE_COLS
    " FROM conversation_message"
    " WHERE conversation_id = $1::uuid AND tenant_id = $2::uuid AND deleted_at IS NULL"
    " AND created_at <= $4::timestamptz AND (created_at, id) < ($4::timestamptz, $5::uuid)"
    " ORDER BY created_at DESC, id DESC LIMIT $3::int",
    1};
inline constexpr Query kConversationExists{
    "conversations.exists", "SELECT 1 FROM conversations WHERE id = $1::uuid AND tenant_id = $2::uuid", 1};
// The id is a UUIDv7: its timestamp ($4) bounds created_at to a day either side, pruning to one or two
// partitions instead of probing every partition's primary key.
inline constexpr Query kMessageDelete{
    "messages.delete",
    "UPDATE conversation_message SET deleted_at = now()"
    " WHERE id = $1::uuid AND conversation_id = $2::uuid AND tenant_id = $3::uuid AND deleted_at IS NULL"
    " AND created_at BETWEEN $4::timestamptz - interval '1 day' AND $4::timestamptz + interval '1 day'",
    2};

// --- cache warming (CACHE_WARMING_ENABLED) ---
// The most recently active conversations of every tenant, and their users: what clients read next.
inline constexpr Query kCacheHotConversations{"cache.hot_conversations",
                                              "SELECT tenant_id, " YW_CONVERSATION_COLS
                                              " FROM conversations WHERE last_message_at IS NOT NULL"
                                              " ORDER BY last_message_at DESC LIMIT $1::int"};
inline constexpr Query kCacheHotUsers{"cache.hot_users",
                                      "SELECT tenant_id, " YW_USER_COLS
                                      " FROM users WHERE deleted_at IS NULL AND id IN (SELECT user_id FROM"
                                      " conversations WHERE last_message_at IS NOT NULL"
                                      " ORDER BY last_message_at DESC LIMIT $1::int)"};

// --- audit ---
// One statement per batch whatever its size: columns travel as arrays.
inline constexpr Query kAuditInsert{
    "audit.insert",
    "INSERT INTO api_audit_log (api_key_prefix, tenant_id, client_ip, method, route, status, duration_ms,"
    " request_id, created_at)"
    " SELECT * FROM unnest($1::text[], $2::uuid[], $3::inet[], $4::text[], $5::text[], $6::int2[], "
    "$7::real[],"
    " $8::text[], $9::timestamptz[])"};

// Every statement above: `ywctl query top` names them in pg_stat_statements (RB-8's names). A unit test
// checks that none is missing.
inline constexpr const Query* kServerQueries[] = {
    &kHealthPing,        &kTopologyProbe,
    &kCurrentWalLsn,     &kTenantCreate,
    &kApiKeyCreate,      &kApiKeyByPrefix,
    &kApiKeyPatch,       &kApiKeyAuthenticate,
    &kUserCreate,        &kUserGet,
    &kUserList,          &kUserPatch,
    &kUserDelete,        &kConversationCreate,
    &kConversationGet,   &kConversationList,
    &kConversationPatch, &kMessageCreate,
    &kMessagesLatest,    &kMessagesRecent,
    &kMessagesBefore,    &kConversationExists,
    &kMessageDelete,     &kCacheHotConversations,
    &kCacheHotUsers,     &kAuditInsert,
};

#undef YW_MESSAGE_COLS
#undef YW_CONVERSATION_COLS
#undef YW_USER_COLS
#undef YW_KEY_COLS
#undef YW_US

}  // namespace queries
}  // namespace yw::pg
