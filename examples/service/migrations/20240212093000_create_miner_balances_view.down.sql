DROP VIEW miner_balances;
