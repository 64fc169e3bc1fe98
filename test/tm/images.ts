import { generateId } from "../../src/lvm2/uuid.ts";
import type { VgMeta } from "../../src/lvm2/vg.ts";
import { image, run } from "../helpers.ts";

/** Build a VG on image files with dvm's own tools: label, then restore a vg document. */
export function makeVg(
  dir: string,
  name: string,
  pvMiB: number[],
  lvs: { name: string; extents: number[][] }[],
) {
  const paths = pvMiB.map((m, i) => image(dir, `${name}-${i}.img`, m));
  const uuids = paths.map((p) => {
    const r = run("dvm-discover", ["label", p]);
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout).labelled[0].pv_uuid as string;
  });
  const extentSize = 8192;
  const vg: VgMeta = {
    name,
    id: generateId(),
    seqno: 1,
    format: "lvm2",
    status: ["RESIZEABLE", "READ", "WRITE"],
    flags: [],
    extent_size: extentSize,
    max_lv: 0,
    max_pv: 0,
    metadata_copies: 0,
    physical_volumes: paths.map((p, i) => ({
      name: `pv${i}`,
      id: uuids[i]!,
      device: p,
      status: ["ALLOCATABLE"],
      flags: [],
      dev_size: pvMiB[i]! * 2048,
      pe_start: 2048,
      pe_count: Math.floor((pvMiB[i]! * 2048 - 2048) / extentSize),
    })),
    logical_volumes: lvs.map((lv) => {
      let le = 0;
      const segments = lv.extents.map(([pv, pe, count]) => {
        const seg = {
          start_extent: le,
          extent_count: count!,
          type: "striped",
          stripe_count: 1,
          stripes: [`pv${pv}`, pe!],
        };
        le += count!;
        return seg;
      });
      return {
        name: lv.name,
        id: generateId(),
        status: ["READ", "WRITE", "VISIBLE"],
        flags: [],
        creation_time: 1700000000,
        creation_host: "host1",
        segment_count: segments.length,
        segments,
      };
    }),
  };
  const doc = { kind: "vg", version: 1, vg, top: {}, pv_devices: [] };
  const r = run(
    "dvm-tm",
    ["restore", name, "--devices", paths.join(","), "--lock-dir", `${dir}/lock`],
    JSON.stringify(doc),
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return { paths, uuids, vg };
}
