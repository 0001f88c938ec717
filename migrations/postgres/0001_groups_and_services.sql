-- Groups and service tiles: the dashboard's data.
CREATE TABLE groups (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT        NOT NULL,
    position    BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX groups_name_key ON groups (lower(name));
CREATE INDEX groups_position_idx ON groups (position, id);

CREATE TABLE services (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id    BIGINT      NOT NULL REFERENCES groups (id) ON DELETE RESTRICT,
    name        TEXT        NOT NULL,
    url         TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    icon        TEXT,
    position    BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX services_group_name_key ON services (group_id, lower(name));
CREATE INDEX services_group_position_idx ON services (group_id, position, id);

CREATE TABLE service_tags (
    service_id  BIGINT  NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    tag         TEXT    NOT NULL,
    PRIMARY KEY (service_id, tag)
);
CREATE INDEX service_tags_tag_idx ON service_tags (tag, service_id);
