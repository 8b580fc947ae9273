-- Double-entry style balance changes per miner (credits, fees, payouts).
CREATE TABLE ledger_entries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    miner_id    BIGINT NOT NULL REFERENCES miners (id) ON DELETE RESTRICT,
    block_id    BIGINT REFERENCES blocks (id) ON DELETE SET NULL,
    kind        TEXT NOT NULL,
    amount_sats BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ledger_entries_kind_check
        CHECK (kind IN ('credit', 'fee', 'payout', 'adjustment')),
    CONSTRAINT ledger_entries_sign_check CHECK (
        (kind = 'credit' AND amount_sats > 0)
        OR (kind IN ('fee', 'payout') AND amount_sats < 0)
        OR kind = 'adjustment'
    )
);

CREATE INDEX ledger_entries_miner_id_created_at_idx ON ledger_entries (miner_id, created_at);
CREATE INDEX ledger_entries_block_id_idx ON ledger_entries (block_id) WHERE block_id IS NOT NULL;
