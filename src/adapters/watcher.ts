/**
 * The change watcher: `inotifywait -m -r` on the origin, started over its own SSH connection by a
 * small detached process on the target that outlives the bm-migrate run which started it (the
 * administrator runs hot-sync, waits hours, then cold-sync). Nothing is written on the origin:
 * every event line travels back and is appended, with the target's time, to a log under
 * `<stateDir>/changes/`.
 *
 * Log lines (one per line, times in seconds since the epoch on the target's clock):
 *   `R <time>`          inotifywait reported its watches established (events from now on are caught)
 *   `E <time> <line>`   one line of inotifywait's --csv output: `WATCHED-DIR/,EVENTS,NAME`, each
 *                       field quoted as CSV when it holds a quote, a comma or a newline; a name
 *                       with a newline continues on the next E lines (parseChangeLog joins them)
 *   `W <time> <text>`   anything else inotifywait or ssh said (overflow, watch limit): untrusted
 *   `X <time> <why>`    the watcher ended (exit code, or "stopped")
 *
 * The times are for people to read. What orders events is their place in the log (a byte offset):
 * the log is appended in the order inotifywait read the origin's queue.
 *
 * Besides the data directories, the watcher watches a scratch directory of the tool's own on the
 * origin (`scratchDir`, under /run, made by the remote command and removed when it ends). A file
 * the tool creates there (a barrier) raises an event in the same inotify queue as BlueMind's
 * writes: once its line is in the log, every event queued before it is in the log too.
 */
import { spawn } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  fstatSync,
  openSync,
  readSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { shellQuote } from "./process.js";
import type { SshConnection } from "./ssh.js";
import { statePaths } from "../engine/paths.js";

/**
 * The inotify events that change what rsync would copy (reads are not watched), and the two that
 * say events were lost or a tree went away: inotifywait prints only the events named with -e, even
 * those the kernel always sends (its main loop tests `event->mask & events`, inotifywait.c, 3.14
 * to 4.23). Without them here, an overflow or an unmount is never printed (checked against 3.14,
 * 3.22 and 4.23: test/fixtures/inotifywait-overflow-*.txt).
 */
export const WATCHED_EVENTS =
  "create,modify,attrib,close_write,delete,moved_from,moved_to,delete_self,move_self,q_overflow,unmount";

/** The origin's scratch directory of the watcher `id`: only the tool's own barriers are made there. */
export function scratchDir(id: string): string {
  return `/run/bm-migrate-journal-${id}`;
}

/** What the running watcher is, kept in `<stateDir>/changes/watcher.json`. */
export interface WatcherMeta {
  id: string;
  pid: number;
  /** The event log (absolute path on the target). */
  log: string;
  /** The origin directories it watches. */
  dirs: string[];
  origin: string;
  startedAt: string;
  /** The origin's scratch directory it also watches (see scratchDir). */
  scratch?: string;
  /** Per data directory: its mounts (see mountsFor) before the watches were set. */
  mounts?: Record<string, string[]>;
}

const PROCESS_NAME = "bm-migrate-watcher";

function metaPath(stateDir: string): string {
  return statePaths(stateDir).watcherMeta;
}

/**
 * The remote command: inotifywait plus a guard that stops it when the SSH channel closes (a killed
 * watcher or a lost network must not leave an inotifywait behind on the origin, holding watches).
 * Without -q: its "Watches established." line is the moment from which nothing is missed.
 *
 * --csv, not --format: a name may hold a newline, and `--format '%e %w%f'` then prints what reads as
 * two events (a forged one among them). CSV quotes such a field (inotifywait's csv_escape, in every
 * version from 3.14, Debian 11, to 3.22, Debian 12), so each event's path can be read back exactly;
 * --format has no NUL or length in 3.14.
 */
export function remoteWatchCommand(dirs: readonly string[], scratch: string): string {
  const iw = [
    "nice",
    "-n",
    "10",
    "inotifywait",
    "-m",
    "-r",
    "--csv",
    "-e",
    WATCHED_EVENTS,
    "--",
    ...dirs,
    scratch,
  ]
    .map(shellQuote)
    .join(" ");
  const s = shellQuote(scratch);
  // An asynchronous list gets /dev/null as stdin unless redirected: hence fd 3. The scratch
  // directory is the watcher's own: made before, removed after (with any barrier left in it).
  const script = `mkdir -m 700 ${s} || exit 97; exec 3<&0; ${iw} & p=$!; { cat <&3; kill $p; } >/dev/null 2>&1 & c=$!; exec 3<&-; wait $p; r=$?; kill $c 2>/dev/null; rm -rf -- ${s}; exit $r`;
  return `sh -c ${shellQuote(script)}`;
}

/**
 * The watcher itself, run by bash in its own session: ssh's output lines are timestamped into the
 * log; when ssh ends the end is logged and the whole process group goes.
 * `sleep infinity |` keeps ssh's stdin open: its closing is what stops the remote inotifywait.
 */
const WRAPPER = String.raw`log=$1; shift
exec 9>>"$log"
sleep infinity | "$@" 2> >(while IFS= read -r l; do
    case $l in
      *"Watches established"*) printf 'R %s\n' "$EPOCHREALTIME" ;;
      "Setting up watches"*) ;;
      *) printf 'W %s %s\n' "$EPOCHREALTIME" "$l" ;;
    esac
  done >&9) | while IFS= read -r l; do printf 'E %s %s\n' "$EPOCHREALTIME" "$l"; done >&9
rc=$((PIPESTATUS[1]))
printf 'X %s exit %s\n' "$EPOCHREALTIME" "$rc" >&9
trap '' TERM
kill -TERM 0`;

