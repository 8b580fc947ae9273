// @ts-check
// Routes: /health (the process), /health/deep (the database too), /api/items (rows from the
// database), /api/hello (no database; what the canary loads).
import { Faults } from "./faults.js";

/**
 * @typedef {{ query: (sql: string) => Promise<{ rows: any[] }> }} Database
 * @typedef {{ status: number, body: unknown }} Answer
 */

/**
 * @param {import("./config.js").Config} config
 * @param {Database | undefined} db
 */
export function createApp(config, db) {
  const faults = new Faults(config.failRate);

  /**
   * @param {string} method
   * @param {string} path
   * @returns {Promise<Answer>}
   */
  async function handle(method, path) {
    if (method !== "GET") {
      return { status: 405, body: { error: "method not allowed" } };
    }
    if (path === "/health") {
      return { status: 200, body: { status: "ok", version: config.version } };
    }
    if (path === "/health/deep") {
      return deepHealth(db, config.version);
    }
    if (path.startsWith("/api/")) {
      if (config.delayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, config.delayMs));
      }
      if (faults.next()) {
        return { status: 500, body: { error: "injected fault" } };
      }
      if (path === "/api/hello") {
        return { status: 200, body: { hello: "world", version: config.version } };
      }
      if (path === "/api/items") {
        if (!db) {
          return { status: 503, body: { error: "no database configured" } };
        }
        const { rows } = await db.query("select id, name from items order by id");
        return { status: 200, body: { items: rows } };
      }
    }
    return { status: 404, body: { error: "not found" } };
  }

  return { handle };
}

/**
 * @param {Database | undefined} db
 * @param {string} version
 * @returns {Promise<Answer>}
 */
async function deepHealth(db, version) {
  if (!db) {
    return { status: 200, body: { status: "ok", version, database: "not configured" } };
  }
  try {
    const { rows } = await db.query("select count(*)::int as n from _xtask_migrations");
    return { status: 200, body: { status: "ok", version, database: "ok", migrations: rows[0].n } };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { status: 503, body: { status: "unavailable", version, database: message } };
  }
}
