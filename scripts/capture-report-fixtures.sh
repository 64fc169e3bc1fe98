#!/usr/bin/env bash
# Capture LVM2's pvs/vgs/lvs output for test/report: build volume groups
# with real LVM2 (2.03.16) on loop devices, then record, per scenario,
#   devices.json     every visible device as a dvm `devices` DeviceEntry
#   metadata/VG.txt  each VG's committed metadata text
#   cases.json       [{args, status, stdout, error?}] for many report option sets
# into test/fixtures/report/SCENARIO/. Needs root, lvm2, losetup, python3.
# Activation is off, so no device-mapper is needed. Only the loop devices
# attached here are touched; they are detached on exit.
set -euo pipefail

[[ $EUID -eq 0 ]] || { echo "$0: needs root (loop devices)" >&2; exit 1; }
if ! lvm version 2>/dev/null | grep -q "LVM version: *2\.03\.16"; then
  echo "$0: warning: the fixtures describe LVM2 2.03.16; this is $(lvm version 2>/dev/null | head -1)" >&2
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/test/fixtures/report"
WORK=$(mktemp -d /tmp/rpt-capture.XXXXXX)
LOOPS=()

cleanup() {
  local l
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/lvm.conf" <<'EOF'
global { activation = 0 use_lvmpolld = 0 }
activation { udev_sync = 0 udev_rules = 0 }
devices { obtain_device_list_from_udev = 0 use_devicesfile = 0 }
backup { backup = 0 archive = 0 }
EOF
export LVM_SYSTEM_DIR="$WORK" LVM_SUPPRESS_FD_WARNINGS=1

# Reads a device's PV label and metadata-area headers (lvm2-on-disk-format.md
# §3-§7) and prints a DeviceEntry; with --text VG prints that VG's committed text.
cat >"$WORK/devinfo.py" <<'EOF'
import json, os, re, struct, sys

def fmt_id(raw):
    parts = [raw[0:6]] + [raw[6 + 4 * i:10 + 4 * i] for i in range(5)] + [raw[26:32]]
    return "-".join(parts)

def read_at(f, off, n):
    f.seek(off)
    return f.read(n)

def areas(sec, pos):
    out = []
    while True:
        off, size = struct.unpack_from("<QQ", sec, pos)
        pos += 16
        if off == 0:
            return out, pos
        out.append({"offset_bytes": off, "size_bytes": size})

def mda_info(f, start, size):
    h = read_at(f, start, 512)
    m = {"start_bytes": start, "size_bytes": size}
    if h[4:20] != b" LVM2 x[5A%r0N*>":
        m.update(state="bad", error="wrong magic")
        return m, None
    off, tsize, crc, flags = struct.unpack_from("<QQII", h, 40)
    if flags & 1:
        m["state"] = "ignored"
        return m, None
    if off == 0:
        m["state"] = "empty"
        return m, None
    first = min(tsize, size - off)
    text = read_at(f, start + off, first)
    if first < tsize:
        text += read_at(f, start + 512, tsize - first)
    text = text.split(b"\0")[0].decode("latin1")
    name = re.match(r"[^\s{]*", text).group(0)
    seqno = int(re.search(r"\nseqno = (\d+)", text).group(1))
    vg_id = re.search(r'\nid = "([^"]+)"', text).group(1)
    m.update(state="ok", vg_name=name, vg_id=vg_id, seqno=seqno,
             text_offset_bytes=off, text_size_bytes=tsize, checksum=crc)
    return m, text

def device(path):
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        head = read_at(f, 0, 2048)
        entry = {"path": path, "size_bytes": size}
        texts = {}
        for s in range(4):
            sec = head[s * 512:(s + 1) * 512]
            if sec[0:8] != b"LABELONE" or sec[24:32] != b"LVM2 001":
                continue
            offset = struct.unpack_from("<I", sec, 20)[0]
            uuid = fmt_id(sec[offset:offset + 32].decode("ascii"))
            dev_size = struct.unpack_from("<Q", sec, offset + 32)[0]
            data, pos = areas(sec, offset + 40)
            meta, pos = areas(sec, pos)
            ext_version, ext_flags = struct.unpack_from("<II", sec, pos)
            boot = areas(sec, pos + 8)[0] if ext_version >= 1 else []
            mdas = []
            for a in meta:
                m, text = mda_info(f, a["offset_bytes"], a["size_bytes"])
                mdas.append(m)
                if text is not None:
                    texts[m["vg_name"]] = text
            entry["pv"] = {"uuid": uuid, "label_sector": s, "device_size_bytes": dev_size,
                           "data_areas": data, "metadata_areas": meta, "bootloader_areas": boot,
                           "ext_version": ext_version, "ext_flags": ext_flags, "mdas": mdas}
            break
        return entry, texts

if sys.argv[1] == "--text":
    for p in sys.argv[3:]:
        t = device(p)[1].get(sys.argv[2])
        if t is not None:
            sys.stdout.write(t)
            break
    else:
        sys.exit("no metadata text for " + sys.argv[2])
else:
    json.dump([device(p)[0] for p in sys.argv[1:]], sys.stdout, indent=1)
    sys.stdout.write("\n")
EOF

# Turns the captured runs (one directory per case) into cases.json.
cat >"$WORK/cases.py" <<'EOF'
import json, os, sys
d = sys.argv[1]
cases = []
for name in sorted(os.listdir(d), key=int):
    c = os.path.join(d, name)
    args = open(os.path.join(c, "args"), "rb").read().decode().split("\0")[:-1]
    case = {"args": args,
            "status": int(open(os.path.join(c, "rc")).read()),
            "stdout": open(os.path.join(c, "out"), "rb").read().decode()}
    if case["status"] != 0:
        # LVM's error: the first line that is not a warning, or the last one
        # after the field list LVM prints for an unknown field.
        err = [e.strip() for e in open(os.path.join(c, "err"), "rb").read().decode().split("\n")]
        err = [e for e in err if e and not e.startswith("WARNING")]
        case["error"] = err[-1] if err[-1].startswith("Unrecognised") else err[0]
    cases.append(case)
json.dump(cases, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
EOF

# Turns a vgcfgbackup of placeholder linear LVs into LV types that cannot be
# created without device-mapper: the placeholders become the hidden sub-LVs
# (renamed, VISIBLE dropped) of a thin pool and volume, a snapshot, a mirror
# with a log, a RAID1 LV and a zero LV, which are added as LVM writes them.
cat >"$WORK/typify.py" <<'EOF'
import random, re, string, sys
text = open(sys.argv[1]).read()
rnd = random.Random(7)

def uid():
    a = string.ascii_letters + string.digits
    r = "".join(rnd.choice(a) for _ in range(32))
    return "-".join([r[0:6], r[6:10], r[10:14], r[14:18], r[18:22], r[22:26], r[26:32]])

renames = {"ptdata": "tp_tdata", "ptmeta": "tp_tmeta", "ppmspare": "lvol0_pmspare",
           "pmim0": "mir_mimage_0", "pmim1": "mir_mimage_1", "pmlog": "mir_mlog",
           "prmeta0": "r1_rmeta_0", "primage0": "r1_rimage_0",
           "prmeta1": "r1_rmeta_1", "primage1": "r1_rimage_1", "pcow": "snap"}
for old, new in renames.items():
    m = re.search(r"^\t\t%s \{\n.*?^\t\t\}\n" % old, text, re.S | re.M)
    body = m.group(0).replace("\t\t%s {" % old, "\t\t%s {" % new, 1)
    if new != "snap":
        body = body.replace(', "VISIBLE"]', "]")
    text = text[:m.start()] + body + text[m.end():]

def lv(name, visible, seg):
    status = '"READ", "WRITE", "VISIBLE"' if visible else '"READ", "WRITE"'
    lines = "".join("\t\t\t\t%s\n" % l for l in seg)
    return ("\n\t\t%s {\n\t\t\tid = \"%s\"\n\t\t\tstatus = [%s]\n\t\t\tflags = []\n\t\t\tsegment_count = 1\n"
            "\n\t\t\tsegment1 {\n%s\t\t\t}\n\t\t}\n") % (name, uid(), status, lines)

new = "".join([
    lv("tp", True, ["start_extent = 0", "extent_count = 2", "", 'type = "thin-pool"', 'metadata = "tp_tmeta"',
                    'pool = "tp_tdata"', "transaction_id = 1", "chunk_size = 128", 'discards = "passdown"',
                    "zero_new_blocks = 1"]),
    lv("thin1", True, ["start_extent = 0", "extent_count = 5", "", 'type = "thin"', 'thin_pool = "tp"',
                       "transaction_id = 0", "device_id = 1"]),
    lv("snapshot0", False, ["start_extent = 0", "extent_count = 2", "", 'type = "snapshot"', "chunk_size = 8",
                            'origin = "base"', 'cow_store = "snap"']),
    lv("mir", True, ["start_extent = 0", "extent_count = 1", "", 'type = "mirror"', "mirror_count = 2",
                     'mirror_log = "mir_mlog"', "region_size = 1024", "", "mirrors = [",
                     '"mir_mimage_0", 0,', '"mir_mimage_1", 0', "]"]),
    lv("r1", True, ["start_extent = 0", "extent_count = 1", "", 'type = "raid1"', "device_count = 2",
                    "region_size = 1024", "", "raids = [", '"r1_rmeta_0", "r1_rimage_0",',
                    '"r1_rmeta_1", "r1_rimage_1"', "]"]),
    lv("zero1", True, ["start_extent = 0", "extent_count = 3", "", 'type = "zero"']),
])
m = re.search(r"^\tlogical_volumes \{\n.*?^\t\}\n", text, re.S | re.M)
text = text[:m.end() - len("\t}\n")] + new + text[m.end() - len("\t}\n"):]
text = re.sub(r"seqno = (\d+)", lambda s: "seqno = %d" % (int(s.group(1)) + 1), text, count=1)
open(sys.argv[2], "w").write(text)
EOF

# ---------------------------------------------------------------- helpers

# attach VAR NAME SIZE: a fresh sparse image on a new loop device, whose path goes into VAR.
attach() {
  truncate -s "$3" "$WORK/$2.img"
  local dev
  dev=$(losetup -f --show "$WORK/$2.img")
  LOOPS+=("$dev")
  printf -v "$1" '%s' "$dev"
}

detach() {
  local l keep=()
  losetup -d "$1"
  for l in "${LOOPS[@]}"; do [[ $l == "$1" ]] || keep+=("$l"); done
  LOOPS=("${keep[@]}")
}

DEVS=""  # the --devices list of the scenario being built
l() { lvm "$@" --devices "$DEVS" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; return 1; }; }

NCASE=0
CASEDIR=""
# run ARGS...: one report command, recorded as a case.
run() {
  local c="$CASEDIR/$NCASE"
  mkdir -p "$c"
  printf '%s\0' "$@" >"$c/args"
  set +e
  lvm "$@" --devices "$DEVS" >"$c/out" 2>"$c/err"
  echo $? >"$c/rc"
  set -e
  NCASE=$((NCASE + 1))
}

# The option sets every scenario is captured with.
common_cases() {
  local k u units
  for k in pvs vgs lvs "lvs --segments"; do
    # Every unit for pvs and lvs; the same formatting code serves vgs and segments.
    units="b s k m g t h r H K M B S"
    [[ $k == pvs || $k == lvs ]] || units="b s m h K"
    # shellcheck disable=SC2086
    {
      run $k
      for u in $units; do run $k --units $u; done
      run $k --nosuffix
      run $k --units b --nosuffix
      run $k --units m --nosuffix
      run $k --units h --nosuffix
      run $k --noheadings
      run $k --noheadings --nosuffix --units k
      run $k --separator ,
      run $k --separator :: --noheadings
      run $k --separator ' | ' --units s
      run $k --reportformat json
      run $k --reportformat json --units b --nosuffix
      run $k --reportformat json --units m
      run $k --reportformat json --noheadings --separator ,
    }
  done
  local pvf=pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free,pv_uuid,pe_start,pv_pe_count,pv_pe_alloc_count,dev_size,pv_tags
  local vgf=vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free,vg_uuid,vg_extent_size,vg_extent_count,vg_free_count,vg_seqno,vg_tags
  local lvf=lv_name,lv_attr,lv_size,lv_uuid,lv_tags,pool_lv,origin,seg_count
  local sgf=segtype,stripes,stripe_size,seg_start,seg_size,seg_pe_ranges,devices
  run pvs -o $pvf
  run pvs -o $pvf --units b
  run pvs -o $pvf --reportformat json
  run pvs -o $pvf --reportformat json --units s --nosuffix
  run pvs -o +pv_uuid,dev_size
  run pvs -o name,size,free,attr,uuid,fmt,tags,pe_count
  run pvs -o name,size,free,attr,uuid,fmt,tags,pe_count,alloc_count
  run pvs -o PV_NAME,Pv_Size,pvfree,p_v_attr
  run pvs -o pv_name,pv_missing,pv_mda_count,pv_mda_used_count,pv_used,pv_in_use,pv_allocatable,pv_exported
  run pvs -o pv_name -o +pv_size -o -pv_name
  run pvs -o pv_name,vg_name,vg_attr,vg_size,vg_uuid
  run vgs -o $vgf
  run vgs -o $vgf --units k
  run vgs -o $vgf --reportformat json
  run vgs -o name,size,free,attr,uuid,tags,seqno,extent_size,extent_count,free_count,fmt
  run vgs -o +vg_uuid,vg_extent_size --units s
  run vgs -o vg_name,pv_name,pv_size
  run vgs -o vg_name,lv_name,lv_size,lv_attr
  run vgs -o vg_name,seg_size,devices --reportformat json
  run vgs -o vg_name,vg_missing_pv_count,max_lv,max_pv,vg_partial,vg_exported,vg_permissions,vg_allocation_policy,vg_mda_count,vg_mda_used_count,vg_mda_copies
  run lvs -o $lvf
  run lvs -o $lvf,vg_name --reportformat json
  run lvs -o lv_name,$sgf
  run lvs -o lv_name,$sgf --units b --nosuffix
  run lvs -o lv_name,$sgf --reportformat json
  run lvs -o +devices
  run lvs -o +seg_start_pe,seg_size_pe,seg_le_ranges
  run lvs -o name,size,attr,uuid,tags,count
  run lvs -o LV_NAME,Lv_Size,vgname
  run lvs -o lv_name,lv_full_name,lv_path,lv_dm_path,lv_active,lv_permissions,lv_allocation_policy,lv_skip_activation,lv_fixed_minor
  run pvs -o pv_name,vg_name,vg_fmt,vg_uuid,vg_attr,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,pv_count,lv_count,snap_count,vg_seqno,vg_tags,max_lv,max_pv
  run vgs -o count
  run lvs --segments -o name
  run vgs rptnosuch
  run lvs -o lv_name,lv_name --separator /
  run lvs -o lv_name,vg_name,vg_size,vg_free,pv_count --units m
  run lvs --segments -o +devices
  run lvs --segments -o +seg_pe_ranges,stripe_size --units k
  run lvs --segments -o start,size,count,stripes,LV_NAME,pe_ranges
  run lvs --segments -o $lvf,$sgf --reportformat json --units s
  run lvs --segments -o lv_name,seg_start,seg_start_pe,seg_size,seg_size_pe,seg_tags --units b
}

# capture SCENARIO VG...: write the fixture from the scenario's current state.
capture() {
  local name=$1
  shift
  local dir="$OUT/$name"
  rm -rf "$dir"
  mkdir -p "$dir/metadata"
  CASEDIR="$WORK/cases-$name"
  rm -rf "$CASEDIR"
  NCASE=0
  local -a devs
  IFS=, read -r -a devs <<<"$DEVS"
  python3 "$WORK/devinfo.py" "${devs[@]}" >"$dir/devices.json"
  local vg
  for vg in "$@"; do python3 "$WORK/devinfo.py" --text "$vg" "${devs[@]}" >"$dir/metadata/$vg.txt"; done
  common_cases
  scenario_cases
  python3 "$WORK/cases.py" "$CASEDIR" >"$dir/cases.json"
  echo "captured $name: $NCASE cases" >&2
}

# ---------------------------------------------------------------- scenarios

# Linear LVs, one named "1", attribute variants, an orphan PV, odd device sizes.
scenario_linear() {
  local a b c
  attach a lin-a 64M
  attach b lin-b 52236K
  attach c lin-c 20980K
  DEVS="$a,$b,$c"
  l pvcreate "$a" "$b" "$c"
  l vgcreate rptlin "$a" "$b"
  l lvcreate -an -Zn -L 8m -n lv1 rptlin
  l lvcreate -an -Zn -L 4m -n 1 rptlin
  l lvcreate -an -Zn -L 12m -n data rptlin "$b"
  l lvcreate -an -Zn -L 4m -pr -n ro rptlin
  l lvcreate -an -Zn -L 4m --alloc contiguous -n contig rptlin
  l lvcreate -an -Zn -L 4m -ky -n skipped rptlin
  l lvcreate -an -Zn -L 4m -My --major 253 --minor 200 -n fixed rptlin
  l lvcreate -an -Zn -L 4m --alloc anywhere -n anyw rptlin
  scenario_cases() {
    run pvs "$a"
    run pvs "$c" "$a"
    run vgs rptlin
    run lvs rptlin
    run lvs rptlin/lv1
    run lvs rptlin/nosuch
    run lvs rptlin/lv1 rptnosuch/lv1
    run lvs rptlin/1 rptlin/data
    run lvs --segments rptlin/data
    run lvs rptlin/lv1 rptlin
  }
  capture linear rptlin
}

# Striped LVs: 2 and 3 stripes at 64 KiB, a striped LV extended by a linear segment.
scenario_striped() {
  local a b c
  attach a str-a 64M
  attach b str-b 64M
  attach c str-c 64M
  DEVS="$a,$b,$c"
  l pvcreate "$a" "$b" "$c"
  l vgcreate rptstr "$a" "$b" "$c"
  l lvcreate -an -Zn -L 8m -n lin rptstr "$c"
  l lvcreate -an -Zn -i2 -I64k -L 16m -n st2 rptstr "$a" "$b"
  l lvcreate -an -Zn -i3 -I64k -L 24m -n st3 rptstr
  l lvcreate -an -Zn -i2 -I128k -l 2 -n st2b rptstr "$b" "$c"
  l lvextend -i1 -l +1 rptstr/st2b "$a"
  scenario_cases() {
    run lvs --segments rptstr/st3
    run lvs -o lv_name,stripes,stripe_size,devices rptstr/st2 rptstr/st2b
  }
  capture striped rptstr
}

# Several segments over several PVs, and gaps left by removed LVs.
scenario_multiseg() {
  local a b c
  attach a ms-a 32M
  attach b ms-b 32M
  attach c ms-c 32M
  DEVS="$a,$b,$c"
  l pvcreate "$a" "$b" "$c"
  l vgcreate rptms "$a" "$b" "$c"
  l lvcreate -an -Zn -l 3 -n lva rptms "$a"
  l lvcreate -an -Zn -l 2 -n lvb rptms "$a"
  l lvcreate -an -Zn -l 2 -n lvc rptms "$a"
  l lvextend -l +4 rptms/lva "$b"
  l lvremove -y rptms/lvb
  l lvcreate -an -Zn -l 2 -n gap1 rptms "$b"
  l lvcreate -an -Zn -l 1 -n gap2 rptms "$b"
  l lvremove -y rptms/gap1
  l lvcreate -an -Zn -l 6 -n lvd rptms "$a:3-4" "$b:4-5" "$c:0-1"
  l lvextend -l +2 rptms/lvc "$c:5-6"
  l lvextend -l +1 rptms/lvc "$c:2"
  scenario_cases() {
    run lvs --segments rptms/lvd rptms/lvc
    run pvs "$b"
  }
  capture multiseg rptms
}

# PV, VG and LV tags (LVM prints them sorted), a VG with allocation policy cling.
scenario_tags() {
  local a b
  attach a tag-a 64M
  attach b tag-b 64M
  DEVS="$a,$b"
  l pvcreate "$a" "$b"
  l vgcreate --addtag vtag_z --addtag vtag.a --alloc cling rpttag "$a" "$b"
  l pvchange --addtag ptag1 --addtag Ptag0 "$a"
  l pvchange --addtag pt/x=y "$b"
  l lvcreate -an -Zn -L 8m --addtag ltb --addtag lta --addtag l+t_x-1 -n tagged rpttag
  l lvcreate -an -Zn -L 4m -n plain rpttag
  l lvcreate -an -Zn -L 4m --addtag only -n one rpttag
  scenario_cases() {
    run lvs -o lv_name,lv_tags,vg_tags --reportformat json
    run pvs -o pv_name,pv_tags --separator ";" --noheadings
  }
  capture tags rpttag
}

# Two metadata areas per PV, and a PV with none, in one VG.
scenario_mda() {
  local a b c
  attach a mda-a 64M
  attach b mda-b 48M
  attach c mda-c 40M
  DEVS="$a,$b,$c"
  l pvcreate --pvmetadatacopies 2 "$a" "$b"
  l pvcreate --pvmetadatacopies 0 "$c"
  l vgcreate rptmda "$a" "$b" "$c"
  l lvcreate -an -Zn -L 20m -n big rptmda
  l lvcreate -an -Zn -L 36m -n zero rptmda "$c"
  scenario_cases() {
    run pvs -o pv_name,pv_mda_count,pv_mda_used_count,pv_mda_size,pe_start,pv_ba_start,pv_ba_size
    run vgs -o vg_name,vg_mda_count,vg_mda_used_count,vg_mda_copies
  }
  capture mda rptmda
}

# Non-default extent sizes: 1 MiB and 128 KiB, LV sizes that need rounding marks.
scenario_extsize() {
  local a b
  attach a ext-a 64M
  attach b ext-b 30M
  DEVS="$a,$b"
  l pvcreate "$a" "$b"
  l vgcreate -s 1m rptext1m "$a"
  l vgcreate -s 128k rptext128k "$b"
  l lvcreate -an -Zn -l 1 -n one rptext1m
  l lvcreate -an -Zn -l 37 -n odd rptext1m
  l lvcreate -an -Zn -l 1 -n e1 rptext128k
  l lvcreate -an -Zn -l 9 -n e9 rptext128k
  l lvcreate -an -Zn -l 11 -n e11 rptext128k
  l lvcreate -an -Zn -l 13 -n e13 rptext128k
  l lvcreate -an -Zn -l 81 -n e81 rptext128k
  l lvcreate -an -Zn -i1 -l 3 -n e3 rptext128k
  scenario_cases() {
    run vgs rptext128k
    run lvs rptext1m rptext128k
    run lvs -o lv_name,lv_size --units k rptext128k
  }
  capture extsize rptext1m rptext128k
}

# A VG with a missing PV: built on two devices, captured with one detached.
scenario_missing() {
  local a b c
  attach a mis-a 64M
  attach b mis-b 64M
  attach c mis-c 24M
  DEVS="$a,$b,$c"
  l pvcreate "$a" "$b" "$c"
  l vgcreate rptmis "$a" "$b"
  l lvcreate -an -Zn -l 2 -n onA rptmis "$a"
  l lvcreate -an -Zn -l 3 -n onB rptmis "$b"
  l lvcreate -an -Zn -i2 -l 2 -n st rptmis
  l lvcreate -an -Zn -l 16 -n span rptmis "$a" "$b"
  detach "$b"
  DEVS="$a,$c"
  scenario_cases() {
    run lvs --segments rptmis/span
    run pvs "$a"
  }
  capture missing rptmis
}

# Orphan PVs only (0, 1, 2 metadata areas, a 2 MiB data alignment) and an empty VG.
scenario_orphans() {
  local a b c d
  attach a orph-a 64M
  attach b orph-b 20M
  attach c orph-c 34304K
  attach d orph-d 16M
  DEVS="$a,$b,$c,$d"
  l pvcreate --dataalignment 2m "$a"
  l pvcreate --pvmetadatacopies 0 "$b"
  l pvcreate --pvmetadatacopies 2 "$c"
  l pvcreate "$d"
  l vgcreate rptempty "$d"
  scenario_cases() {
    run lvs rptempty
    run lvs rptempty --reportformat json
    run lvs --segments rptempty
    run pvs "$b" "$a"
  }
  capture orphans rptempty
}

# Thin pool and volume, snapshot, mirror, RAID1 and zero LVs with their hidden
# sub-LVs (see typify.py), restored with vgcfgrestore; reported with and without -a.
scenario_types() {
  local a b spec
  attach a typ-a 32M
  attach b typ-b 40M
  DEVS="$a,$b"
  l pvcreate "$a" "$b"
  l vgcreate rpttyp "$a" "$b"
  for spec in base:2 lin:1 ptdata:2 ptmeta:1 ppmspare:1 pcow:1 pmim0:1 pmim1:1 pmlog:1 prmeta0:1 primage0:1 \
    prmeta1:1 primage1:1; do
    l lvcreate -an -Zn -l "${spec#*:}" -n "${spec%%:*}" rpttyp
  done
  l vgcfgbackup -f "$WORK/typ.vg" rpttyp
  python3 "$WORK/typify.py" "$WORK/typ.vg" "$WORK/typ2.vg"
  l vgcfgrestore --force -f "$WORK/typ2.vg" rpttyp
  scenario_cases() {
    local k
    for k in lvs "lvs --segments"; do
      # shellcheck disable=SC2086
      {
        run $k -a
        run $k -a --reportformat json
        run $k -a --units k --separator ,
        run $k -a -o +devices,seg_pe_ranges
      }
    done
    run lvs -a -o lv_name,lv_attr,lv_path,lv_permissions,origin,pool_lv,data_lv,metadata_lv,mirror_log,move_pv,lv_size
    run lvs -a --segments -o lv_name,segtype,stripes,stripe_size,region_size,chunk_size,seg_size,devices
    run lvs -a -o lv_name,lv_full_name,lv_dm_path,seg_count,lv_active,lv_device_open
    run lvs rpttyp/tp_tdata rpttyp/snap
    run lvs rpttyp/snapshot0
    run pvs -o +pv_used,pv_pe_alloc_count
  }
  capture types rpttyp
}

scenario_linear
scenario_striped
scenario_multiseg
scenario_tags
scenario_mda
scenario_extsize
scenario_missing
scenario_orphans
scenario_types

# The fixtures are JSON under test/, which the repository's linter checks: give them its layout.
if [[ -x "$ROOT/node_modules/.bin/biome" ]]; then
  "$ROOT/node_modules/.bin/biome" format --write "$OUT" >/dev/null
else
  echo "$0: warning: biome is not installed (npm ci); the fixtures are not formatted" >&2
fi
