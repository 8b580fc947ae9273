-- Current balance per miner, derived from the ledger.
CREATE VIEW miner_balances AS
SELECT m.id AS miner_id,
       m.login,
       COALESCE(SUM(l.amount_sats), 0)::BIGINT AS balance_sats,
       COUNT(l.id) AS entry_count,
       MAX(l.created_at) AS last_entry_at
FROM miners m
LEFT JOIN ledger_entries l ON l.miner_id = m.id
GROUP BY m.id, m.login;
