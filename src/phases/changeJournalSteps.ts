/**
 * The change journal's steps: start the watcher before the hot sync's copies begin, use it in every
 * later pass (a listed copy of the paths changed since the last copy began, the full pass as the
 * fallback), and stop it once the cold sync's final copy is done.
 */
import type { Host } from "../adapters/host.js";
import { failure, shellQuote } from "../adapters/process.js";
import { rsyncListedArgs, rsyncListedPull } from "../adapters/rsyncListed.js";
import type { SshConnection } from "../adapters/ssh.js";
import {
  readWatcherLog,
  readWatcherMeta,
  startWatcher,
  stopWatcher,
  waitUntilQuiet,
  waitUntilReady,
  watcherAlive,
  type WatcherMeta,
} from "../adapters/watcher.js";
import type { JournalRecord } from "../engine/journal.js";
import { displayBytes } from "../engine/text.js";
import { join } from "node:path";
import type { Step, StepContext, StepResult } from "../engine/plan.js";
import { formatBytes, formatCount } from "../engine/format.js";
import {
  changesFor,
  lastCopyStart,
  incompleteLinkGroups,
  noEarlierCopy,
  namesFromFindOutput,
  parseChangeLog,
  trustFor,
  withParents,
  type ChangeLog,
} from "./changeJournal.js";

export const START_STEP = "change-journal:start";
export const STOP_STEP = "change-journal:stop";

/** Setting up watches walks every directory of the tree once: generous for a large store. */
const READY_TIMEOUT_MS = 30 * 60_000;

export interface ChangeJournalOptions {
  ssh: SshConnection;
  origin: Host;
  stateDir: string;
  dirs: readonly string[];
}

function healthy(meta: WatcherMeta, o: ChangeJournalOptions): boolean {
  const log = parseChangeLog(readWatcherLog(meta), meta.dirs);
  return (
    watcherAlive(meta) &&
    meta.origin === o.ssh.destination &&
    log.readyAt !== undefined &&
    !log.untrusted &&
    !log.ended
  );
}

/** Hot sync: make sure a watcher runs, with its watches set, before the copies start. */
export function startChangeJournalStep(o: ChangeJournalOptions): Step {
  return {
    id: START_STEP,
    title: "Start the change journal (inotifywait on the origin)",
    host: "both",
    commands: [`ssh ORIGIN inotifywait -m -r --csv -e ... ${o.dirs.join(" ")}  (detached)`],
    async run(ctx) {
      const running = readWatcherMeta(o.stateDir);
      if (running && healthy(running, o))
        return {
          summary: `already watching since ${running.startedAt}`,
          data: { watching: true, id: running.id, dirs: running.dirs },
        };
      stopWatcher(o.stateDir); // a dead or untrusted one: its log no longer counts
      const probe = await o.origin.sh(
        `command -v inotifywait >/dev/null || { echo NO-INOTIFYWAIT; exit 0; }
# Listed copies need the origin's rsync to take --delete-missing-args (3.1.0).
case "$(rsync --version 2>/dev/null | head -1 | awk '{print $3}')" in [0-2].*|3.0.*) echo OLD-RSYNC; exit 0 ;; esac
for d in ${o.dirs.map(shellQuote).join(" ")}; do [ -d "$d" ] && printf '%s\\n' "$d"; done; exit 0`,
        { signal: ctx.signal },
      );
      if (probe.exitCode !== 0) throw failure(o.origin.label, probe);
      if (probe.stdout.includes("NO-INOTIFYWAIT")) {
        return {
          summary:
            "inotifywait is not installed on the origin (package inotify-tools): the cold sync walks every file",
          data: { watching: false, reason: "no inotifywait" },
        };
      }
      if (probe.stdout.includes("OLD-RSYNC")) {
        return {
          summary: "the origin's rsync is older than 3.1 (no listed copies): every pass walks every file",
          data: { watching: false, reason: "rsync older than 3.1 on the origin" },
        };
      }
      const dirs = probe.stdout.split("\n").filter((d) => d !== "");
      if (dirs.length === 0)
        return { summary: "no data directory on the origin to watch", data: { watching: false } };
      const id = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
      ctx.logCommand("target", `detached: ssh ${o.ssh.destination} inotifywait -m -r ${dirs.join(" ")}`);
      const meta = startWatcher({ ssh: o.ssh, dirs, stateDir: o.stateDir, id });
      const state = await waitUntilReady(meta, { timeoutMs: READY_TIMEOUT_MS, signal: ctx.signal });
      if (state !== "ready") {
        const log = parseChangeLog(readWatcherLog(meta), meta.dirs);
        stopWatcher(o.stateDir);
        const why = log.untrusted ?? log.ended?.why ?? state;
        ctx.events.emit({
          type: "warning",
          step: START_STEP,
          message: `the change journal could not start (${why}): the cold sync will walk every file`,
        });
        return { summary: `not watching: ${why}`, data: { watching: false, reason: why } };
      }
      return {
        summary: `watching ${dirs.length} directories on the origin`,
        data: { watching: true, id, dirs },
      };
    },
  };
}

