-- Public faces: status pages (their sections as JSON: groups or tiles in the page's own order), incident
-- posts written by people with their timestamped updates, and tiles whose badges are public.
CREATE TABLE status_pages (
    id           INTEGER PRIMARY KEY,
    slug         TEXT    NOT NULL UNIQUE,
    title        TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    icon         TEXT,
    footer       TEXT    NOT NULL DEFAULT '',
    published    INTEGER NOT NULL DEFAULT 0,
    domain       TEXT    UNIQUE,
    show_links   INTEGER NOT NULL DEFAULT 0,
    sections     TEXT    NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,            -- unix milliseconds
    updated_at   INTEGER NOT NULL
);

CREATE TABLE posts (
    id           INTEGER PRIMARY KEY,
    title        TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    services     TEXT    NOT NULL DEFAULT '[]', -- affected tiles, JSON ids
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    resolved_at  INTEGER
);
CREATE INDEX posts_created_idx ON posts (created_at);

CREATE TABLE post_updates (
    id           INTEGER PRIMARY KEY,
    post_id      INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    status       TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX post_updates_post_idx ON post_updates (post_id, created_at);

ALTER TABLE services ADD COLUMN badges INTEGER NOT NULL DEFAULT 0;
