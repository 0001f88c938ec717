-- Groups and service tiles: the dashboard's data.
CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL COLLATE NOCASE,
    position    INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE UNIQUE INDEX groups_name_key ON groups (name COLLATE NOCASE);
CREATE INDEX groups_position_idx ON groups (position, id);

CREATE TABLE services (
    id          INTEGER PRIMARY KEY,
    group_id    INTEGER NOT NULL REFERENCES groups (id) ON DELETE RESTRICT,
    name        TEXT    NOT NULL COLLATE NOCASE,
    url         TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    icon        TEXT,
    position    INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE UNIQUE INDEX services_group_name_key ON services (group_id, name COLLATE NOCASE);
CREATE INDEX services_group_position_idx ON services (group_id, position, id);

CREATE TABLE service_tags (
    service_id  INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    tag         TEXT    NOT NULL,
    PRIMARY KEY (service_id, tag)
) WITHOUT ROWID;
CREATE INDEX service_tags_tag_idx ON service_tags (tag, service_id);
