#!/usr/bin/env node
// A dvm tool's executable (dist/TOOL.cjs, copied from scripts/launcher.cjs by the build).
// It runs the tool's bundle, dist/code/TOOL.js, compiled with the V8 code cache that the build
// made beside it (dist/code/TOOL.cache): start-up then skips parsing and compiling the bundle's
// functions. A cache V8 rejects (another Node, other V8 flags) is ignored: the bundle is compiled
// as usual. CommonJS, not an ES module: Node's ES module loader costs ~10 ms at start-up.
"use strict";
const { readFileSync } = require("node:fs");
const { basename, join } = require("node:path");
const { pathToFileURL } = require("node:url");
const { Script } = require("node:vm");

const code = join(__dirname, "code", basename(__filename, ".cjs"));
let cachedData;
try {
  cachedData = readFileSync(`${code}.cache`);
} catch {}
const bundle = new Script(readFileSync(`${code}.js`, "utf8"), { filename: `${code}.js`, cachedData });
// The bundle is one function expression of (require, the URL its import.meta.url stands for).
bundle.runInThisContext()(require, pathToFileURL(__filename).href);
