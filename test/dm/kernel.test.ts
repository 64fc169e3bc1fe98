import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DmFailure } from "../../src/dm/backend.js";
import {
  type CommandResult,
  classifyDmsetupError,
  KernelBackend,
  parseInfoRows,
  parsePrefixedTables,
} from "../../src/dm/kernel.js";
import { splitDmName } from "../../src/dm/names.js";

/** A runner that records argv and stdin and answers from a script of canned results. */
function fakeRunner(answer: (argv: string[], input?: string) => Partial<CommandResult> | undefined) {
  const calls: { argv: string[]; input?: string }[] = [];
  const runner = (argv: string[], input?: string): CommandResult => {
    calls.push({ argv, input });
    const a = answer(argv, input) ?? {};
    return { status: a.status ?? 0, stdout: a.stdout ?? "", stderr: a.stderr ?? "" };
  };
  return { calls, runner };
}

const UUID = "LVM-5N3lxtGK8e5bD4FNuYTn7qxMLkTjOMhq2FqZ3S0bJ8AbVUlTGbGmZ0RG3sJ7Fu7v";

describe("kernel backend: dmsetup command lines", () => {
  it("never waits for udev and makes nodes and the VG/LV link itself", () => {
    const { calls, runner } = fakeRunner(() => undefined);
    const k = new KernelBackend({ runner });
    k.create("my--vg-data", UUID);
    k.load(
      "my--vg-data",
      [
        {
          start_sectors: 0,
          length_sectors: 8192,
          type: "linear",
          device: "/dev/loop3",
          offset_sectors: 2048,
        },
      ],
      true,
    );
    k.resume("my--vg-data");
    assert.deepEqual(calls[0]!.argv, [
      "dmsetup",
      "create",
      "--noudevsync",
      "--notable",
      "-u",
      UUID,
      "my--vg-data",
    ]);
    assert.deepEqual(calls[1]!.argv, ["dmsetup", "mknodes", "my--vg-data"]);
    assert.deepEqual(calls[2]!.argv, ["dmsetup", "load", "--readonly", "my--vg-data"]);
    assert.equal(calls[2]!.input, "0 8192 linear /dev/loop3 2048\n");
    assert.deepEqual(calls[3]!.argv, ["dmsetup", "resume", "--noudevsync", "my--vg-data"]);
    assert.deepEqual(calls[4]!.argv, ["dmsetup", "mknodes", "my--vg-data"]);
    assert.equal(calls[5]!.argv[0], "sh");
    assert.match(
      calls[5]!.argv[2]!,
      /mkdir -p '\/dev\/my-vg' && ln -sfn '..\/mapper\/my--vg-data' '\/dev\/my-vg\/data'/,
    );
  });

  it("makes no link for layers and hidden sub-LVs", () => {
    const { calls, runner } = fakeRunner(() => undefined);
    const k = new KernelBackend({ runner });
    k.resume("vg-lv-real");
    k.resume("vg-lv_mimage_0");
    k.resume("vg-pvmove0");
    assert.ok(calls.every((c) => c.argv[0] === "dmsetup"));
  });

  it("passes suspend flags, deferred remove, rename and set-uuid", () => {
    const { calls, runner } = fakeRunner(() => undefined);
    const k = new KernelBackend({ runner, devDir: "/guest/dev" });
    k.suspend("a", { noflush: true, nolockfs: true });
    k.remove("a", { deferred: true });
    k.setUuid("b", "U");
    k.clear("b");
    assert.deepEqual(calls[0]!.argv, ["dmsetup", "suspend", "--noflush", "--nolockfs", "a"]);
    assert.deepEqual(calls[1]!.argv, ["dmsetup", "remove", "--noudevsync", "--deferred", "a"]);
    assert.deepEqual(calls[2]!.argv, ["dmsetup", "rename", "--noudevsync", "b", "--setuuid", "U"]);
    assert.deepEqual(calls[3]!.argv, ["dmsetup", "clear", "b"]);
  });

  it("turns dmsetup failures into errnos", () => {
    const { runner } = fakeRunner(() => ({
      status: 1,
      stderr: "device-mapper: remove ioctl on vg-lv  failed: Device or resource busy\nCommand failed.\n",
    }));
    const k = new KernelBackend({ runner });
    assert.throws(
      () => k.remove("vg-lv"),
      (e) => e instanceof DmFailure && e.errno === "EBUSY" && e.code === 16 && /busy/.test(e.message),
    );
  });

  it("classifies the kernel's messages", () => {
    const f = (op: string, text: string) =>
      `device-mapper: ${op} ioctl on x  failed: ${text}\nCommand failed.\n`;
    assert.equal(classifyDmsetupError(f("reload", "Invalid argument")), "EINVAL");
    assert.equal(classifyDmsetupError(f("resume", "No such device or address")), "ENXIO");
    assert.equal(classifyDmsetupError(f("reload", "No such device")), "ENODEV");
    assert.equal(classifyDmsetupError(f("create", "Device or resource busy")), "EBUSY");
    assert.equal(classifyDmsetupError(f("message", "No data available")), "ENODATA");
    assert.equal(classifyDmsetupError("Device does not exist.\nCommand failed.\n"), "ENXIO");
    assert.equal(classifyDmsetupError("Invalid format on line 1 of table on stdin\n"), "EINVAL");
    assert.equal(
      classifyDmsetupError(
        "/dev/mapper/control: open failed: No such device\nFailure to communicate with kernel device-mapper driver.\n",
      ),
      "ENODEV",
    );
  });
});

