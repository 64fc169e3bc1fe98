// Make the V8 code cache of each bundle named on the command line (dist/code/TOOL.js ->
// dist/code/TOOL.cache), with every function compiled, not only those run at start-up. Run by
// scripts/build.mjs in a Node started without flags, as the tools are: V8 rejects a cache made
// under other flags. --no-lazy compiles every function eagerly; it is set back before the cache is
// written, so the cache carries the flags of a plain `node`.
"use strict";
const { readFileSync, writeFileSync } = require("node:fs");
const { setFlagsFromString } = require("node:v8");
const { Script } = require("node:vm");

for (const file of process.argv.slice(2)) {
  if (!file.endsWith(".js")) throw new Error(`${file}: a bundle's name ends in .js`);
  setFlagsFromString("--no-lazy");
  const script = new Script(readFileSync(file, "utf8"), { filename: file });
  setFlagsFromString("--lazy");
  writeFileSync(file.replace(/\.js$/, ".cache"), script.createCachedData());
}
