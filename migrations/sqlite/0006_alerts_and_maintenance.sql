-- Alerts: channels people are told through, the outbox of notifications with every delivery attempt, and
-- maintenance windows. Times in these tables are unix milliseconds.
CREATE TABLE channels (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    settings        TEXT    NOT NULL,               -- JSON, secrets included: never answered as stored
    all_tiles       INTEGER NOT NULL DEFAULT 0,      -- 1: hears every tile, also those created later
    enabled         INTEGER NOT NULL DEFAULT 1,
    remind_every_s  INTEGER,                         -- NULL: no reminders while a tile stays down
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX channels_name_key ON channels (lower(name));

-- The groups and tiles a channel hears (besides all of them, with all_tiles).
CREATE TABLE channel_targets (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    group_id    INTEGER REFERENCES groups (id) ON DELETE CASCADE,
    service_id  INTEGER REFERENCES services (id) ON DELETE CASCADE,
    CHECK ((group_id IS NULL) <> (service_id IS NULL))
);
CREATE UNIQUE INDEX channel_targets_group_key ON channel_targets (channel_id, group_id) WHERE group_id IS NOT NULL;
CREATE UNIQUE INDEX channel_targets_service_key ON channel_targets (channel_id, service_id) WHERE service_id IS NOT NULL;
CREATE INDEX channel_targets_service_idx ON channel_targets (service_id);
CREATE INDEX channel_targets_group_idx ON channel_targets (group_id);

-- The outbox: written in the same transaction as the state change that causes it, delivered apart from the
-- checks, at least once; the idempotency key lets a receiver drop a repeat.
CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    channel_id       INTEGER REFERENCES channels (id) ON DELETE SET NULL,
    channel_name     TEXT    NOT NULL,
    service_id       INTEGER REFERENCES services (id) ON DELETE SET NULL,
    service_name     TEXT    NOT NULL,
    group_name       TEXT,
    event            TEXT    NOT NULL,               -- down, up, reminder, flapping, maintenance_over
    payload          TEXT    NOT NULL,               -- JSON: what happened (see api/model/alerts.rs)
    created_at       INTEGER NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending',   -- pending, delivered, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    claimed_by       TEXT,
    claimed_until    INTEGER,
    finished_at      INTEGER
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_created_idx ON notifications (created_at, id);
CREATE INDEX notifications_service_idx ON notifications (service_id, created_at);

CREATE TABLE notification_attempts (
    notification_id  INTEGER NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempt          INTEGER NOT NULL,
    at               INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    ok               INTEGER NOT NULL,
    status_code      INTEGER,
    detail           TEXT    NOT NULL,
    PRIMARY KEY (notification_id, attempt)
) WITHOUT ROWID;

-- What people were last told about each tile, so that a restart never tells them again, and whether it is
-- flapping (alerts held until it is stable).
ALTER TABLE service_status ADD COLUMN alerted_state TEXT;
ALTER TABLE service_status ADD COLUMN alerted_since TEXT;
ALTER TABLE service_status ADD COLUMN flapping_since TEXT;
UPDATE service_status SET alerted_state = state, alerted_since = since WHERE state IN ('up', 'down');

-- Results found during a maintenance window are kept but, by default, left out of uptime.
ALTER TABLE check_results ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;

CREATE TABLE maintenance_windows (
    id          INTEGER PRIMARY KEY,
    title       TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,                    -- the first (or only) start
    duration_s  INTEGER NOT NULL,
    rrule       TEXT,                                -- RFC 5545 RRULE; NULL: once
    timezone    TEXT    NOT NULL,                    -- IANA name the rule repeats in
    all_tiles   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE maintenance_targets (
    window_id   INTEGER NOT NULL REFERENCES maintenance_windows (id) ON DELETE CASCADE,
    group_id    INTEGER REFERENCES groups (id) ON DELETE CASCADE,
    service_id  INTEGER REFERENCES services (id) ON DELETE CASCADE,
    CHECK ((group_id IS NULL) <> (service_id IS NULL))
);
CREATE INDEX maintenance_targets_window_idx ON maintenance_targets (window_id);
