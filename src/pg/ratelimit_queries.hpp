// SQL of the rate-limit admin service (RB-14/15/16): key lookup, whitelist, and the audit-log analytics.
#pragma once

#include "pg/queries.hpp"

namespace yw::pg::ratelimit_queries {

// $1 display prefix, $2 SHA-256 hex of a full key ('' when a prefix was given): a full key must match by
// hash.
inline constexpr Query kKeyLookup{
    "ratelimit.key_lookup",
    "SELECT id, prefix, tier, burst_size, whitelist_ips::text[] AS whitelist_ips, blocked, block_reason"
    " FROM api_keys WHERE ($2 = '' AND prefix = $1) OR ($2 <> '' AND key_hash = decode($2, 'hex'))"};

// RB-16 4a: append an address or network once.
inline constexpr Query kWhitelistAdd{
    "ratelimit.whitelist_add",
    "UPDATE api_keys SET whitelist_ips = CASE WHEN $2::inet = ANY (whitelist_ips) THEN whitelist_ips"
    " ELSE array_append(whitelist_ips, $2::inet) END, updated_at = now()"
    " WHERE id = $1::uuid RETURNING prefix, whitelist_ips::text[] AS whitelist_ips"};

inline constexpr Query kKeysByIds{
    "ratelimit.keys_by_ids", "SELECT id, prefix, tier, burst_size FROM api_keys WHERE id = ANY ($1::uuid[])"};

// Requests each key made in the last minute (the audit log is written within a second or so).
inline constexpr Query kRecentUsage{
    "ratelimit.recent_usage",
    "SELECT a.api_key_prefix AS prefix, k.tier, k.burst_size, count(*) AS requests"
    " FROM api_audit_log a JOIN api_keys k ON k.prefix = a.api_key_prefix"
    " WHERE a.created_at > now() - interval '1 minute' AND a.status <> 429"
    " GROUP BY 1, 2, 3 ORDER BY requests DESC LIMIT 500"};

// Client addresses that used more than one key in the last hour.
inline constexpr Query kSharedIps{
    "ratelimit.shared_ips",
    "SELECT host(client_ip) AS ip, count(DISTINCT api_key_prefix) AS keys,"
    " array_agg(DISTINCT api_key_prefix)::text[] AS prefixes, count(*) AS requests"
    " FROM api_audit_log WHERE created_at > now() - interval '1 hour'"
    " AND client_ip IS NOT NULL AND api_key_prefix IS NOT NULL"
    " GROUP BY client_ip HAVING count(DISTINCT api_key_prefix) > 1"
    " ORDER BY keys DESC, requests DESC LIMIT 20"};

// Each key's busiest second in the last hour.
inline constexpr Query kPeakSeconds{
    "ratelimit.peak_seconds",
    "WITH s AS (SELECT api_key_prefix AS prefix, date_trunc('second', created_at) AS sec, count(*) AS n"
    " FROM api_audit_log WHERE created_at > now() - interval '1 hour' AND api_key_prefix IS NOT NULL"
    " GROUP BY 1, 2)"
    " SELECT s.prefix, k.tier, k.burst_size, max(s.n) AS peak,"
    " (extract(epoch FROM max(s.sec) FILTER (WHERE s.n > 1)) * 1000000)::int8 AS last_us"
    " FROM s JOIN api_keys k ON k.prefix = s.prefix GROUP BY 1, 2, 3 ORDER BY peak DESC LIMIT 200"};

}  // namespace yw::pg::ratelimit_queries
