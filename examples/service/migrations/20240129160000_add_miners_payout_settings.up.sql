ALTER TABLE miners
    ADD COLUMN payout_address TEXT,
    ADD COLUMN min_payout_sats BIGINT NOT NULL DEFAULT 1000000,
    ADD CONSTRAINT miners_min_payout_sats_check
        CHECK (min_payout_sats BETWEEN 10000 AND 2100000000000000);
