-- Check history: raw results (kept a few days), hourly rollups (kept a year), and incidents.
CREATE TABLE check_results (
    service_id   BIGINT   NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    checked_at   BIGINT   NOT NULL,           -- unix milliseconds
    ok           BOOLEAN  NOT NULL,
    latency_ms   INTEGER  NOT NULL,
    status_code  SMALLINT,
    error        TEXT,
    PRIMARY KEY (service_id, checked_at)
);
CREATE INDEX check_results_checked_at_idx ON check_results (checked_at);

-- One row per tile and hour; b0..b15 count latencies per bucket (bounds in api/monitor/rollup.rs), for p95.
CREATE TABLE check_rollups (
    service_id   BIGINT   NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    hour         BIGINT   NOT NULL,           -- unix seconds / 3600
    checks       BIGINT   NOT NULL,
    ok_checks    BIGINT   NOT NULL,
    latency_sum  BIGINT   NOT NULL,
    latency_min  BIGINT   NOT NULL,
    latency_max  BIGINT   NOT NULL,
    b0           BIGINT  NOT NULL DEFAULT 0,
    b1           BIGINT  NOT NULL DEFAULT 0,
    b2           BIGINT  NOT NULL DEFAULT 0,
    b3           BIGINT  NOT NULL DEFAULT 0,
    b4           BIGINT  NOT NULL DEFAULT 0,
    b5           BIGINT  NOT NULL DEFAULT 0,
    b6           BIGINT  NOT NULL DEFAULT 0,
    b7           BIGINT  NOT NULL DEFAULT 0,
    b8           BIGINT  NOT NULL DEFAULT 0,
    b9           BIGINT  NOT NULL DEFAULT 0,
    b10          BIGINT  NOT NULL DEFAULT 0,
    b11          BIGINT  NOT NULL DEFAULT 0,
    b12          BIGINT  NOT NULL DEFAULT 0,
    b13          BIGINT  NOT NULL DEFAULT 0,
    b14          BIGINT  NOT NULL DEFAULT 0,
    b15          BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, hour)
);
CREATE INDEX check_rollups_hour_idx ON check_rollups (hour);

CREATE TABLE incidents (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id   BIGINT      NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    started_at   TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ,
    cause        TEXT        NOT NULL
);
CREATE INDEX incidents_service_idx ON incidents (service_id, started_at);
CREATE UNIQUE INDEX incidents_one_open_idx ON incidents (service_id) WHERE ended_at IS NULL;
