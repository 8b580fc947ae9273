-- Upstream pools the proxy forwards miners' shares to.
CREATE TABLE pools (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL,
    stratum_url TEXT NOT NULL,
    fee_bps     INTEGER NOT NULL DEFAULT 100,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pools_name_key UNIQUE (name),
    CONSTRAINT pools_fee_bps_check CHECK (fee_bps BETWEEN 0 AND 10000),
    CONSTRAINT pools_stratum_url_check CHECK (stratum_url ~ '^stratum\+(tcp|ssl)://[^/]+$')
);
