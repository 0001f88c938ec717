-- A tile's tags also as a JSON array in order, so reads take them from the row instead of aggregating
-- service_tags (which stays, for the tag filter).
ALTER TABLE services ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
UPDATE services s SET tags = COALESCE(
    (SELECT json_agg(t.tag ORDER BY t.ordinal)::text FROM service_tags t WHERE t.service_id = s.id),
    '[]');
