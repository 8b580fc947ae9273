-- Failover order of upstream pools per worker (priority 1 is tried first).
CREATE TABLE worker_routes (
    worker_id BIGINT NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    pool_id   BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    priority  SMALLINT NOT NULL,
    weight    SMALLINT NOT NULL DEFAULT 100,
    PRIMARY KEY (worker_id, pool_id),
    CONSTRAINT worker_routes_worker_id_priority_key UNIQUE (worker_id, priority),
    CONSTRAINT worker_routes_priority_check CHECK (priority BETWEEN 1 AND 16),
    CONSTRAINT worker_routes_weight_check CHECK (weight BETWEEN 1 AND 1000)
);

CREATE INDEX worker_routes_pool_id_idx ON worker_routes (pool_id);

-- Backfill: every existing worker is routed to the oldest enabled pool.
INSERT INTO worker_routes (worker_id, pool_id, priority)
SELECT w.id, p.id, 1
FROM workers w
CROSS JOIN (SELECT id FROM pools WHERE enabled ORDER BY id LIMIT 1) p;
