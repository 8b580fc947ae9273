DROP TABLE worker_routes;
