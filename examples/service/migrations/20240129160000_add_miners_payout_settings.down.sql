ALTER TABLE miners
    DROP CONSTRAINT miners_min_payout_sats_check,
    DROP COLUMN min_payout_sats,
    DROP COLUMN payout_address;
