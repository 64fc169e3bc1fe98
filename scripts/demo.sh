#!/usr/bin/env bash
# The demo: PVs on image files, a VG and LVs made with dvm (LVM2's on-disk format,
# LVM2's allocation), reports as LVM2 prints them, and the seed's pipeline of tools.
# Needs no root and no real disks.
set -euo pipefail
cd "$(dirname "$0")/.."
unset NODE_EXTRA_CA_CERTS || true

work=$(mktemp -d /tmp/dvm-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
for i in 0 1 2; do truncate -s 64M "$work/pv$i.img"; done
devs="$work/pv0.img,$work/pv1.img,$work/pv2.img"
# The images are the only devices dvm looks at; the lock files stay in the scratch folder.
dvm() { node dist/dvm.mjs "$@" --devices "$devs" --lock-dir "$work/lock"; }
tool() { local t=$1; shift; node "dist/$t.mjs" "$@"; }

echo "== dvm pv create: label three 64 MiB image files as LVM2 PVs"
dvm pv create "$work/pv0.img" "$work/pv1.img" "$work/pv2.img"

echo
echo "== dvm report pvs: orphan PVs, LVM2's layout (first extent at 1 MiB)"
dvm report pvs -o pv_name,vg_name,pv_size,pe_start,pv_uuid

echo
echo "== dvm vg create / lv create: a VG, a linear LV and a 2-way striped LV"
dvm vg create demo0 "$work/pv0.img" "$work/pv1.img" "$work/pv2.img"
dvm lv create demo0/data --size 20m
dvm lv create demo0/fast --size 32m --type striped --stripes 2
dvm lv extend demo0/data --size +8m --on "$work/pv2.img"

echo
echo "== the seed's pipeline: dvm-discover find demo0 | dvm-tm read demo0 | dvm-report lvs"
tool dvm-discover find demo0 --devices "$devs" | tool dvm-tm read demo0 | tool dvm-report lvs

echo
echo "== dvm report vgs / segs, and JSON as scripts written for LVM2 expect it"
dvm report vgs
dvm report segs demo0 -o lv_name,segtype,stripes,stripe_size,seg_pe_ranges
dvm report lvs demo0 --reportformat json --units b --nosuffix -o lv_name,lv_size,devices

echo
echo "== a change shown, not made (--dry-run), then dvm-tm verify checks every metadata copy"
node dist/dvm.mjs lv remove demo0/fast --dry-run --json --devices "$devs" --lock-dir "$work/lock" |
  node -e 'const d=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log("would write seqno", d.vg.seqno, "with LVs:", d.vg.logical_volumes.map(l=>l.name).join(", "))'
tool dvm-tm verify demo0 --devices "$devs" >/dev/null
