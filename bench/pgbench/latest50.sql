-- latest50.sql: pgbench script for the hottest query, GET /v1/conversations/{id}/messages?limit=50 (first page),
-- with the same SQL text the server runs and the same conversation mix as bench/wrk/latest50.lua:
-- with probability :hot_pct/100 one of the hottest 1 % of conversations (heat rank 1..100), otherwise any of
-- the conversations of heat rank :lo..:nconv uniformly (the long-tail mix: -D hot_pct=0 -D lo=<first quiet rank>;
-- bench_conversations numbers them by message count, decreasing, so the quiet ones are the ranks from there up). bench_conversations (bench/load.sql) maps the rank n to the id inside the
-- same statement (an InitPlan primary-key lookup, a few microseconds), so each transaction is one round trip.
-- Variables from the command line: -D tenant=UUID -D hot_pct=50 -D lo=1 -D nconv=10000 -D nhot=100.
\set r random(1, 100)
\set n random(:lo, :nconv)
\set n CASE WHEN :r <= :hot_pct THEN random(1, :nhot) ELSE :n END
\set lim 50
SELECT id, conversation_id, direction, channel, content, delivery_status, created_at
FROM conversation_message
WHERE conversation_id = (SELECT id FROM bench_conversations WHERE n = :n) AND tenant_id = :tenant
  AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT :lim;
