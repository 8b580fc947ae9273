-- A (worker, job, nonce) share counts once; resubmissions are stored with
-- status 'duplicate' and are exempt.
CREATE UNIQUE INDEX shares_worker_id_job_id_nonce_key
    ON shares (worker_id, job_id, nonce)
    WHERE status <> 'duplicate';
