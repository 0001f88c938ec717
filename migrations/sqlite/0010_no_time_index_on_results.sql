-- Raw results are pruned tile by tile on their key (service_id, checked_at): the index on the time alone
-- cost about a quarter of a megabyte per tile-year (issue 17).
DROP INDEX IF EXISTS check_results_checked_at_idx;
