ALTER TABLE workers ADD COLUMN first_seen_at TIMESTAMPTZ;

-- Backfill: the oldest share of each worker, else when it was created.
UPDATE workers w
SET first_seen_at = COALESCE(
    (SELECT MIN(s.submitted_at) FROM shares s WHERE s.worker_id = w.id),
    w.created_at
);

ALTER TABLE workers
    ALTER COLUMN first_seen_at SET DEFAULT now(),
    ALTER COLUMN first_seen_at SET NOT NULL;
