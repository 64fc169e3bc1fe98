#!/usr/bin/env bash
# The demo: PVs on image files, LVM2-compatible metadata written to them, and reports,
# all through dvm's tools. Needs no root and no real disks.
set -euo pipefail
cd "$(dirname "$0")/.."
unset NODE_EXTRA_CA_CERTS || true
dvm() { node dist/dvm.mjs "$@"; }
tool() { local t=$1; shift; node "dist/$t.mjs" "$@"; }

work=$(mktemp -d /tmp/dvm-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
for i in 0 1 2; do truncate -s 64M "$work/pv$i.img"; done
devs="$work/pv0.img,$work/pv1.img,$work/pv2.img"

echo "== dvm pv create: label three 64 MiB image files as LVM2 PVs"
dvm pv create "$work/pv0.img" "$work/pv1.img" "$work/pv2.img"

echo
echo "== dvm report pvs: orphan PVs, LVM2's layout (pe_start 1 MiB, 1020 KiB metadata area)"
dvm report pvs --devices "$devs" -o pv_name,vg_name,pv_size,pe_start,pv_uuid

echo
echo "== dvm-tm restore: write VG metadata (a linear and a striped LV) from a vg document"
node scripts/demo-vg.mjs demo0 "$devs" | tool dvm-tm restore demo0 --devices "$devs"

echo
echo "== the seed's pipeline: dvm-discover find demo0 | dvm-tm read demo0 | dvm-report lvs"
tool dvm-discover find demo0 --devices "$devs" | tool dvm-tm read demo0 | tool dvm-report lvs

echo
echo "== dvm report vgs / segs, and JSON as scripts written for LVM2 expect it"
dvm report vgs --devices "$devs"
dvm report segs demo0 --devices "$devs" -o lv_name,segtype,stripes,stripe_size,seg_pe_ranges
dvm report lvs demo0 --devices "$devs" --reportformat json --units b --nosuffix -o lv_name,lv_size,devices

echo
echo "== dvm-tm verify: every metadata copy checked"
tool dvm-tm verify demo0 --devices "$devs" >/dev/null
