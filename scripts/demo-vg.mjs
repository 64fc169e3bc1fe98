// Prints a vg document for the demo: VG $1 over the PVs $2 (comma-separated image paths),
// with a linear LV on the first PV and a 2-way striped LV over the other two.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

const [name, devs] = process.argv.slice(2);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const scan = JSON.parse(
  execFileSync(process.execPath, ["dist/dvm-discover.mjs", "scan", "--devices", devs], { env }).toString(),
);
const A = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const id = () => {
  const r = [...randomBytes(32)].map((b) => A[b % 62]).join("");
  const cuts = [0, 6, 10, 14, 18, 22, 26, 32];
  return cuts
    .slice(1)
    .map((end, i) => r.slice(cuts[i], end))
    .join("-");
};
const extent = 8192;
const pvs = scan.devices.map((d, i) => ({
  name: `pv${i}`,
  id: d.pv.uuid,
  device: d.path,
  status: ["ALLOCATABLE"],
  flags: [],
  dev_size: d.size_bytes / 512,
  pe_start: d.pv.data_areas[0].offset_bytes / 512,
  pe_count: Math.floor((d.size_bytes / 512 - d.pv.data_areas[0].offset_bytes / 512) / extent),
}));
const lv = (lvName, seg) => ({
  name: lvName,
  id: id(),
  status: ["READ", "WRITE", "VISIBLE"],
  flags: [],
  creation_time: Math.floor(Date.now() / 1000),
  creation_host: "demo",
  segment_count: 1,
  segments: [{ start_extent: 0, ...seg }],
});
const vg = {
  name,
  id: id(),
  seqno: 1,
  format: "lvm2",
  status: ["RESIZEABLE", "READ", "WRITE"],
  flags: [],
  extent_size: extent,
  max_lv: 0,
  max_pv: 0,
  metadata_copies: 0,
  physical_volumes: pvs,
  logical_volumes: [
    lv("data", { extent_count: 5, type: "striped", stripe_count: 1, stripes: ["pv0", 0] }),
    lv("fast", {
      extent_count: 8,
      type: "striped",
      stripe_count: 2,
      stripe_size: 128,
      stripes: ["pv1", 0, "pv2", 0],
    }),
  ],
};
process.stdout.write(`${JSON.stringify({ kind: "vg", version: 1, vg, top: {}, pv_devices: [] })}\n`);
