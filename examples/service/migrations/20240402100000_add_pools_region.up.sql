ALTER TABLE pools
    ADD COLUMN region TEXT NOT NULL DEFAULT 'eu',
    ADD CONSTRAINT pools_region_check CHECK (region IN ('eu', 'us', 'asia'));

-- Routing picks the enabled pools of a region.
CREATE INDEX pools_region_enabled_idx ON pools (region) WHERE enabled;
