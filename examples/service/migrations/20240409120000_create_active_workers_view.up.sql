-- Workers seen in the last 15 minutes with their primary upstream pool.
CREATE VIEW active_workers AS
SELECT w.id AS worker_id,
       w.miner_id,
       m.login,
       w.name,
       w.last_seen_at,
       r.pool_id AS primary_pool_id
FROM workers w
JOIN miners m ON m.id = w.miner_id
LEFT JOIN worker_routes r ON r.worker_id = w.id AND r.priority = 1
WHERE w.last_seen_at > now() - INTERVAL '15 minutes';
