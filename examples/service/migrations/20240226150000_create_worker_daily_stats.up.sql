-- Per-worker daily aggregates so dashboards do not scan "shares".
CREATE TABLE worker_daily_stats (
    worker_id           BIGINT NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    day                 DATE NOT NULL,
    accepted_shares     BIGINT NOT NULL DEFAULT 0,
    rejected_shares     BIGINT NOT NULL DEFAULT 0,
    accepted_difficulty NUMERIC(30, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (worker_id, day),
    CONSTRAINT worker_daily_stats_counts_check
        CHECK (accepted_shares >= 0 AND rejected_shares >= 0)
);

-- Backfill the history from existing shares (days in UTC).
INSERT INTO worker_daily_stats
    (worker_id, day, accepted_shares, rejected_shares, accepted_difficulty)
SELECT s.worker_id,
       (s.submitted_at AT TIME ZONE 'UTC')::DATE,
       COUNT(*) FILTER (WHERE s.status = 'accepted'),
       COUNT(*) FILTER (WHERE s.status <> 'accepted'),
       COALESCE(SUM(s.difficulty) FILTER (WHERE s.status = 'accepted'), 0)
FROM shares s
GROUP BY 1, 2;
