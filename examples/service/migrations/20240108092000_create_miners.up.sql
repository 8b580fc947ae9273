-- Accounts that connect workers to the proxy and receive payouts.
CREATE TABLE miners (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login      TEXT NOT NULL,
    email      TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT miners_login_check CHECK (login ~ '^[A-Za-z0-9_.-]{3,64}$')
);

-- Logins are unique regardless of case.
CREATE UNIQUE INDEX miners_login_lower_key ON miners (lower(login));
