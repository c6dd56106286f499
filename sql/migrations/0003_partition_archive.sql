-- 0003: archiving old months to S3 and restoring them (RB-18, RB-19; docs/partitions.md "Archive" and
-- "Restore"). `ywctl partitions archive` is a state machine whose memory is this table: every step is recorded
-- before the next one starts, so a run killed anywhere is resumed by the next one, and a month is dropped only
-- once its object in S3 has been read back and checked.

-- One row per month that is, or has been, archived. state:
--   detaching  the row exists; the partition is being detached (DETACH … CONCURRENTLY may be pending)
--   detached   out of the write path: no statement through conversation_message can change it any more
--   uploaded   object and manifest written; checksums and row count recorded below
--   verified   the object was read back from S3 and matched the manifest and count(*) of the table
--   kept       verified, the table kept detached until keep_until (--keep-detached-days)
--   dropped    verified and the table dropped: the month lives only in S3
--   restored   `ywctl partitions restore` loaded it back (attached, or as a separate table)
CREATE TABLE partition_archive (
    month         date PRIMARY KEY CHECK (month = date_trunc('month', month)::date),
    table_name    text NOT NULL,
    state         text NOT NULL
                  CHECK (state IN ('detaching', 'detached', 'uploaded', 'verified', 'kept', 'dropped', 'restored')),
    object_key    text NOT NULL,
    manifest_key  text NOT NULL,
    row_count     bigint,
    table_bytes   bigint,
    csv_bytes     bigint,
    csv_sha256    text,
    gzip_bytes    bigint,
    gzip_sha256   text,
    keep_until    timestamptz,
    restored_as   text,          -- the table a restore loaded (state restored)
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz,
    last_error    text,          -- the last failure of a step, cleared when a step succeeds
    log_line      text           -- the runbook's line: "2024-12-02 15:30: Archived …, freed 150MB"
);

-- Every step and failure of every run, for the operator who asks "what happened to 2023_12?".
CREATE TABLE partition_archive_event (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month   date NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    step    text NOT NULL,
    detail  text NOT NULL DEFAULT ''
);
CREATE INDEX partition_archive_event_month ON partition_archive_event (month, at);

-- Premake never re-creates a month that lives in S3 (an empty partition there would hide the archive, and a
-- restore could no longer attach): ensure_…() skips months archived and not restored.
CREATE OR REPLACE FUNCTION ensure_conversation_message_partitions(months_back integer, months_ahead integer,
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
        IF to_regclass(quote_ident(name)) IS NULL
           AND NOT EXISTS (SELECT 1 FROM partition_archive a WHERE a.month = month_start AND a.state <> 'restored') THEN
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
