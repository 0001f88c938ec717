-- Tiles a configuration file (HOMEWATCH_CONFIG) manages: the page warns before they are edited, and the next
-- apply of the file deletes those the file no longer names.
ALTER TABLE services ADD COLUMN managed INTEGER NOT NULL DEFAULT 0;
