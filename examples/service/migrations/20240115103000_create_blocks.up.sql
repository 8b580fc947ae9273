-- Blocks found by an upstream pool while our miners contributed.
CREATE TABLE blocks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id     BIGINT NOT NULL REFERENCES pools (id),
    height      INTEGER NOT NULL CHECK (height >= 0),
    hash        TEXT NOT NULL,
    reward_sats BIGINT NOT NULL,
    found_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    confirmed   BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT blocks_hash_key UNIQUE (hash),
    CONSTRAINT blocks_hash_check CHECK (hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT blocks_reward_sats_check CHECK (reward_sats >= 0)
);

CREATE INDEX blocks_pool_id_height_idx ON blocks (pool_id, height);
