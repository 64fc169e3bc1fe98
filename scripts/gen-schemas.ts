// Writes the documents' JSON Schemas (defined in src/lib/schema.ts) to schemas/.
// `--check` fails when the checked-in files differ from the code.
import { readFileSync, writeFileSync } from "node:fs";
import { SCHEMAS } from "../src/lib/schema.ts";

const check = process.argv.includes("--check");
let stale = 0;
for (const [kind, schema] of Object.entries(SCHEMAS)) {
  const path = `schemas/${kind}.schema.json`;
  const text = `${JSON.stringify({ $schema: "https://json-schema.org/draft/2020-12/schema", ...schema }, null, 2)}\n`;
  if (check) {
    let old = "";
    try {
      old = readFileSync(path, "utf8");
    } catch {}
    if (old !== text) {
      console.error(`${path} is out of date: run npm run schemas`);
      stale++;
    }
  } else writeFileSync(path, text);
}
process.exit(stale ? 1 : 0);
