-- 0002: the partition maintainer. Every ywmsgd instance calls maintain_conversation_message_partitions() at
-- start and then every YW_PARTITION_MAINTENANCE_INTERVAL_S; one at a time creates the current month and the
-- months ahead, and each run is recorded. Month boundaries are UTC whatever the session's TimeZone
-- (docs/partitions.md).

-- One row per maintainer run that held the lock: when, by whom, what it created, or why it failed.
CREATE TABLE partition_maintenance_run (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    instance      text NOT NULL CHECK (length(instance) BETWEEN 1 AND 200),
    months_ahead  integer,                   -- attached months after the current one, after the run
    created       text[] NOT NULL DEFAULT '{}',
    error         text                       -- NULL: the run succeeded
);
CREATE INDEX partition_maintenance_run_success ON partition_maintenance_run (finished_at) WHERE error IS NULL;
CREATE INDEX partition_maintenance_run_finished ON partition_maintenance_run (finished_at);

-- The month of `as_of` in UTC and `months_ahead` after it, plus `months_back` before it, created where missing,
-- with bounds at UTC midnights. The two-argument form (migration 0001, `ywctl partitions ensure`) is `as_of` now.
CREATE FUNCTION ensure_conversation_message_partitions(months_back integer, months_ahead integer,
                                                       as_of timestamptz)
RETURNS TABLE (partition_name text)
LANGUAGE plpgsql AS $$
DECLARE
    this_month date := date_trunc('month', as_of AT TIME ZONE 'UTC')::date;
    month_start date;
    name text;
BEGIN
    IF months_back NOT BETWEEN 0 AND 600 OR months_ahead NOT BETWEEN 0 AND 120 THEN
        RAISE EXCEPTION 'months_back must be 0..600 and months_ahead 0..120, got % and %', months_back, months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ywmessaging.partitions'));
    FOR i IN -months_back .. months_ahead LOOP
        month_start := (this_month + make_interval(months => i))::date;
        name := 'conversation_message_' || to_char(month_start, 'YYYY_MM');
        IF to_regclass(quote_ident(name)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF conversation_message FOR VALUES FROM (%L) TO (%L)',
                           name,
                           to_char(month_start, 'YYYY-MM-DD') || ' 00:00:00+00',
                           to_char((month_start + interval '1 month')::date, 'YYYY-MM-DD') || ' 00:00:00+00');
            partition_name := name;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION ensure_conversation_message_partitions(months_back integer, months_ahead integer)
RETURNS TABLE (partition_name text)
LANGUAGE sql AS $$
    SELECT partition_name FROM ensure_conversation_message_partitions(months_back, months_ahead, now())
$$;

-- How many consecutive months after the month of `as_of` (UTC) have an attached partition; -1 when that month
-- itself has none (writes of now are failing). A detached table of the right name does not count.
CREATE FUNCTION conversation_message_months_ahead(as_of timestamptz)
RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    this_month date := date_trunc('month', as_of AT TIME ZONE 'UTC')::date;
    n integer := -1;
BEGIN
    WHILE n < 120 AND EXISTS (
        SELECT 1 FROM pg_inherits
        WHERE inhparent = 'conversation_message'::regclass
          AND inhrelid = to_regclass(quote_ident('conversation_message_' ||
                                     to_char(this_month + make_interval(months => n + 1), 'YYYY_MM'))))
    LOOP
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- One maintainer run. Callers take turns: one works while the others wait for it (up to two seconds) and then
-- find nothing left to do, so that every caller answers the state after the work; a caller that waited longer
-- answers ran = false. The lock is transaction-scoped, so it holds through PgBouncer's transaction pooling too.
-- Creating a partition takes a lock on conversation_message that queues behind long statements and blocks the
-- writes queued after it: a one-second lock_timeout bounds that stall of the API, and the retry tries again.
CREATE FUNCTION maintain_conversation_message_partitions(instance text, months_ahead integer,
                                                         as_of timestamptz DEFAULT now())
RETURNS TABLE (ran boolean, created text[], months_ahead_now integer, last_success timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('ywmessaging.partition_maintainer'));
        ran := true;
    EXCEPTION WHEN lock_not_available THEN
        ran := false;
    END;
    created := '{}';
    IF ran THEN
        PERFORM set_config('lock_timeout', '1s', true);
        SELECT coalesce(array_agg(e.partition_name ORDER BY e.partition_name), '{}') INTO created
        FROM ensure_conversation_message_partitions(0, months_ahead, as_of) AS e;
    END IF;
    months_ahead_now := conversation_message_months_ahead(as_of);
    IF ran THEN
        INSERT INTO partition_maintenance_run (started_at, instance, months_ahead, created)
        VALUES (started, instance, months_ahead_now, created);
        -- A quarter of history is plenty to see when and where runs happened.
        DELETE FROM partition_maintenance_run WHERE finished_at < now() - interval '90 days';
    END IF;
    SELECT max(r.finished_at) INTO last_success FROM partition_maintenance_run r WHERE r.error IS NULL;
    RETURN NEXT;
END
$$;
