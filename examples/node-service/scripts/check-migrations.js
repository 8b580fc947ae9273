// @ts-check
// The project's own check (OmniHub's "custom check"): every migration has both halves, names
// follow <4 digits>_<snake_case>, and versions do not repeat.
import { readdirSync } from "node:fs";

const dir = new URL("../migrations/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".sql"));
const problems = [];
/** @type {Map<string, Set<string>>} */
const halves = new Map();
for (const file of files) {
  const match = /^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$/.exec(file);
  if (!match) {
    problems.push(`migrations/${file}: expected <4 digits>_<snake_case>.up.sql or .down.sql`);
    continue;
  }
  const key = `${match[1]}_${match[2]}`;
  const seen = halves.get(key) ?? new Set();
  seen.add(match[3]);
  halves.set(key, seen);
}
const versions = new Map();
for (const [key, seen] of halves) {
  for (const half of ["up", "down"]) {
    if (!seen.has(half)) problems.push(`migrations/${key}.${half}.sql is missing`);
  }
  const version = key.slice(0, 4);
  if (versions.has(version)) {
    problems.push(`migration version ${version} is used twice: ${versions.get(version)} and ${key}`);
  }
  versions.set(version, key);
}
if (problems.length > 0) {
  for (const p of problems) console.error(`error: ${p}`);
  process.exit(1);
}
console.log(`${halves.size} migrations checked`);