/** After the final copy (and in rollback): the journal has served. */
export function stopChangeJournalStep(stateDir: string): Step {
  return {
    id: STOP_STEP,
    title: "Stop the change journal",
    host: "target",
    commands: ["kill the detached inotifywait watcher"],
    run() {
      const meta = stopWatcher(stateDir);
      return Promise.resolve({
        summary: meta ? `stopped the watcher started at ${meta.startedAt}` : "no watcher was running",
      });
    },
  };
}

/** The watcher's log as the cold pass sees it, read once for all directories. */
export interface LogSnapshot {
  meta?: WatcherMeta;
  alive: boolean;
  log: ChangeLog;
  /** Bytes of the log read: later rounds read what came after. */
  size: number;
}

export function changeLogReader(stateDir: string): () => Promise<LogSnapshot> {
  let snapshot: Promise<LogSnapshot> | undefined;
  return () => (snapshot ??= Promise.resolve(readSnapshot(stateDir)));
}

/** What the log holds now, at once: events still in transit are read after the copy (laterEvents). */
function readSnapshot(stateDir: string): LogSnapshot {
  const meta = readWatcherMeta(stateDir);
  if (!meta) return { alive: false, log: { events: [] }, size: 0 };
  return { meta, alive: watcherAlive(meta), ...readLogFrom(meta, 0) };
}

/**
 * Once the origin is still, how long the log must have been silent before what it holds is taken
 * as complete. Events of the origin's last writes before its services stopped may still be in
 * transit (inotifywait writes each at once, and ssh carries it in milliseconds).
 */
const QUIET_MS = 250;

export interface JournaledCopyOptions {
  ssh: SshConnection;
  origin: Host;
  dir: string;
  bwlimitKiB: number;
  records: readonly JournalRecord[];
  pass: string;
  readLog: () => Promise<LogSnapshot>;
  /**
   * A hot pass: the origin serves, so changes keep coming. The pass copies what the journal held
   * when it began (and what that implies); what comes after is the next pass's.
   */
  serving?: boolean;
  /** The origin's side of the listed copies under nice/ionice. */
  nice?: boolean;
}

/**
 * A copy of one directory after its first: the listed copy when the journal is trusted for it,
 * else `full` (the walk of every file). The journal records which one ran and why.
 */
export function journaledRsyncStep(full: Step, o: JournaledCopyOptions): Step {
  return {
    ...full,
    commands: [
      `with a trusted change journal: ${["rsync", ...rsyncListedArgs({ ssh: o.ssh, dir: o.dir, paths: [], bwlimitKiB: o.bwlimitKiB, ...(o.nice ? { nice: true } : {}) })].map(shellQuote).join(" ")} < changed paths`,
      // The full pass's own commands, one per line as in its own plan.
      ...full.commands.map((c, i) => (i === 0 ? `else: ${c}` : c)),
    ],
    async run(ctx) {
      const listed = await listedCopy(ctx, o);
      if (typeof listed !== "string") return listed;
      // A hot pass's first copy is a full one by nature: nothing to point out.
      const first = o.serving && listed === noEarlierCopy(o.dir);
      if (!first) ctx.events.emit({ type: "info", message: `${o.dir}: full pass (${listed})` });
      const r = await full.run(ctx);
      return {
        summary: first ? r.summary : `${r.summary} (full pass: ${listed})`,
        data: { ...r.data, mode: "full", reason: listed },
      };
    },
  };
}

