-- API tokens for the miner dashboard; only a SHA-256 of the token is stored.
CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    miner_id     BIGINT NOT NULL REFERENCES miners (id) ON DELETE CASCADE,
    token_sha256 BYTEA NOT NULL,
    label        TEXT NOT NULL DEFAULT 'default',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ,
    CONSTRAINT api_tokens_token_sha256_key UNIQUE (token_sha256),
    CONSTRAINT api_tokens_token_sha256_check CHECK (octet_length(token_sha256) = 32),
    CONSTRAINT api_tokens_revoked_at_check CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);

-- At most one active (not revoked) token per miner and label.
CREATE UNIQUE INDEX api_tokens_active_miner_id_label_key
    ON api_tokens (miner_id, label)
    WHERE revoked_at IS NULL;
