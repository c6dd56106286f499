-- 0001: the initial schema: tenants, API keys, users, conversations, the monthly-partitioned
-- conversation_message table with its production window, and the audit log.
-- Text columns with CHECK constraints instead of enum types: runbooks update them in plain SQL
-- (RB-15: SET tier = 'professional') and adding a value later needs no ALTER TYPE.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The secret is never stored: only its SHA-256. An operator holding a key finds it with
--   WHERE key_hash = sha256('key_prod_…'::bytea)
-- and `prefix` is what humans, logs and the audit log see.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    prefix        text NOT NULL UNIQUE CHECK (length(prefix) BETWEEN 8 AND 40),
    key_hash      bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    name          text,
    tier          text NOT NULL DEFAULT 'standard'
                  CHECK (tier IN ('free', 'standard', 'professional', 'enterprise')),
    burst_size    integer CHECK (burst_size IS NULL OR burst_size BETWEEN 0 AND 1000000),  -- NULL: the tier's default
    whitelist_ips inet[] NOT NULL DEFAULT '{}',
    blocked       boolean NOT NULL DEFAULT false,
    block_reason  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- The people a church messages.
CREATE TABLE users (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone       text CHECK (phone IS NULL OR phone ~ '^\+?[0-9]{5,20}$'),
    email       text CHECK (email IS NULL OR length(email) <= 320),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
-- Keyset pagination within a tenant, newest id (UUIDv7, time-ordered) first or last.
CREATE INDEX users_tenant_id ON users (tenant_id, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_tenant_phone ON users (tenant_id, phone) WHERE phone IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE conversations (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'archived')),
    subject          text CHECK (subject IS NULL OR length(subject) <= 500),
    last_message_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_tenant_status ON conversations (tenant_id, status, id);
CREATE INDEX conversations_user ON conversations (user_id);

-- One partition a month, conversation_message_YYYY_MM, bounds in UTC. No foreign key to conversations: a
-- partition must be detachable, archivable and restorable on its own (RB-18/RB-19); the service checks the
-- conversation and its tenant in the same transaction as the insert.
CREATE TABLE conversation_message (
    id               uuid NOT NULL,
    tenant_id        uuid NOT NULL,
    conversation_id  uuid NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    channel          text NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'mms')),
    content          text NOT NULL CHECK (length(content) <= 10000),
    delivery_status  text NOT NULL DEFAULT 'queued'
                     CHECK (delivery_status IN ('queued', 'sent', 'delivered', 'failed', 'received')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

-- The hottest query (RB-8/9/10): the latest 50 live messages of a conversation, keyset on (created_at, id).
CREATE INDEX idx_conversation_message_conv_created
    ON conversation_message (conversation_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- Creates the monthly partitions from `months_back` months before the current UTC month to `months_ahead`
-- months after it, skipping those that exist; returns the names it created. Serialised by an advisory lock so
-- concurrent callers (several ywmsgd, cron) cannot collide. Archived months (RB-18) are only re-created if a
-- caller asks for months that far back, which `ywctl partitions ensure` never does.
CREATE FUNCTION ensure_conversation_message_partitions(months_back integer, months_ahead integer)
RETURNS TABLE (partition_name text)
LANGUAGE plpgsql AS $$
DECLARE
    this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    month_start date;
    name text;
BEGIN
    IF months_back NOT BETWEEN 0 AND 600 OR months_ahead NOT BETWEEN 0 AND 120 THEN
        RAISE EXCEPTION 'months_back must be 0..600 and months_ahead 0..120, got % and %', months_back, months_ahead
            USING ERRCODE = 'invalid_parameter_value';
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

-- The production window: the previous 24 months and the next 2.
SELECT ensure_conversation_message_partitions(24, 2);

-- One row per authenticated request, written in batches off the request path. `api_key_prefix` is the key's
-- display prefix, never the secret (RB-16's `WHERE api_key = …` becomes `WHERE api_key_prefix = …`).
CREATE TABLE api_audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    api_key_prefix  text,
    tenant_id       uuid,
    client_ip       inet,
    method          text NOT NULL,
    route           text NOT NULL,
    status          smallint NOT NULL,
    duration_ms     real NOT NULL,
    request_id      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_audit_log_key_time ON api_audit_log (api_key_prefix, created_at DESC);
CREATE INDEX api_audit_log_ip_time ON api_audit_log (client_ip, created_at DESC);
CREATE INDEX api_audit_log_time ON api_audit_log USING brin (created_at);
