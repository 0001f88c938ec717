-- What each tile is watched by, and what the engine last saw of it.
ALTER TABLE services ADD COLUMN check_spec TEXT;                       -- JSON of the check; NULL: not watched
ALTER TABLE services ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;     -- 1: checks paused by the owner

CREATE TABLE service_status (
    service_id       INTEGER PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    state            TEXT    NOT NULL,
    since            TEXT,
    last_checked_at  TEXT,
    last_latency_ms  INTEGER,
    last_error       TEXT,
    failures         INTEGER NOT NULL DEFAULT 0   -- failed checks in a row
) WITHOUT ROWID;
