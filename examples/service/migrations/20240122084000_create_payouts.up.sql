-- On-chain payouts to miners.
CREATE TABLE payouts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    miner_id    BIGINT NOT NULL REFERENCES miners (id) ON DELETE RESTRICT,
    batch_no    BIGINT NOT NULL DEFAULT nextval('payout_batch_seq'),
    amount_sats BIGINT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending',
    txid        TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    paid_at     TIMESTAMPTZ,
    CONSTRAINT payouts_amount_sats_check CHECK (amount_sats > 0),
    CONSTRAINT payouts_status_check
        CHECK (status IN ('pending', 'sent', 'confirmed', 'failed')),
    CONSTRAINT payouts_txid_check
        CHECK (status NOT IN ('sent', 'confirmed') OR txid IS NOT NULL),
    CONSTRAINT payouts_paid_at_check CHECK (paid_at IS NULL OR paid_at >= created_at)
);

CREATE INDEX payouts_miner_id_created_at_idx ON payouts (miner_id, created_at DESC);
CREATE INDEX payouts_batch_no_idx ON payouts (batch_no);
