DROP INDEX pools_region_enabled_idx;
ALTER TABLE pools
    DROP CONSTRAINT pools_region_check,
    DROP COLUMN region;
