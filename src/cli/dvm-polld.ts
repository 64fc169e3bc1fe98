import { usageError } from "../lib/errors.js";
import { resolveSettings, runDaemon, runDump, socketPathOf } from "../polld/main.js";
import { parsePolldArgs } from "../polld/options.js";
import { type Io, type Tool, VERSION } from "./common.js";

const USAGE = `Usage: dvm-polld [-f] [-t SECS] [-s PATH] [-p PATH] [-B PATH] [-l LIST] [--poller dvm|lvm]
                 [-c CONFIG] [--kill-on-abort] [--silence-timeout SECS] [-- DVM-POLL-ARGS...]
       dvm-polld --dump [-s PATH]

The poll daemon: speaks lvmpolld's protocol (LVM2 clients included) and runs
one poller per LV (pvmove, mirror convert, snapshot merge) to completion,
however many clients ask for it; a finished job's result waits until a client
reads it.

  -f, --foreground       do not go to the background
  -t, --timeout SECS     exit after SECS idle seconds (no job running, no client
                         connected); 0 = never. Default 60 with --poller dvm,
                         never with --poller lvm (as lvmpolld)
  -s, --socket PATH      the socket (env LVM_LVMPOLLD_SOCKET; default
                         /run/lvm/lvmpolld.socket, where LVM2 clients look)
  -p, --pidfile PATH     the pidfile (env LVM_LVMPOLLD_PIDFILE; default /run/lvmpolld.pid)
  -B, --binary PATH      the poll command (default: dvm-poll beside dvm-polld or on
                         PATH; /sbin/lvm with --poller lvm)
  -l, --log LIST         more logging on stderr: all,info,wire,debug,cmd (warnings
                         and errors are always logged)
  --poller dvm|lvm       run "dvm-poll --type OP ... VG/LV" (default; env DVM_POLLD_POLLER)
                         or "lvm lvpoll ... VG/LV" exactly as LVM2's lvmpolld does
  -c, --config FILE      passed to every dvm-poll, as are the arguments after --
  --kill-on-abort        SIGTERM an LV's poller when a pvmove abort is registered for it
  --silence-timeout SECS a poller silent for 3 x SECS is declared failed (default
                         max(60, 2 x interval))
  --dump                 print the daemon's jobs (a client of a running daemon)
  -h, --help, -V, --version

Exit codes: 0 stopped cleanly, 1 usage or start-up error, 3 (--dump) no daemon
answering, 13 another daemon holds the pidfile. SIGTERM, SIGINT, SIGHUP,
SIGQUIT, SIGALRM stop the daemon: running pollers get SIGTERM.
`;

export const polldTool: Tool = {
  name: "dvm-polld",
  usage: USAGE,
  // With no arguments it starts the daemon, as lvmpolld does.
  argsOptional: true,
  run(argv: string[], io: Io) {
    const args = parsePolldArgs(argv);
    if (args.values.has("help")) {
      io.out(USAGE);
      return 0;
    }
    if (args.values.has("version")) {
      io.out(`dvm-polld ${VERSION}\n`);
      return 0;
    }
    if (args.dumpCount > 1) throw usageError("Can't perform more actions. Action already requested: dump");
    if (args.dumpCount && args.server)
      throw usageError("Invalid combination of client and server parameters.");
    if (args.dumpCount) return runDump(socketPathOf(args), io);
    // The daemon runs on in the event loop and exits the process itself when it stops.
    runDaemon(argv, resolveSettings(args), io);
    return undefined;
  },
};
