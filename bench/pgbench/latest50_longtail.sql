-- latest50_longtail.sql: latest50.sql's SQL for the long-tail mix (wrk: bench/wrk/latest50.lua, BENCH_HOT_PCT=0): uniformly
-- one of the quiet conversations, heat ranks :lt_lo..:nconv (bench_conversations numbers them by message count,
-- decreasing, so the conversations with less than one message a day are the ranks from :lt_lo up; run.sh computes
-- it). Variables: -D tenant=UUID -D lt_lo=N -D nconv=10000.
\set n random(:lt_lo, :nconv)
\set lim 50
SELECT id, conversation_id, direction, channel, content, delivery_status, created_at
FROM conversation_message
WHERE conversation_id = (SELECT id FROM bench_conversations WHERE n = :n) AND tenant_id = :tenant
  AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT :lim;
