#!/usr/bin/env bash
# The demo: PVs on image files, a VG and LVs made with dvm (LVM2's on-disk format and
# allocation), activated on the sim backend (a user-space device-mapper), data written
# through the LVs and found on the PVs, an active LV extended in LVM2's two-phase commit,
# an active LV moved to another PV by pvmove (polled by dvm-polld), reports as LVM2
# prints them, and the seed's pipeline of tools. No root, no real disks.
set -euo pipefail
cd "$(dirname "$0")/.."
unset NODE_EXTRA_CA_CERTS || true

work=$(mktemp -d /tmp/dvm-demo.XXXXXX)
# dvm pvmove starts the poll daemon on demand: on a socket in the scratch folder, stopped at the end.
export LVM_LVMPOLLD_SOCKET="$work/polld.sock" LVM_LVMPOLLD_PIDFILE="$work/polld.pid"
trap '[ -s "$work/polld.pid" ] && kill "$(cat "$work/polld.pid")" 2>/dev/null; rm -rf "$work"' EXIT
for i in 0 1 2; do truncate -s 64M "$work/pv$i.img"; done
devs="$work/pv0.img,$work/pv1.img,$work/pv2.img"
# The images are the only devices dvm looks at; the sim's state and the lock files stay
# in the scratch folder.
dvm() { node dist/dvm.cjs "$@" --devices "$devs" --lock-dir "$work/lock" --dm-backend sim --sim-dir "$work/sim"; }
tool() { local t=$1; shift; node "dist/$t.cjs" "$@"; }
dmexec() { tool dvm-dmexec "$@" --dm-backend sim --sim-dir "$work/sim"; }
step() { printf '\n== %s\n' "$*"; }

step "dvm pv create: label three 64 MiB image files as LVM2 PVs"
dvm pv create "$work/pv0.img" "$work/pv1.img" "$work/pv2.img"

step "dvm vg create / lv create: a VG, a linear LV and a 2-way striped LV"
dvm vg create demo0 "$work/pv0.img" "$work/pv1.img" "$work/pv2.img"
dvm lv create demo0/data --size 20m
dvm lv create demo0/fast --size 32m --type striped --stripes 2 --stripe-size 64k

step "dvm activate --dry-run: the device-mapper program, with its recovery branch"
dvm activate demo0 --dry-run

step "dvm activate demo0: the LVs become sim devices (LVM2's names and uuids)"
dvm activate demo0
dmexec state | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const d of s.devices) console.log(`${d.name}  ${d.uuid}  ${d.major}:${d.minor}`);'

step "the dm tables, as dmsetup table prints them"
for d in demo0-data demo0-fast; do
  printf '%s: ' "$d"
  echo '{"kind":"dm-program","version":1,"steps":[{"id":1,"op":"table","name":"'"$d"'"},{"id":2,"op":"end","result":"ok"}]}' |
    dmexec run | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0,"utf8")).steps[0].output)'
done

step "write 1 MiB through demo0-data and read it back; find it on the PV at pe_start (1 MiB)"
head -c 1048576 /dev/urandom >"$work/data.bin"
dvm dmsim write demo0-data 0 1m <"$work/data.bin"
dvm dmsim read demo0-data 0 1m | cmp - "$work/data.bin" && echo "read back through demo0-data: identical"
cmp -n 1048576 "$work/data.bin" <(tail -c +1048577 "$work/pv0.img") && echo "found on pv0.img at byte 1048576: identical"

step "write through the striped LV: 64 KiB chunks alternate between two PVs"
head -c 131072 /dev/urandom >"$work/stripe.bin"
dvm dmsim write demo0-fast 0 128k <"$work/stripe.bin"
dvm report segs demo0 -o lv_name,segtype,stripes,stripe_size,seg_pe_ranges
# fast starts at extent 5 of pv0 and extent 0 of pv1: byte 1 MiB + 5 x 4 MiB, and 1 MiB.
cmp -n 65536 "$work/stripe.bin" <(tail -c +$((21 * 1048576 + 1)) "$work/pv0.img") &&
  echo "first 64 KiB chunk: on pv0.img at 21 MiB"
cmp -n 65536 <(tail -c +65537 "$work/stripe.bin") <(tail -c +1048577 "$work/pv1.img") &&
  echo "second 64 KiB chunk: on pv1.img at 1 MiB"

step "extend the active LV demo0/data by 8 MiB: precommit; load and suspend; commit; resume"
dvm lv extend demo0/data --size +8m --dry-run | sed -n '2,$p'
dvm lv extend demo0/data --size +8m
dvm dmsim read demo0-data 0 1m | cmp - "$work/data.bin" && echo "data intact after the extend"

step "dvm pvmove: move the active LV demo0/data off pv0 onto pv2, polled by dvm-polld"
# The sim's mirrors copy 8 regions (16 MiB) a second here; a real disk's speed is the kernel's.
echo 8 >"$work/sim/mirror_rate"
dvm pvmove "$work/pv0.img" "$work/pv2.img" --lv data --interval 0.5
dvm report segs demo0 -o lv_name,segtype,seg_pe_ranges
dvm dmsim read demo0-data 0 1m | cmp - "$work/data.bin" && echo "data intact after the move"

step "dvm report lvs: the state and open characters of lv_attr come from the dm state"
dvm report lvs
dvm report lvs demo0 --reportformat json -o lv_name,lv_attr,lv_active,lv_size

step "the seed's pipeline: dvm-discover find demo0 | dvm-tm read demo0 | dvm-report lvs"
tool dvm-discover find demo0 --devices "$devs" | tool dvm-tm read demo0 | tool dvm-report lvs
echo "(without a dm state the report cannot know activation: 'X', as LVM2 with activation off)"
echo "... and with the sim's dm state added to the report's input:"
{ tool dvm-discover find demo0 --devices "$devs" | tool dvm-tm read demo0; dmexec state; } | tool dvm-report lvs

step "deactivate, and clean up: no devices are left"
dvm deactivate demo0
dmexec state | node -e 'console.log(`${JSON.parse(require("fs").readFileSync(0,"utf8")).devices.length} dm devices left`)'
dvm vg remove demo0 --force
tool dvm-tm verify demo0 --devices "$devs" 2>/dev/null || echo "demo0 is gone (dvm-tm verify: not found)"

step "done: every step above ran on image files in $work, without root"
