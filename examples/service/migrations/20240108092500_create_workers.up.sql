-- Mining devices (stratum sessions "login.worker") belonging to a miner.
CREATE TABLE workers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    miner_id     BIGINT NOT NULL REFERENCES miners (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ,
    CONSTRAINT workers_miner_id_name_key UNIQUE (miner_id, name),
    CONSTRAINT workers_name_check CHECK (length(name) BETWEEN 1 AND 64)
);

CREATE INDEX workers_last_seen_at_idx ON workers (last_seen_at);