/**
 * At most this many listed rounds. A round copies what it knows while the origin is asked what
 * those paths imply (the content of new directories, the other names of hard-linked files); what
 * that finds, and any change that came in meanwhile, is the next round's list.
 */
const MAX_ROUNDS = 4;

/** The listed copy, or the reason it cannot be used. */
async function listedCopy(ctx: StepContext, o: JournaledCopyOptions): Promise<StepResult | string> {
  const t0 = Date.now();
  const snap = await o.readLog();
  const ms = { readLog: Date.now() - t0, parents: 0, newDirs: 0, links: 0, rsync: 0, quiet: 0 };
  const trust = trustFor({
    dir: o.dir,
    ...(snap.meta ? { watchedDirs: snap.meta.dirs } : {}),
    alive: snap.alive,
    log: snap.log,
    lastCopyStartMs: lastCopyStart(o.records, o.dir, o.pass),
  });
  if (!trust.trusted) return trust.reason;
  let changes = changesFor(o.dir, snap.log.events, trust.since);
  let offset = snap.size;
  const totals: ListedTotals = {
    listed: 0,
    changed: 0,
    transferredFiles: 0,
    transferredBytes: 0,
    deletedFiles: 0,
    linkWalks: 0,
  };
  let paths = new Set(changes.paths);
  let createdDirs = changes.createdDirs;
  totals.changed += changes.paths.size;
  for (let round = 1, copies = 0; ; round++) {
    if (changes.full) return changes.full;
    const list = withParents(paths);
    let implied: { paths: Set<string>; walked: boolean } = { paths: new Set(), walked: false };
    if (list.length > 0 || createdDirs.size > 0) {
      copies++;
      // The copy of what is known, and the questions to the origin about it, at once: each costs
      // a round trip, and what the questions find (rarely anything) is copied by the next round.
      const [copy, found] = await Promise.all([
        list.length ? checkedCopy(ctx, o, list, ms) : Promise.resolve(undefined),
        impliedPaths(o, paths, createdDirs, ctx.signal, ms),
      ]);
      if (typeof copy === "string") return copy;
      if (copy) {
        totals.listed += list.length;
        totals.transferredFiles += copy.transferredFiles;
        totals.transferredBytes += copy.transferredBytes;
        totals.deletedFiles += copy.deletedFiles;
      }
      if (found.walked) totals.linkWalks++;
      implied = found;
    }
    // Anything the log got since it was read: while the origin serves, that is the next pass's;
    // once it is still, the events that were in transit (the first round's copy ran meanwhile),
    // and any change it should not have made.
    const more = o.serving ? undefined : await laterEvents(snap.meta, offset, ctx.signal, ms);
    if (more) {
      offset = more.size;
      if (more.log.untrusted) return more.log.untrusted;
    }
    changes = changesFor(o.dir, more?.log.events ?? [], 0);
    totals.changed += changes.paths.size;
    paths = new Set([...implied.paths, ...changes.paths]);
    createdDirs = changes.createdDirs;
    if (paths.size === 0 && createdDirs.size === 0 && !changes.full) return done(o.dir, copies, totals, ms);
    if (round >= MAX_ROUNDS) return `the origin kept changing ${o.dir} during the final copy`;
  }
}

/**
 * The listed copy, once the origin has said that every listed parent is a real directory. rsync
 * resolves a listed `a/b/c` on the origin through whatever `a` and `a/b` are there: were one a
 * symlink (to /root, say), it would read from outside the data directory. Such a list is not used:
 * the full pass, which never follows a symlink, copies the directory instead.
 */