export interface StartWatcherOptions {
  ssh: SshConnection;
  dirs: readonly string[];
  stateDir: string;
  id: string;
  /** Per data directory: its mounts before the watches were set. */
  mounts: Record<string, string[]>;
}

/** Start the detached watcher and record it. Returns at once: see waitUntilReady. */
export function startWatcher(o: StartWatcherOptions): WatcherMeta {
  mkdirSync(statePaths(o.stateDir).changes, { recursive: true, mode: 0o700 });
  const log = statePaths(o.stateDir).changeLog(o.id);
  writeFileSync(log, "", { mode: 0o600 });
  // Its own connection: the run's ControlMaster ends with the run.
  const opts = o.ssh.sshArgs().map((a) => (a.startsWith("ControlPath=") ? "ControlPath=none" : a));
  const scratch = scratchDir(o.id);
  const argv = ["ssh", ...opts, "-T", o.ssh.destination, "--", remoteWatchCommand(o.dirs, scratch)];
  const child = spawn("bash", ["-c", WRAPPER, PROCESS_NAME, log, ...argv], {
    detached: true, // its own session: it survives this run and is stopped as a group
    stdio: "ignore",
    env: { ...process.env, LC_ALL: "C" },
  });
  child.unref();
  if (!child.pid) throw new Error("could not start the change watcher (bash)");
  const meta: WatcherMeta = {
    id: o.id,
    pid: child.pid,
    log,
    dirs: [...o.dirs],
    origin: o.ssh.destination,
    startedAt: new Date().toISOString(),
    scratch,
    mounts: o.mounts,
  };
  writeFileSync(metaPath(o.stateDir), JSON.stringify(meta) + "\n", { mode: 0o600 });
  return meta;
}

export function readWatcherMeta(stateDir: string): WatcherMeta | undefined {
  try {
    return JSON.parse(readFileSync(metaPath(stateDir), "utf8")) as WatcherMeta;
  } catch {
    return undefined;
  }
}

/** Whether the recorded watcher process still runs (its pid not reused by another program). */
export function watcherAlive(meta: WatcherMeta): boolean {
  try {
    return readFileSync(`/proc/${meta.pid}/cmdline`, "utf8").includes(PROCESS_NAME);
  } catch {
    return false;
  }
}

/**
 * The log as a `latin1` string (one character per byte): file names in it are bytes, not always
 * UTF-8, and must reach rsync unchanged.
 */
export function readWatcherLog(meta: WatcherMeta): string {
  try {
    return readFileSync(meta.log).toString("latin1");
  } catch {
    return "";
  }
}

/** The log's length in bytes now (0 when it is gone). */
export function watcherLogSize(meta: WatcherMeta): number {
  try {
    return statSync(meta.log).size;
  } catch {
    return 0;
  }
}

/** The log from byte `offset` on, as `latin1`. */
export function readWatcherLogFrom(meta: WatcherMeta, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(meta.log, "r");
    const size = fstatSync(fd).size;
    if (size <= offset) return "";
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n).toString("latin1");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The barrier's remote command: the origin's mounts now, then a file made and removed in the
 * watcher's scratch directory. Its events enter the origin's inotify queue after every event of a
 * write finished before it (inotify queues an event in the system call that makes the change).
 */
export function barrierCommand(scratch: string, name: string): string {
  const f = shellQuote(`${scratch}/${name}`);
  return `cat /proc/self/mountinfo || exit 3
: > ${f} || exit 4
rm -f -- ${f}`;
}

/** Wait until the log holds the barrier `name` (a line naming it after `offset`); false on timeout. */
export async function waitForBarrier(
  meta: WatcherMeta,
  name: string,
  offset: number,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<boolean> {
  const t0 = Date.now();
  const needle = `${meta.scratch}/,`;
  let from = offset;
  for (;;) {
    const text = readWatcherLogFrom(meta, from);
    const last = text.lastIndexOf("\n");
    if (last >= 0) {
      for (const line of text.slice(0, last).split("\n"))
        if (line.startsWith("E ") && line.includes(needle) && line.endsWith(`,${name}`)) return true;
      from += last + 1;
    }
    if (Date.now() - t0 >= opts.timeoutMs || opts.signal?.aborted || !watcherAlive(meta)) return false;
    await sleep(5);
  }
}

/** Wait until the log says the watches are set (R) or the watcher gave up (W/X). */
export async function waitUntilReady(
  meta: WatcherMeta,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<"ready" | "failed" | "timed-out"> {
  const t0 = Date.now();
  while (Date.now() - t0 < opts.timeoutMs && !opts.signal?.aborted) {
    const text = readWatcherLog(meta);
    if (/^R /m.test(text)) return "ready";
    if (/^[WX] /m.test(text) || !watcherAlive(meta)) return "failed";
    await sleep(100);
  }
  return "timed-out";
}

/** Stop the watcher (its whole process group) and forget it. Harmless when none runs. */
export function stopWatcher(stateDir: string): WatcherMeta | undefined {
  const meta = readWatcherMeta(stateDir);
  if (!meta) return undefined;
  if (watcherAlive(meta)) {
    try {
      process.kill(-meta.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  }
  try {
    appendFileSync(meta.log, `X ${(Date.now() / 1000).toFixed(6)} stopped\n`);
  } catch {
    /* its log was removed */
  }
  rmSync(metaPath(stateDir), { force: true });
  return meta;
}
