-- Dashboards list recent rejected/stale shares; they are a small fraction
-- of all shares, so a partial index keeps this cheap.
CREATE INDEX shares_not_accepted_idx ON shares (submitted_at) WHERE status <> 'accepted';