async function checkedCopy(
  ctx: StepContext,
  o: JournaledCopyOptions,
  list: string[],
  ms: ListedTimings,
): ReturnType<typeof copyListed> {
  const parents = new Set<string>();
  for (const p of list) {
    const slash = p.lastIndexOf("/");
    if (slash > 0) parents.add(p.slice(0, slash));
  }
  if (parents.size > 0) {
    const t0 = Date.now();
    const r = await o.origin.sh(
      `cd -- ${shellQuote(o.dir)} || exit 3
xargs -0 -r sh -c 'exec find "$@" -maxdepth 0 ! -type d -print0' sh 2>/dev/null; exit 0`,
      { input: toArgs(parents), signal: ctx.signal, stdoutEncoding: "latin1" },
    );
    ms.parents += Date.now() - t0;
    if (r.exitCode !== 0) throw failure(o.origin.label, r);
    const odd = r.stdout.split("\0").filter((x) => x !== "");
    if (odd.length)
      return `${displayBytes(join(o.dir, odd[0]!))} on the origin is no longer a directory (a symbolic link?): paths listed under it are copied by the full pass, which never follows one`;
  }
  return copyListed(ctx, o, list, ms);
}

/** One listed rsync round; a string when it failed (the caller falls back to the full pass). */
async function copyListed(
  ctx: StepContext,
  o: JournaledCopyOptions,
  list: string[],
  ms: ListedTimings,
): Promise<{ transferredFiles: number; transferredBytes: number; deletedFiles: number } | string> {
  ctx.logCommand(
    "target",
    `rsync --files-from (${list.length} paths) ${o.ssh.destination}:${o.dir}/ ${o.dir}/`,
  );
  const tr = Date.now();
  const { result, stats } = await rsyncListedPull({
    ssh: o.ssh,
    dir: o.dir,
    paths: list,
    bwlimitKiB: o.bwlimitKiB,
    ...(o.nice ? { nice: true } : {}),
    signal: ctx.signal,
    onProgress: (p) =>
      ctx.events.emit({
        type: "progress",
        step: `rsync:${o.dir}`,
        current: o.dir,
        bytesDone: p.bytes,
        percent: p.percent,
        filesDone: p.transferred,
      }),
  });
  ms.rsync += Date.now() - tr;
  if (result.exitCode !== 0)
    return `the listed copy ended with rsync exit ${result.exitCode}: ${result.stderr.trim().split("\n").pop() ?? ""}`;
  return stats;
}

/**
 * What a round's paths imply that they do not list: everything under the directories created
 * since, and every name of a hard-linked file whose names are not all listed (rsync -H links only
 * names copied in one run: the next round lists the whole group again).
 */
async function impliedPaths(
  o: JournaledCopyOptions,
  paths: ReadonlySet<string>,
  createdDirs: ReadonlySet<string>,
  signal: AbortSignal,
  ms: ListedTimings,
): Promise<{ paths: Set<string>; walked: boolean }> {
  const tw = Date.now();
  const inNewDirs = await createdDirContent(o, createdDirs, signal);
  ms.newDirs += Date.now() - tw;
  const tl = Date.now();
  const links = await otherLinkNames(o, new Set([...paths, ...inNewDirs]), signal);
  ms.links += Date.now() - tl;
  return { paths: new Set([...inNewDirs, ...links.names]), walked: links.walked };
}

interface ListedTotals {
  listed: number;
  changed: number;
  transferredFiles: number;
  transferredBytes: number;
  deletedFiles: number;
  /** Times the directory was walked for the other names of hard-linked files. */
  linkWalks: number;
}

/** Where the time went (ms): reading the log, new directories, hard links, rsync, waiting for the log's silence. */
type ListedTimings = {
  readLog: number;
  parents: number;
  newDirs: number;
  links: number;
  rsync: number;
  quiet: number;
};

