// A test mutator: applies one named edit to the vg document on stdin (seqno + 1).
import { readFileSync } from "node:fs";

const [op, ...args] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(0, "utf8"));
doc.vg.seqno++;
const vg = doc.vg;
switch (op) {
  case "add-lv": {
    const [name, pv, pe, count] = args;
    vg.logical_volumes ??= [];
    vg.logical_volumes.push({
      name,
      id: "abcdef-0123-4567-89ab-cdef-0123-456789".replace(/^abcdef/, name.padEnd(6, "x").slice(0, 6)),
      status: ["READ", "WRITE", "VISIBLE"],
      flags: [],
      creation_time: 1700000000,
      creation_host: "test",
      segment_count: 1,
      segments: [
        {
          start_extent: 0,
          extent_count: Number(count),
          type: "striped",
          stripe_count: 1,
          stripes: [pv, Number(pe)],
        },
      ],
    });
    break;
  }
  case "add-pv": {
    // add-pv UUID PATH DEV_SIZE_SECTORS
    const [id, device, size] = args;
    vg.physical_volumes.push({
      name: `pv${vg.physical_volumes.length}`,
      id,
      device,
      status: ["ALLOCATABLE"],
      flags: [],
      dev_size: Number(size),
      pe_start: 2048,
      pe_count: Math.floor((Number(size) - 2048) / vg.extent_size),
    });
    break;
  }
  case "drop-last-pv":
    vg.physical_volumes.pop();
    break;
  case "rename":
    vg.name = args[0];
    break;
  case "tag":
    vg.tags = [args[0]];
    break;
  case "grow-text": {
    // Many LVs' worth of text in one go, to exercise ring wrap-around.
    vg.tags = Array.from({ length: Number(args[0]) }, (_, i) => `t${i}`);
    break;
  }
  default:
    process.stderr.write(`unknown edit ${op}\n`);
    process.exit(2);
}
process.stdout.write(JSON.stringify(doc));
