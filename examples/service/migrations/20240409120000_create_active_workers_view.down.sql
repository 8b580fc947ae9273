DROP VIEW active_workers;
