// @ts-check
// Entry point: reads the environment, connects to PostgreSQL when DATABASE_URL is set, serves
// HTTP, and stops cleanly on SIGTERM (what xtask's service::start sends).
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import pg from "pg";

import { createApp } from "./app.js";
import { readConfig } from "./config.js";

const manifest = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
);
const config = readConfig(process.env, manifest.version);
const pool = config.databaseUrl
  ? new pg.Pool({ connectionString: config.databaseUrl, max: 4 })
  : undefined;
const app = createApp(config, pool);

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  app
    .handle(req.method ?? "GET", path)
    .then(({ status, body }) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    })
    .catch((err) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: String(err) }));
    });
});

server.listen(config.port, config.host, () => {
  console.log(`node-service ${config.version} listening on http://${config.host}:${config.port}`);
});

process.on("SIGTERM", () => {
  server.close(() => {
    void (pool ? pool.end() : Promise.resolve()).then(() => process.exit(0));
  });
});
