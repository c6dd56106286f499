-- latest50_window.sql: latest50.sql with a lower bound on created_at given as a parameter (-D since=TIMESTAMP, set
-- by run.sh from BENCH_PG_WINDOW_DAYS). A parameter, not now() - interval: planned with its value (-M extended),
-- the planner prunes the partitions older than the window at plan time, so planning touches a few partitions, not
-- 27. It answers fewer than 50 rows for conversations with few recent messages, which a server would then have to
-- complete with a second query: this measures the cost of the windowed query alone. Same mix as latest50.sql.
\set r random(1, 100)
\set n random(1, :nconv)
\set n CASE WHEN :r <= :hot_pct THEN random(1, :nhot) ELSE :n END
\set lim 50
SELECT id, conversation_id, direction, channel, content, delivery_status, created_at
FROM conversation_message
WHERE conversation_id = (SELECT id FROM bench_conversations WHERE n = :n) AND tenant_id = :tenant
  AND deleted_at IS NULL AND created_at >= :since
ORDER BY created_at DESC, id DESC
LIMIT :lim;
