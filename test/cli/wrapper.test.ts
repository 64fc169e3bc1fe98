import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GLOBAL_LOCK, lockFile } from "../../src/tm/lock.ts";
import { image, ROOT, run, scratch } from "../helpers.ts";

/** The dvm wrapper's vg and lv commands on image files, as a user types them. */

describe("dvm vg / lv commands", () => {
  let s: ReturnType<typeof scratch>;
  let d: string[];
  let g: string[];
  before(() => {
    s = scratch();
    d = [0, 1, 2].map((i) => image(s.dir, `d${i}.img`, 64));
    g = ["--devices", d.join(","), "--lock-dir", `${s.dir}/lock`];
  });
  after(() => s.cleanup());
  const dvm = (...args: string[]) => run("dvm", [...args, ...g]);
  const ok = (...args: string[]) => {
    const r = dvm(...args);
    assert.equal(r.status, 0, `dvm ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const lvs = () =>
    JSON.parse(
      ok(
        "report",
        "lvs",
        "--reportformat",
        "json",
        "--units",
        "b",
        "--nosuffix",
        "-o",
        "lv_name,lv_size,seg_pe_ranges",
      ),
    ).report[0].lv;
  const seqno = (vg: string) =>
    Number(
      JSON.parse(ok("report", "vgs", vg, "--reportformat", "json", "-o", "vg_seqno")).report[0].vg[0]
        .vg_seqno,
    );

  test("vg create labels unlabelled devices and makes the VG", () => {
    assert.equal(ok("vg", "create", "w0", d[0]!, d[1]!), 'Volume group "w0" successfully created\n');
    const vgs = JSON.parse(ok("report", "vgs", "--reportformat", "json", "--units", "b", "--nosuffix"))
      .report[0].vg;
    assert.deepEqual(
      vgs.map((v: Record<string, string>) => [v.vg_name, v.pv_count, v.lv_count, v.vg_size]),
      [["w0", "2", "0", String(2 * 15 * 4 * 1024 * 1024)]],
    );
  });

  test("lv create: linear, striped; sizes rounded up to extents", () => {
    const r = dvm("lv", "create", "w0/a", "--size", "10m");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Rounding up size to full physical extent 12\.00 MiB/);
    ok("lv", "create", "w0/s", "--size", "16m", "--type", "striped", "--stripes", "2");
    assert.deepEqual(lvs(), [
      { lv_name: "a", lv_size: String(12 << 20), seg_pe_ranges: `${d[0]}:0-2` },
      { lv_name: "s", lv_size: String(16 << 20), seg_pe_ranges: `${d[0]}:3-4 ${d[1]}:0-1` },
    ]);
  });

  test("lv extend / reduce / rename, vg extend", () => {
    ok("lv", "extend", "w0/a", "--size", "+8m");
    ok("lv", "reduce", "w0/a", "--size", "-4m");
    ok("lv", "rename", "w0/a", "b");
    ok("vg", "extend", "w0", d[2]!);
    const rows = lvs();
    assert.deepEqual(
      rows.map((r: Record<string, string>) => [r.lv_name, r.lv_size]),
      [
        ["b", String(16 << 20)],
        ["b", String(16 << 20)],
        ["s", String(16 << 20)],
      ],
    );
  });

  test("errors: exit codes and nothing changed", () => {
    const before = seqno("w0");
    const images = d.map((p) => readFileSync(p));
    const cases: [string[], number, RegExp][] = [
      [["lv", "create", "w0/big", "--size", "10g"], 6, /nsufficient|not enough/i],
      [["lv", "create", "w0/b", "--size", "4m"], 5, /already exists/],
      [["lv", "create", "nosuch/x", "--size", "4m"], 3, /not found/],
      [["lv", "create", "w0/bad name", "--size", "4m"], 2, /name/],
      [["lv", "create", "w0/x", "--size", "4q"], 2, /not a size/],
      [["lv", "create", "w0/x", "--size", "4m", "--type", "thin"], 2, /not supported/],
      [["lv", "remove", "w0/nosuch"], 3, /nosuch/],
      [["vg", "remove", "w0"], 5, /--force/],
      [["vg", "reduce", "w0", d[0]!], 5, /in use|extents|allocated/i],
      [["vg", "create", "w1", d[0]!], 5, /belongs|already|in use/i],
      [["lv", "create", "w0/x", "--size", "4m", "--dry-run"], 0, /^$/],
    ];
    for (const [args, code, re] of cases) {
      const r = dvm(...args);
      assert.equal(r.status, code, `dvm ${args.join(" ")}: ${r.stderr}`);
      assert.match(code === 0 ? "" : r.stderr, re, args.join(" "));
    }
    assert.equal(seqno("w0"), before);
    for (const [i, p] of d.entries()) assert.ok(readFileSync(p).equals(images[i]!), `${p} changed`);
  });

  test("--json prints the new vg document; --dry-run --json the planned one", () => {
    const dry = JSON.parse(ok("lv", "create", "w0/j", "--size", "4m", "--dry-run", "--json"));
    assert.equal(dry.dry_run, true);
    assert.ok(dry.vg.logical_volumes.some((l: { name: string }) => l.name === "j"));
    const doc = JSON.parse(ok("lv", "create", "w0/j", "--size", "4m", "--json"));
    assert.equal(doc.kind, "vg");
    assert.equal(doc.vg.seqno, dry.vg.seqno);
  });

  test("--pipeline runs dvm-manip as a process with the same result", () => {
    const before = seqno("w0");
    ok("lv", "create", "w0/p", "--size", "8m", "--pipeline");
    assert.equal(seqno("w0"), before + 1);
    assert.ok(lvs().some((r: Record<string, string>) => r.lv_name === "p" && r.lv_size === String(8 << 20)));
    const r = dvm("lv", "create", "w0/p2", "--size", "10g", "--pipeline");
    assert.equal(r.status, 6, r.stderr);
  });

  test("lv remove, vg reduce, vg rename, vg remove", () => {
    for (const lv of ["b", "s", "j", "p"]) ok("lv", "remove", `w0/${lv}`);
    ok("vg", "reduce", "w0", d[2]!);
    ok("vg", "rename", "w0", "w9");
    assert.equal(
      JSON.parse(ok("report", "vgs", "--reportformat", "json", "-o", "vg_name")).report[0].vg[0].vg_name,
      "w9",
    );
    ok("vg", "remove", "w9");
    const pvs = JSON.parse(ok("report", "pvs", "--reportformat", "json", "-o", "pv_name,vg_name")).report[0]
      .pv;
    assert.deepEqual(
      pvs.map((p: Record<string, string>) => p.vg_name),
      ["", "", ""],
    );
  });
});

describe("PV labels are written and wiped under LVM2's global lock (P_global)", () => {
  let s: ReturnType<typeof scratch>;
  before(() => {
    s = scratch();
  });
  after(() => s.cleanup());

  test("while another holds it: --nowait fails with exit 5 and the device is untouched; then it goes through", () => {
    const lockDir = join(s.dir, "lock");
    const img = image(s.dir, "g.img", 64);
    const g = ["--devices", img, "--lock-dir", lockDir, "--nowait"];
    const untouched = () =>
      assert.ok(
        readFileSync(img).every((b) => b === 0),
        "the device is untouched",
      );
    const held = lockFile(GLOBAL_LOCK, { lockDir });
    try {
      for (const [tool, args] of [
        ["dvm", ["pv", "create", img]],
        ["dvm", ["vg", "create", "gl0", img]],
        ["dvm-discover", ["label", img]],
      ] as const) {
        const r = run(tool, [...args, ...g]);
        assert.equal(r.status, 5, `${tool} ${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /P_global/);
        untouched();
      }
      // A dry run writes nothing and takes no lock.
      assert.equal(run("dvm", ["pv", "create", img, "--dry-run", ...g]).status, 0);
      untouched();
    } finally {
      held.release();
    }
    const made = run("dvm", ["pv", "create", img, ...g]);
    assert.equal(made.status, 0, made.stderr);
    const held2 = lockFile(GLOBAL_LOCK, { lockDir });
    try {
      const r = run("dvm", ["pv", "remove", img, ...g]);
      assert.equal(r.status, 5, r.stderr);
    } finally {
      held2.release();
    }
    assert.equal(run("dvm-discover", ["unlabel", img, ...g]).status, 0);
  });

  test("vg extend and vg reduce hold it too (PVs join and leave the orphans), as vgextend and vgreduce do", () => {
    const lockDir = join(s.dir, "lock2");
    const [a, b] = [image(s.dir, "ga.img", 64), image(s.dir, "gb.img", 64)];
    const g = ["--devices", `${a},${b}`, "--lock-dir", lockDir, "--nowait"];
    const ok = (...args: string[]) => assert.equal(run("dvm", [...args, ...g]).status, 0, args.join(" "));
    ok("vg", "create", "gl1", a);
    ok("pv", "create", b);
    const before = readFileSync(b);
    const held = lockFile(GLOBAL_LOCK, { lockDir });
    try {
      for (const args of [
        ["vg", "extend", "gl1", b],
        ["vg", "reduce", "gl1", a],
        ["vg", "reduce", "gl1", "--missing"],
      ]) {
        const r = run("dvm", [...args, ...g]);
        assert.equal(r.status, 5, `${args.join(" ")}: ${r.stderr}`);
      }
      assert.deepEqual(readFileSync(b), before, "the PV is untouched");
      // An LV change moves no PV: the VG's own lock is enough.
      ok("lv", "create", "gl1/l", "--size", "4m");
    } finally {
      held.release();
    }
    ok("vg", "extend", "gl1", b);
  });

  test("vg rename holds it (VG names are everyone's); dvm-tm update holds it with --global-lock only", () => {
    const lockDir = join(s.dir, "lock3");
    const a = image(s.dir, "gr.img", 64);
    const g = ["--devices", a, "--lock-dir", lockDir, "--nowait"];
    assert.equal(run("dvm", ["vg", "create", "gl2", a, ...g]).status, 0);
    const before = readFileSync(a);
    const held = lockFile(GLOBAL_LOCK, { lockDir });
    const touch = [
      "--",
      process.execPath,
      join(ROOT, "test/tm/mutators/edit.mjs"),
      "add-lv",
      "t",
      "pv0",
      "0",
      "1",
    ];
    try {
      const r = run("dvm", ["vg", "rename", "gl2", "gl3", ...g]);
      assert.equal(r.status, 5, r.stderr);
      const u = run("dvm-tm", ["update", "gl2", "--global-lock", ...g, ...touch]);
      assert.equal(u.status, 5, u.stderr);
      assert.deepEqual(readFileSync(a), before, "nothing written");
      const plain = run("dvm-tm", ["update", "gl2", ...g, ...touch]);
      assert.equal(plain.status, 0, plain.stderr);
    } finally {
      held.release();
    }
    assert.equal(run("dvm", ["vg", "rename", "gl2", "gl3", ...g]).status, 0);
  });
});

describe("dvm TOOL ...", () => {
  test("global options with values may come before the tool's name", () => {
    const s = scratch();
    try {
      const img = image(s.dir, "a.img", 8);
      const r = run("dvm", ["--lock-dir", `${s.dir}/lock`, "--devices", img, "discover", "scan"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).devices[0].path, img);
      const st = run("dvm", ["--sim-dir", `${s.dir}/sim`, "dmexec", "state"]);
      assert.equal(st.status, 0, st.stderr);
      assert.equal(JSON.parse(st.stdout).source, "sim");
    } finally {
      s.cleanup();
    }
  });
});
