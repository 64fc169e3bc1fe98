import { labelDevices, unlabelDevices } from "../discover/label.js";
import { devicesDoc, findVg, scan } from "../discover/scan.js";
import { compileFilter, type DvmConfig } from "../lib/config.js";
import { toJson } from "../lib/docio.js";
import { usageError } from "../lib/errors.js";
import {
  flag,
  type Io,
  lockOptions,
  type Parsed,
  parse,
  parseSize,
  scanScope,
  str,
  type Tool,
  warnTo,
  withGlobalLock,
} from "./common.js";

const USAGE = `Usage: dvm-discover COMMAND [OPTIONS]

Find LVM2 physical volumes and write or wipe their labels. Prints JSON.

Commands:
  scan                 every block device (or --devices), as a devices document
  find VG              the devices of one volume group, as a devices document;
                       PVs its metadata names but no device carries are listed as missing
  label DEV...         make DEV a PV, as pvcreate does  [--metadata-size SIZE] [--force] [--dry-run]
  unlabel DEV...       wipe the PV label, as pvremove does  [--force] [--dry-run]
                       (both hold LVM2's global lock, P_global in --lock-dir; --nowait: exit 5
                       instead of waiting for it)

Options:
  --devices DEV[,DEV...]  look only at these devices or image files
  -c, --config FILE       JSON config (devices.filter: ["a|REGEX|", "r|REGEX|"], devices.scan)
  --json                  errors also as a JSON object on stderr
  --help, --version
`;

const OPTIONS = {
  "metadata-size": { type: "string" },
  force: { type: "boolean" },
  "dry-run": { type: "boolean" },
  nowait: { type: "boolean" },
} as const;

/** pvcreate's work as label and the wrapper's pv create ask for it: under LVM2's global lock. */
export function labelFromArgs(p: Parsed, devs: string[]) {
  const m = str(p, "metadata-size");
  const metadataSize = m === undefined ? undefined : parseSize(m, "--metadata-size");
  const opts = { metadataSize, force: flag(p, "force"), dryRun: flag(p, "dry-run") };
  return withGlobalLock(lockOptions(p), () => labelDevices(devs, opts));
}

/** pvremove's work as unlabel and the wrapper's pv remove ask for it: under LVM2's global lock. */
export function unlabelFromArgs(p: Parsed, devs: string[]) {
  const opts = { force: flag(p, "force"), dryRun: flag(p, "dry-run") };
  return withGlobalLock(lockOptions(p), () => unlabelDevices(devs, opts));
}

export function scanFrom(config: DvmConfig, devices: string[] | undefined) {
  const filter = config.devices?.filter ? compileFilter(config.devices.filter) : undefined;
  return scan({ devices, filter });
}

export const discoverTool: Tool = {
  name: "dvm-discover",
  usage: USAGE,
  run(argv: string[], io: Io) {
    const p = parse(argv, OPTIONS);
    const [cmd, ...args] = p.positionals;
    const { devices, config } = scanScope(p);
    switch (cmd) {
      case "scan": {
        if (args.length) throw usageError(`scan takes no arguments (got "${args[0]}")`);
        io.out(toJson(devicesDoc(scanFrom(config, devices))));
        return 0;
      }
      case "find": {
        if (args.length !== 1) throw usageError("find needs exactly one VG name");
        const { doc } = findVg(scanFrom(config, devices), args[0]!);
        const warn = warnTo(io, "dvm-discover");
        for (const u of doc.vgs[0]!.missing_pv_uuids) warn(`volume group "${args[0]}": PV ${u} not found`);
        io.out(toJson(doc));
        return 0;
      }
      case "label": {
        if (!args.length) throw usageError("label needs at least one device");
        const labelled = labelFromArgs(p, args);
        io.out(toJson(flag(p, "dry-run") ? { dry_run: true, labelled } : { labelled }));
        return 0;
      }
      case "unlabel": {
        if (!args.length) throw usageError("unlabel needs at least one device");
        const unlabelled = unlabelFromArgs(p, args);
        io.out(toJson(flag(p, "dry-run") ? { dry_run: true, unlabelled } : { unlabelled }));
        return 0;
      }
      case undefined:
        throw usageError("missing command");
      default:
        throw usageError(`unknown command "${cmd}"`);
    }
  },
};
