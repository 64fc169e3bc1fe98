// Bundle each executable into one file under dist/, so a tool loads one module at start-up.
import { chmodSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { build } from "esbuild";

const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const tools = readdirSync("src/cli")
  .filter((f) => /^dvm(-[a-z-]+)?\.ts$/.test(f))
  .map((f) => f.replace(/\.ts$/, ""))
  .filter((t) => process.argv.length <= 2 || process.argv.slice(2).includes(t));
mkdirSync("dist", { recursive: true });

/** The export name of each tool's Tool object: dvm-discover -> discoverTool, dvm -> dvmTool. */
const exportName = (t) =>
  `${t === "dvm" ? "dvm" : t.slice(4).replace(/-([a-z])/g, (_, c) => c.toUpperCase())}Tool`;

await Promise.all(
  tools.map(async (t) => {
    const outfile = `dist/${t}.mjs`;
    await build({
      stdin: {
        contents: `import { main } from "./src/cli/common.ts"; import { ${exportName(t)} as tool } from "./src/cli/${t}.ts"; main(tool);`,
        resolveDir: process.cwd(),
        loader: "ts",
      },
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile,
      // CommonJS dependencies (cli-progress) call require(); an ES module bundle has to provide it.
      banner: {
        js: '#!/usr/bin/env node\nimport { createRequire as __dvmRequire } from "node:module"; const require = __dvmRequire(import.meta.url);',
      },
      define: { DVM_VERSION: JSON.stringify(pkg.version) },
      minifySyntax: true,
      minifyWhitespace: true,
      legalComments: "none",
      // koffi loads a native module at run time: it stays in node_modules, loaded only when a lock is taken.
      external: ["koffi"],
      logLevel: "warning",
    });
    chmodSync(outfile, 0o755);
  }),
);
console.log(`built ${tools.map((t) => `dist/${t}.mjs`).join(" ")}`);
