#!/usr/bin/env node
// A dvm tool's executable (dist/TOOL.cjs, copied from scripts/launcher.cjs by the build).
// It runs the tool's bundle, dist/code/TOOL.js, compiled with the V8 code cache that the build
// made beside it (dist/code/TOOL.HASH.cache): start-up then skips parsing and compiling the
// bundle's functions. A cache V8 rejects (another Node, other V8 flags) is ignored: the bundle is
// compiled as usual. CommonJS, not an ES module: Node's ES module loader costs ~10 ms at start-up.
"use strict";
const { readFileSync } = require("node:fs");
const { basename, join } = require("node:path");
const { pathToFileURL } = require("node:url");
const { Script } = require("node:vm");

const code = join(__dirname, "code", basename(__filename, ".cjs"));
const source = readFileSync(`${code}.js`, "utf8");
// The bundle's first line, "//dvm-bundle HASH", names the cache made from it. V8 checks no more
// than a cache's length against the source, so a cache of another build must never be offered:
// it would run that build's code.
const hash = /^\/\/dvm-bundle ([0-9a-f]+)\n/.exec(source)?.[1];
let cachedData;
try {
  if (hash) cachedData = readFileSync(`${code}.${hash}.cache`);
} catch {}
const bundle = new Script(source, { filename: `${code}.js`, cachedData });
// The bundle is one function expression of (require, the URL its import.meta.url stands for).
bundle.runInThisContext()(require, pathToFileURL(__filename).href);
