import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { ROOT, run } from "../helpers.ts";

/** The command-line contract every tool shares: help, version, bad options, missing and corrupt input. */

const VERSION = JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")).version;
const TOOLS: { name: string; stdinCmd?: string[] }[] = [
  { name: "dvm" },
  { name: "dvm-discover" },
  { name: "dvm-tm", stdinCmd: ["read", "vg0"] },
  { name: "dvm-report", stdinCmd: ["lvs"] },
  { name: "dvm-manip", stdinCmd: ["lv-remove", "x"] },
  // Their stdin takes vg / dm-state documents only: the stdin cases are in test/activate/cli.test.ts.
  { name: "dvm-vol-activate" },
  { name: "dvm-dmactivate" },
  // Its stdin takes a dm-program: the stdin cases are in test/dm/cli.test.ts.
  { name: "dvm-dmexec" },
];

for (const t of TOOLS)
  describe(`${t.name} command-line contract`, () => {
    test("--help prints usage, exit 0", () => {
      const r = run(t.name, ["--help"]);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^Usage: /);
    });
    test("--version prints the version, exit 0", () => {
      const r = run(t.name, ["--version"]);
      assert.equal(r.status, 0);
      assert.equal(r.stdout, `${t.name} ${VERSION}\n`);
    });
    test("no arguments: usage, exit 1", () => {
      const r = run(t.name, []);
      assert.equal(r.status, 1);
      assert.match(r.stdout, /^Usage: /);
    });
    test("an unknown option is a usage error, exit 1", () => {
      const r = run(t.name, ["scan", "--no-such-option"]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`^${t.name}: error: .*--no-such-option`));
    });
    test("an unknown command is a usage error, exit 1", () => {
      const r = run(t.name, ["frobnicate"]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`^${t.name}: error: `));
    });
    test("--json adds the error as a JSON object on stderr", () => {
      const r = run(t.name, ["frobnicate", "--json"]);
      assert.equal(r.status, 1);
      const line = r.stderr.split("\n").find((l) => l.startsWith("{"));
      assert.ok(line, r.stderr);
      assert.deepEqual(Object.keys(JSON.parse(line).error), ["tool", "exit_code", "message"]);
    });
    if (t.stdinCmd) {
      const cmd = t.stdinCmd;
      test("malformed JSON on stdin: exit 2", () => {
        const r = run(t.name, cmd, '{"kind": "devices", ');
        assert.equal(r.status, 2);
        assert.match(r.stderr, /truncated|not valid JSON/);
      });
      test("a document with a wrong field: exit 2 naming the field", () => {
        const r = run(t.name, cmd, '{"kind":"devices","version":2,"devices":[],"vgs":[]}');
        assert.equal(r.status, 2);
        assert.match(r.stderr, /field \/version/);
      });
      test("trailing garbage after a document: exit 2", () => {
        const r = run(t.name, cmd, '{"kind":"devices","version":1,"devices":[],"vgs":[]} xyz');
        assert.equal(r.status, 2);
        assert.match(r.stderr, /expected a JSON document/);
      });
    }
  });
