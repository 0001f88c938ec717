-- Replicas on one PostgreSQL (api/cluster.rs). Runtime state only: `homewatch copy` leaves these tables out.
-- Times are milliseconds since the Unix epoch, read off PostgreSQL's clock, so replicas agree on them.

-- One row per running replica: its heartbeat, and from when until when it takes part in checking.
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    active_from BIGINT NOT NULL,
    active_until BIGINT
);

-- What one replica tells the others: check results and state changes, configuration changes, push calls.
-- Kept a minute; NOTIFY homewatch_events wakes the readers, who also poll.
CREATE TABLE cluster_events (
    id BIGSERIAL PRIMARY KEY,
    origin TEXT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX cluster_events_at ON cluster_events (at);

-- The login limiter's backoff, shared by every replica (keys are hashes of an address, or address and name).
CREATE TABLE login_backoff (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    blocked_until BIGINT,
    verifying_until BIGINT,
    seen_at BIGINT NOT NULL
);

-- First-run setup tokens (hashes) printed by any replica; each works on every replica until a user exists.
CREATE TABLE setup_tokens (
    hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
