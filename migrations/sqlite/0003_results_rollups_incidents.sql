-- Check history: raw results (kept a few days), hourly rollups (kept a year), and incidents.
CREATE TABLE check_results (
    service_id   INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    checked_at   INTEGER NOT NULL,            -- unix milliseconds
    ok           INTEGER NOT NULL,
    latency_ms   INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    PRIMARY KEY (service_id, checked_at)
) WITHOUT ROWID;
CREATE INDEX check_results_checked_at_idx ON check_results (checked_at);

-- One row per tile and hour; b0..b15 count latencies per bucket (bounds in api/monitor/rollup.rs), for p95.
CREATE TABLE check_rollups (
    service_id   INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    hour         INTEGER NOT NULL,            -- unix seconds / 3600
    checks       INTEGER NOT NULL,
    ok_checks    INTEGER NOT NULL,
    latency_sum  INTEGER NOT NULL,
    latency_min  INTEGER NOT NULL,
    latency_max  INTEGER NOT NULL,
    b0           INTEGER NOT NULL DEFAULT 0,
    b1           INTEGER NOT NULL DEFAULT 0,
    b2           INTEGER NOT NULL DEFAULT 0,
    b3           INTEGER NOT NULL DEFAULT 0,
    b4           INTEGER NOT NULL DEFAULT 0,
    b5           INTEGER NOT NULL DEFAULT 0,
    b6           INTEGER NOT NULL DEFAULT 0,
    b7           INTEGER NOT NULL DEFAULT 0,
    b8           INTEGER NOT NULL DEFAULT 0,
    b9           INTEGER NOT NULL DEFAULT 0,
    b10          INTEGER NOT NULL DEFAULT 0,
    b11          INTEGER NOT NULL DEFAULT 0,
    b12          INTEGER NOT NULL DEFAULT 0,
    b13          INTEGER NOT NULL DEFAULT 0,
    b14          INTEGER NOT NULL DEFAULT 0,
    b15          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, hour)
) WITHOUT ROWID;
CREATE INDEX check_rollups_hour_idx ON check_rollups (hour);

CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY,
    service_id   INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    started_at   TEXT    NOT NULL,
    ended_at     TEXT,
    cause        TEXT    NOT NULL
);
CREATE INDEX incidents_service_idx ON incidents (service_id, started_at);
CREATE UNIQUE INDEX incidents_one_open_idx ON incidents (service_id) WHERE ended_at IS NULL;
