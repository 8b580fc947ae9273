DROP TABLE worker_daily_stats;