describe("kernel backend: reading the dm state", () => {
  const info = `vg-lv|${UUID}|253|0|L--w|1|1|0\nvg-top|LVM-top|253|1|LIsr|0|2|3\nnotable||253|2|---w|0|0|0\nother|CRYPT-x|253|3|L--w|0|1|0\n`;
  const tables =
    "vg-lv: 0 8192 linear 7:0 2048\nvg-top: 0 8192 linear 253:0 0\nvg-top: 8192 8192 striped 2 128 7:0 10240 7:1 2048\nnotable: \nother: 0 8 zero \n";
  const inactive = "vg-top: 0 8 error \n";
  const answer = (argv: string[]) => {
    if (argv[1] === "info") return { stdout: info };
    if (argv[1] === "table") return { stdout: argv.includes("--inactive") ? inactive : tables };
    if (argv[0] === "sh") return { stdout: "7:0 loop0 204800\n7:1 loop1 409600\n" };
    return undefined;
  };

  it("parses dmsetup's listings into a dm-state document", () => {
    const { runner } = fakeRunner(answer);
    const st = new KernelBackend({ runner }).state("LVM-");
    assert.equal(st.source, "kernel");
    assert.equal(st.uuid_prefix, "LVM-");
    assert.deepEqual(
      st.devices.map((d) => d.name),
      ["vg-lv", "vg-top"],
    );
    const top = st.devices[1]!;
    assert.equal(top.suspended, true);
    assert.equal(top.read_only, true);
    assert.equal(top.event_nr, 3);
    assert.deepEqual(top.depends_on, ["vg-lv"]);
    assert.equal(top.table!.length, 2);
    assert.deepEqual(top.table![1], {
      start_sectors: 8192,
      length_sectors: 8192,
      type: "striped",
      chunk_sectors: 128,
      stripes: [
        { device: "7:0", offset_sectors: 10240 },
        { device: "7:1", offset_sectors: 2048 },
      ],
    });
    assert.deepEqual(top.inactive_table, [{ start_sectors: 0, length_sectors: 8, type: "error" }]);
    assert.equal(st.devices[0]!.open_count, 1);
    assert.equal(st.devices[0]!.inactive_table, null);
    assert.deepEqual(st.disks, [
      { path: "/dev/loop0", major: 7, minor: 0, size_sectors: 204800 },
      { path: "/dev/loop1", major: 7, minor: 1, size_sectors: 409600 },
    ]);
  });

  it("lists table-less devices with a null table and reads no devices as an empty state", () => {
    assert.deepEqual(parsePrefixedTables("notable: \n").get("notable"), []);
    assert.deepEqual(parseInfoRows("No devices found\n"), []);
    const { runner } = fakeRunner((argv) =>
      argv[1] === "info" ? { stdout: "No devices found\n" } : undefined,
    );
    assert.deepEqual(new KernelBackend({ runner }).state().devices, []);
    const all = new KernelBackend({ runner: fakeRunner(answer).runner }).state();
    assert.equal(all.devices.find((d) => d.name === "notable")!.table, null);
  });
});

describe("dm names", () => {
  it("splits LVM2 names with doubled hyphens", () => {
    assert.deepEqual(splitDmName("my--vg-data--1"), { vg: "my-vg", lv: "data-1", layer: "" });
    assert.deepEqual(splitDmName("vg-lv-real"), { vg: "vg", lv: "lv", layer: "real" });
    assert.equal(splitDmName("plain"), undefined);
    assert.equal(splitDmName("a-b-c-d"), undefined);
  });
});
