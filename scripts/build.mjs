// Bundle each executable: dist/TOOL.cjs (scripts/launcher.cjs) runs dist/code/TOOL.js, one file
// holding the tool and everything it imports, with the V8 code cache dist/code/TOOL.HASH.cache
// (HASH: of the bundle, named on its first line).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { build } from "esbuild";

const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const tools = readdirSync("src/cli")
  .filter((f) => /^dvm(-[a-z-]+)?\.ts$/.test(f))
  .map((f) => f.replace(/\.ts$/, ""))
  .filter((t) => process.argv.length <= 2 || process.argv.slice(2).includes(t));
mkdirSync("dist/code", { recursive: true });
// The ES module bundles of earlier builds.
for (const f of readdirSync("dist")) if (f.endsWith(".mjs")) rmSync(`dist/${f}`);

/** The export name of each tool's Tool object: dvm-discover -> discoverTool, dvm -> dvmTool. */
const exportName = (t) =>
  `${t === "dvm" ? "dvm" : t.slice(4).replace(/-([a-z])/g, (_, c) => c.toUpperCase())}Tool`;

await Promise.all(
  tools.map(async (t) => {
    const bundle = `dist/code/${t}.js`;
    await build({
      stdin: {
        contents: `import { main } from "./src/cli/common.ts"; import { ${exportName(t)} as tool } from "./src/cli/${t}.ts"; main(tool);`,
        resolveDir: process.cwd(),
        loader: "ts",
      },
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      outfile: bundle,
      // One function expression, called by the launcher with its require (node builtins, koffi)
      // and its own URL, which stands for import.meta.url (the tools find their siblings by it).
      banner: { js: '(function (require, __dvmUrl) {\n"use strict";' },
      footer: { js: "})" },
      define: { DVM_VERSION: JSON.stringify(pkg.version), "import.meta.url": "__dvmUrl" },
      minifySyntax: true,
      minifyWhitespace: true,
      legalComments: "none",
      // koffi loads a native module at run time: it stays in node_modules, loaded only when a lock is taken.
      external: ["koffi"],
      logLevel: "warning",
    });
    const body = readFileSync(bundle, "utf8");
    writeFileSync(
      bundle,
      `//dvm-bundle ${createHash("sha256").update(body).digest("hex").slice(0, 16)}\n${body}`,
    );
    // Caches of earlier builds (code-cache.cjs makes this build's); "TOOL." is no other tool's prefix.
    for (const f of readdirSync("dist/code"))
      if (f.startsWith(`${t}.`) && f.endsWith(".cache")) rmSync(`dist/code/${f}`);
    copyFileSync("scripts/launcher.cjs", `dist/${t}.cjs`);
    chmodSync(`dist/${t}.cjs`, 0o755);
  }),
);

// The code caches, made by a Node without flags (NODE_OPTIONS would change V8's flags).
const env = { ...process.env };
delete env.NODE_OPTIONS;
const bodies = tools.map((t) => `dist/code/${t}.js`);
const made = spawnSync(process.execPath, ["scripts/code-cache.cjs", ...bodies], { env, stdio: "inherit" });
if (made.status !== 0) throw new Error(`scripts/code-cache.cjs failed (exit ${made.status})`);
console.log(`built ${tools.map((t) => `dist/${t}.cjs`).join(" ")}`);
