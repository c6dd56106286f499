-- load.sql: the benchmark's data set, set-based, for one tenant that already exists (made through the admin API
-- or `ywctl demo seed`, so its API key is real).
--   psql -h 127.0.0.1 -p PRIMARY -U postgres -d ywmessaging -v ON_ERROR_STOP=1 \
--        -v tenant_id=UUID [-v messages=1050000] [-v zipf_s=0.8] -f bench/load.sql
-- 10 000 users, one conversation each, and about `messages` messages spread uniformly in time over the 24 past
-- monthly partitions and the current month (up to now()). Message counts per conversation follow a Zipf-like
-- law, count(rank) ∝ rank^-s with s = 0.8: the hottest 1 % of conversations hold ~30 % of the messages, the
-- coldest hold a handful (at least 5) spread over two years, so their latest 50 span every partition.
-- bench_conversations(n, id, msg_count) numbers the conversations by heat (n = 1 is the hottest): pgbench and the
-- wrk scripts pick by n, and run.sh dumps it in that order.
\set ON_ERROR_STOP 1
\if :{?messages}
\else
  \set messages 1050000
\endif
\if :{?zipf_s}
\else
  \set zipf_s 0.8
\endif
\timing on
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';

-- Idempotence: a second run replaces the data set of this tenant.
DELETE FROM conversation_message WHERE tenant_id = :'tenant_id';
DELETE FROM conversations WHERE tenant_id = :'tenant_id';
DELETE FROM users WHERE tenant_id = :'tenant_id';
DROP TABLE IF EXISTS bench_conversations, bench_users;

-- Users: n = 1..10000, each with a unique phone and an email.
CREATE TABLE bench_users (n integer PRIMARY KEY, id uuid NOT NULL UNIQUE);
INSERT INTO bench_users (n, id) SELECT g, gen_random_uuid() FROM generate_series(1, 10000) g;
INSERT INTO users (id, tenant_id, name, phone, email, created_at, updated_at)
SELECT u.id, :'tenant_id', 'Member ' || u.n, '+1555' || lpad(u.n::text, 7, '0'),
       'member' || u.n || '@example.org', t, t
FROM bench_users u,
     LATERAL (SELECT now() - interval '25 months' + (u.n * interval '1 hour') AS t) x;

-- Conversations: one per user; heat rank n is a random permutation, so hot ones are scattered over ids.
CREATE TABLE bench_conversations (
    n          integer PRIMARY KEY,     -- heat rank: 1 = most messages
    id         uuid NOT NULL UNIQUE,
    user_id    uuid NOT NULL,
    msg_count  integer NOT NULL
);
WITH ranked AS (
    SELECT row_number() OVER (ORDER BY random()) AS n, u.id AS user_id FROM bench_users u
), norm AS (
    SELECT sum(power(n, -:zipf_s)) AS h FROM ranked
)
INSERT INTO bench_conversations (n, id, user_id, msg_count)
SELECT r.n, gen_random_uuid(), r.user_id,
       greatest(5, round(:messages * power(r.n, -:zipf_s) / norm.h))::integer
FROM ranked r, norm;

INSERT INTO conversations (id, tenant_id, user_id, status, subject, created_at, updated_at)
SELECT c.id, :'tenant_id', c.user_id,
       CASE WHEN c.n % 10 = 0 THEN 'closed' ELSE 'open' END,
       'Conversation ' || c.n, now() - interval '25 months', now() - interval '25 months'
FROM bench_conversations c;

-- Messages: created_at uniform from the first day of the month 24 months back up to now(). Sorted by time so
-- each partition is filled in one stretch. ~1 % are soft-deleted (the partial index skips them).
INSERT INTO conversation_message
    (id, tenant_id, conversation_id, direction, channel, content, delivery_status, created_at, deleted_at)
SELECT gen_random_uuid(), :'tenant_id', m.conversation_id,
       CASE WHEN m.r < 0.45 THEN 'inbound' ELSE 'outbound' END,
       CASE WHEN m.r2 < 0.95 THEN 'sms' ELSE 'mms' END,
       left('Hello from Bench Church! This week: choir practice Thursday 7pm, youth group Friday, '
            'potluck after Sunday service; reply STOP to opt out. ', 20 + (m.r2 * 130)::int),
       CASE WHEN m.r < 0.45 THEN 'received'
            WHEN m.r < 0.95 THEN 'delivered'
            WHEN m.r < 0.98 THEN 'sent' ELSE 'failed' END,
       m.created_at,
       CASE WHEN m.r3 < 0.01 THEN m.created_at + interval '1 hour' END
FROM (
    SELECT c.id AS conversation_id, random() AS r, random() AS r2, random() AS r3,
           w.lo + random() * (w.hi - w.lo) AS created_at
    FROM bench_conversations c
    CROSS JOIN LATERAL generate_series(1, c.msg_count) g
    CROSS JOIN (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                           - interval '24 months' AS lo,
                       now() AS hi) w
    ORDER BY 5
) m;

UPDATE conversations c SET last_message_at = x.last_at, updated_at = x.last_at
FROM (SELECT conversation_id, max(created_at) AS last_at FROM conversation_message
      WHERE tenant_id = :'tenant_id' AND deleted_at IS NULL GROUP BY conversation_id) x
WHERE c.id = x.conversation_id;

GRANT SELECT ON bench_conversations, bench_users TO app_user;
\timing off
VACUUM ANALYZE users;
VACUUM ANALYZE conversations;
VACUUM ANALYZE bench_users;
VACUUM ANALYZE bench_conversations;
VACUUM ANALYZE conversation_message;

SELECT count(*) AS messages,
       (SELECT sum(msg_count) FROM bench_conversations WHERE n <= 100)::numeric
         / (SELECT sum(msg_count) FROM bench_conversations) AS hot_1pct_share,
       (SELECT max(msg_count) FROM bench_conversations) AS max_per_conv,
       (SELECT min(msg_count) FROM bench_conversations) AS min_per_conv
FROM conversation_message WHERE tenant_id = :'tenant_id';
SELECT tableoid::regclass AS partition, count(*) FROM conversation_message GROUP BY 1 ORDER BY 1;
