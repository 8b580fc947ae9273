// @ts-check
// What the service reads from its environment. FAIL_RATE and DELAY_MS exist for the canary
// rehearsal: the share of /api requests that answer 500 and a fixed added latency.

/**
 * @typedef {object} Config
 * @property {string} host
 * @property {number} port
 * @property {string | undefined} databaseUrl
 * @property {number} failRate
 * @property {number} delayMs
 * @property {string} version
 */

/** The error rate this build ships with: what a canary compares. */
export const DEFAULT_FAIL_RATE = 0.02;

/**
 * @param {Record<string, string | undefined>} env
 * @param {string} version
 * @returns {Config}
 */
export function readConfig(env, version) {
  const listen = env.LISTEN ?? "127.0.0.1:8080";
  const at = listen.lastIndexOf(":");
  const port = Number(listen.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`LISTEN must be host:port, not ${JSON.stringify(listen)}`);
  }
  return {
    host: listen.slice(0, at),
    port,
    databaseUrl: env.DATABASE_URL || undefined,
    failRate: numberOr(env.FAIL_RATE, DEFAULT_FAIL_RATE),
    delayMs: numberOr(env.DELAY_MS, 0),
    version: env.SERVICE_VERSION ?? version,
  };
}

/**
 * @param {string | undefined} text
 * @param {number} fallback
 */
function numberOr(text, fallback) {
  if (text === undefined || text === "") {
    return fallback;
  }
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) {
    throw new Error(`not a non-negative number: ${JSON.stringify(text)}`);
  }
  return n;
}