function done(dir: string, rounds: number, t: ListedTotals, ms: ListedTimings): StepResult {
  return {
    summary: `${formatCount(t.changed)} changed paths (${formatCount(t.listed)} listed with their parents); moved ${formatCount(t.transferredFiles)} files, ${formatBytes(t.transferredBytes)}, deleted ${formatCount(t.deletedFiles)}`,
    data: { dir, mode: "journal", rounds, ...t, ms },
  };
}

/** The log's whole lines after `offset`, once it has been silent for QUIET_MS. */
async function laterEvents(
  meta: WatcherMeta | undefined,
  offset: number,
  signal: AbortSignal,
  ms: ListedTimings,
): Promise<{ log: ChangeLog; size: number }> {
  if (!meta) return { log: { events: [] }, size: offset };
  const t0 = Date.now();
  if (watcherAlive(meta) && !signal.aborted) await waitUntilQuiet(meta, QUIET_MS, 10_000);
  ms.quiet += Date.now() - t0;
  return readLogFrom(meta, offset);
}

/**
 * The log's whole lines after `offset` (a line being written is read the next time). Bytes all
 * along (latin1: one character per byte), so that names that are not UTF-8 survive.
 */
function readLogFrom(meta: WatcherMeta, offset: number): { log: ChangeLog; size: number } {
  const rest = readWatcherLog(meta).slice(offset);
  const whole = rest.slice(0, rest.lastIndexOf("\n") + 1);
  return { log: parseChangeLog(whole, meta.dirs), size: offset + whole.length };
}

/** Relative paths (latin1 strings of their bytes) as `./path\0` input for xargs -0. */
const toArgs = (paths: Iterable<string>): Buffer =>
  Buffer.from([...paths].map((p) => `./${p}\0`).join(""), "latin1");

/**
 * Everything under directories created since: files written into a new directory before
 * inotifywait had added its watch there raised no event of their own.
 */
async function createdDirContent(
  o: JournaledCopyOptions,
  dirs: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<string[]> {
  if (dirs.size === 0) return [];
  const r = await o.origin.sh(
    `cd -- ${shellQuote(o.dir)} || exit 3
xargs -0 -r sh -c 'exec find "$@" -print0' sh 2>/dev/null; exit 0`,
    { input: toArgs(dirs), signal, maxStdout: 256 << 20, stdoutEncoding: "latin1" },
  );
  if (r.exitCode !== 0) throw failure(o.origin.label, r);
  return r.stdout
    .split("\0")
    .filter((p) => p !== "")
    .map((p) => p.replace(/^\.\//, ""));
}

/**
 * The other names of changed files that have several (hard links). Names all created since (one
 * message delivered to several mailboxes) are all listed already; only when a link group is
 * incomplete (a new name for an old file) is the directory walked once, for files with links.
 */
async function otherLinkNames(
  o: JournaledCopyOptions,
  paths: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<{ names: string[]; walked: boolean }> {
  if (paths.size === 0) return { names: [], walked: false };
  const cd = `cd -- ${shellQuote(o.dir)} || exit 3`;
  const linked = await o.origin.sh(
    `${cd}
xargs -0 -r sh -c 'exec find "$@" -maxdepth 0 -type f -links +1 -printf "%i %n %p\\0"' sh 2>/dev/null; exit 0`,
    { input: toArgs(paths), signal, maxStdout: 256 << 20, stdoutEncoding: "latin1" },
  );
  if (linked.exitCode !== 0) throw failure(o.origin.label, linked);
  const inodes = incompleteLinkGroups(linked.stdout);
  if (inodes.length === 0) return { names: [], walked: false };
  const r = await o.origin.sh(
    `${cd}
find . -xdev -type f -links +1 -printf '%i %P\\0' | LC_ALL=C grep -zaE '^(${inodes.join("|")}) '; exit 0`,
    { signal, maxStdout: 256 << 20, stdoutEncoding: "latin1" },
  );
  if (r.exitCode !== 0) throw failure(o.origin.label, r);
  return { names: namesFromFindOutput(r.stdout), walked: true };
}
