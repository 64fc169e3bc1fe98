// Make the V8 code cache of each bundle named on the command line (dist/code/TOOL.js, whose first
// line is "//dvm-bundle HASH" -> dist/code/TOOL.HASH.cache, as scripts/launcher.cjs reads it),
// with every function compiled, not only those run at start-up. Run by scripts/build.mjs in a
// Node started without flags, as the tools are: V8 rejects a cache made under other flags.
// --no-lazy compiles every function eagerly; it is set back before the cache is written, so the
// cache carries the flags of a plain `node`.
"use strict";
const { readFileSync, writeFileSync } = require("node:fs");
const { setFlagsFromString } = require("node:v8");
const { Script } = require("node:vm");

for (const file of process.argv.slice(2)) {
  const source = readFileSync(file, "utf8");
  const hash = /^\/\/dvm-bundle ([0-9a-f]+)\n/.exec(source)?.[1];
  if (!file.endsWith(".js") || !hash) throw new Error(`${file}: not a bundle of scripts/build.mjs`);
  setFlagsFromString("--no-lazy");
  const script = new Script(source, { filename: file });
  setFlagsFromString("--lazy");
  writeFileSync(file.replace(/\.js$/, `.${hash}.cache`), script.createCachedData());
}
