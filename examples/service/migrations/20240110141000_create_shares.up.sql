-- Every share a worker submitted through the proxy.
CREATE TABLE shares (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    worker_id    BIGINT NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    pool_id      BIGINT NOT NULL REFERENCES pools (id),
    job_id       TEXT NOT NULL,
    nonce        BIGINT NOT NULL,
    difficulty   NUMERIC(20, 4) NOT NULL,
    status       share_status NOT NULL DEFAULT 'accepted',
    submitted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT shares_difficulty_check CHECK (difficulty > 0),
    CONSTRAINT shares_nonce_check CHECK (nonce BETWEEN 0 AND 4294967295)
);

CREATE INDEX shares_worker_id_submitted_at_idx ON shares (worker_id, submitted_at DESC);
CREATE INDEX shares_pool_id_submitted_at_idx ON shares (pool_id, submitted_at);
