-- Public faces: status pages (their sections as JSON: groups or tiles in the page's own order), incident
-- posts written by people with their timestamped updates, and tiles whose badges are public.
CREATE TABLE status_pages (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug         TEXT    NOT NULL UNIQUE,
    title        TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    icon         TEXT,
    footer       TEXT    NOT NULL DEFAULT '',
    published    BOOLEAN NOT NULL DEFAULT FALSE,
    domain       TEXT    UNIQUE,
    show_links   BOOLEAN NOT NULL DEFAULT FALSE,
    sections     TEXT    NOT NULL DEFAULT '[]',
    created_at   BIGINT  NOT NULL,            -- unix milliseconds
    updated_at   BIGINT  NOT NULL
);

CREATE TABLE posts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title        TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    services     TEXT    NOT NULL DEFAULT '[]', -- affected tiles, JSON ids
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    resolved_at  BIGINT
);
CREATE INDEX posts_created_idx ON posts (created_at);

CREATE TABLE post_updates (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id      BIGINT  NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    status       TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX post_updates_post_idx ON post_updates (post_id, created_at);

ALTER TABLE services ADD COLUMN badges BOOLEAN NOT NULL DEFAULT FALSE;
