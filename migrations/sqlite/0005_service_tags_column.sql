-- A tile's tags also as a JSON array in order, so reads take them from the row instead of aggregating
-- service_tags (which stays, for the tag filter).
ALTER TABLE services ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
UPDATE services SET tags = COALESCE(
    (SELECT json_group_array(tag) FROM (SELECT tag FROM service_tags t WHERE t.service_id = services.id ORDER BY t.ordinal)),
    '[]');
