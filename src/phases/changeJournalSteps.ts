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
  barrierCommand,
  readWatcherLog,
  readWatcherLogFrom,
  readWatcherMeta,
  startWatcher,
  stopWatcher,
  waitForBarrier,
  waitUntilReady,
  watcherAlive,
  watcherLogSize,
  type WatcherMeta,
} from "../adapters/watcher.js";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { statePaths } from "../engine/paths.js";
import type { JournalRecord } from "../engine/journal.js";
import { displayBytes } from "../engine/text.js";
import { join } from "node:path";
import type { Step, StepContext, StepResult } from "../engine/plan.js";
import { formatBytes, formatCount } from "../engine/format.js";
import {
  changesFor,
  lastCopyStart,
  incompleteLinkGroups,
  mountChange,
  mountsFor,
  noEarlierCopy,
  namesFromFindOutput,
  outsideLinked,
  parseChangeLog,
  outsideLinksIn,
  trustFor,
  withParents,
  type ChangeLog,
} from "./changeJournal.js";

export const START_STEP = "change-journal:start";
export const LINKS_STEP = "change-journal:links";
export const STOP_STEP = "change-journal:stop";

/** Setting up watches walks every directory of the tree once: generous for a large store. */
const READY_TIMEOUT_MS = 30 * 60_000;

export interface ChangeJournalOptions {
  ssh: SshConnection;
  origin: Host;
  stateDir: string;
  dirs: readonly string[];
}

/** The watcher's whole log, read with its scratch directory's marks set apart. */
export function parseWatcherLog(meta: WatcherMeta, text = readWatcherLog(meta), base = 0): ChangeLog {
  return parseChangeLog(text, meta.dirs, { base, ...(meta.scratch ? { scratch: meta.scratch } : {}) });
}

function healthy(meta: WatcherMeta, o: ChangeJournalOptions): boolean {
  const log = parseWatcherLog(meta);
  return (
    // One started by an older release has no barrier directory nor mounts to compare with.
    meta.scratch !== undefined &&
    meta.mounts !== undefined &&
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
      // The mounts before the watches are set: the final copy's barrier compares them again (a
      // filesystem mounted under a data directory afterwards is written to without any event).
      const mountinfo = await o.origin.sh("cat /proc/self/mountinfo", { signal: ctx.signal });
      if (mountinfo.exitCode !== 0) throw failure(o.origin.label, mountinfo);
      const mounts = Object.fromEntries(dirs.map((d) => [d, mountsFor(d, mountinfo.stdout)]));
      const id = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
      ctx.logCommand("target", `detached: ssh ${o.ssh.destination} inotifywait -m -r ${dirs.join(" ")}`);
      const meta = startWatcher({ ssh: o.ssh, dirs, stateDir: o.stateDir, id, mounts });
      const state = await waitUntilReady(meta, { timeoutMs: READY_TIMEOUT_MS, signal: ctx.signal });
      if (state !== "ready") {
        const log = parseWatcherLog(meta);
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

/** Where the last inventory of files with a name outside the data directories is kept. */
const outsideLinksFile = (stateDir: string): string =>
  join(statePaths(stateDir).changes, "outside-links.json");

/**
 * The files of the data directories that also have a name outside them (absolute, latin1), as the
 * last hot sync found them; undefined when none was made.
 */
export function readOutsideLinks(stateDir: string): string[] | undefined {
  try {
    const j = JSON.parse(readFileSync(outsideLinksFile(stateDir), "latin1")) as { paths?: unknown };
    return Array.isArray(j.paths) ? j.paths.filter((p): p is string => typeof p === "string") : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Hot sync, once the journal watches: every file of the data directories that has a name outside
 * them (a hard link from /root, /tmp...). A write through that other name raises no event in the
 * watched trees, so the final copy and the downtime's verification always take these files, as
 * if they had changed. A link made after this inventory is not known: check says so.
 */
export function outsideLinksStep(o: ChangeJournalOptions): Step {
  const find = `find ${o.dirs.map(shellQuote).join(" ")} -type f -links +1 -printf '%D:%i %n %p\\0'`;
  return {
    id: LINKS_STEP,
    title: "Find the data files that also have a name outside the data directories",
    host: "origin",
    commands: [find],
    async run(ctx) {
      if (!readWatcherMeta(o.stateDir)) return { summary: "no change journal: nothing to look for" };
      const r = await o.origin.sh(`nice -n 10 ${find} 2>/dev/null; exit 0`, {
        signal: ctx.signal,
        maxStdout: 256 << 20,
        stdoutEncoding: "latin1",
      });
      if (r.exitCode !== 0) throw failure(o.origin.label, r);
      const paths = outsideLinked(r.stdout);
      writeFileSync(
        outsideLinksFile(o.stateDir),
        JSON.stringify({ at: new Date().toISOString(), paths }) + "\n",
        { mode: 0o600, encoding: "latin1" },
      );
      if (paths.length)
        ctx.events.emit({
          type: "warning",
          step: LINKS_STEP,
          message: `${formatCount(paths.length)} data files also have a name outside the data directories (first: ${displayBytes(paths[0]!)}): writes through that name raise no event, so the final copy and the verification always take them`,
        });
      return {
        summary: paths.length
          ? `${formatCount(paths.length)} files with a name outside the data directories: always copied and compared in the downtime`
          : "no data file has a name outside the data directories",
        data: { outsideLinks: paths.length },
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
  /** Bytes of the log read: later rounds read what came after; the pass's place in the log. */
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
 * How long the final copy waits for its barrier to come back through the watcher. Normally a few
 * milliseconds; a watcher that has not delivered it by then is stalled (starved of CPU, stopped,
 * its ssh blocked) and what it has not delivered is unknown: the directory gets a full pass.
 */
export const BARRIER_TIMEOUT_MS = 20_000;

export interface JournaledCopyOptions {
  ssh: SshConnection;
  origin: Host;
  dir: string;
  bwlimitKiB: number;
  records: readonly JournalRecord[];
  pass: string;
  readLog: () => Promise<LogSnapshot>;
  /** Where the inventory of outside-linked files is (readOutsideLinks). */
  stateDir: string;
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
      if (!("reason" in listed)) return listed;
      // A hot pass's first copy is a full one by nature: nothing to point out.
      const first = o.serving && listed.reason === noEarlierCopy(o.dir);
      if (!first)
        ctx.events.emit({
          type: o.serving ? "info" : "warning",
          step: full.id,
          message: `${o.dir}: full pass (${listed.reason})`,
        });
      const r = await full.run(ctx);
      return {
        summary: first ? r.summary : `${r.summary} (full pass: ${listed.reason})`,
        data: { ...r.data, mode: "full", reason: listed.reason, ...journalAt(listed.snap) },
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

/**
 * The copy's place in the log, for the step's data: the snapshot's length, read before the copy
 * began, so that every change made after the copy began is logged after it.
 */
function journalAt(snap: LogSnapshot): { journal?: { log: string; at: number } } {
  return snap.meta ? { journal: { log: snap.meta.id, at: snap.size } } : {};
}

/** The listed copy, or the reason it cannot be used. */
async function listedCopy(
  ctx: StepContext,
  o: JournaledCopyOptions,
): Promise<StepResult | { reason: string; snap: LogSnapshot }> {
  const t0 = Date.now();
  const snap = await o.readLog();
  const r = await listedRounds(ctx, o, snap, Date.now() - t0);
  if (typeof r === "string") return { reason: r, snap };
  return { ...r, data: { ...r.data, ...journalAt(snap) } };
}

async function listedRounds(
  ctx: StepContext,
  o: JournaledCopyOptions,
  snap: LogSnapshot,
  readLogMs: number,
): Promise<StepResult | string> {
  const ms = { readLog: readLogMs, parents: 0, newDirs: 0, links: 0, rsync: 0, barrier: 0 };
  const trust = trustFor({
    dir: o.dir,
    ...(snap.meta ? { watchedDirs: snap.meta.dirs, logId: snap.meta.id } : {}),
    alive: snap.alive,
    log: snap.log,
    ...(() => {
      const last = lastCopyStart(o.records, o.dir, o.pass);
      return last ? { lastCopy: last } : {};
    })(),
  });
  if (!trust.trusted) return trust.reason;
  let changes = changesFor(o.dir, snap.log.events, trust.since);
  // The final copy: the files with a name outside the data directories, changed or not (a write
  // through that name raises no event here).
  const outside = o.serving ? [] : outsideLinksIn(o.dir, readOutsideLinks(o.stateDir));
  for (const p of outside) changes.paths.add(p);
  const outsideSet = new Set(outside);
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
        // The outside-linked files' other names are outside: no walk would find them.
        impliedPaths(o, new Set([...paths].filter((p) => !outsideSet.has(p))), createdDirs, ctx.signal, ms),
      ]);
      if (typeof copy === "string") return copy;
      if (copy) {
        totals.listed += list.length;
        totals.transferredFiles += copy.transferredFiles;
        totals.transferredBytes += copy.transferredBytes;
        totals.deletedFiles += copy.deletedFiles;
      }
      if (found.walked) totals.linkWalks++;
      // Names this round copied already, found again (a group with a name outside): nothing new.
      implied = [...found.paths].every((p) => paths.has(p))
        ? { paths: new Set(), walked: found.walked }
        : found;
    }
    // Anything the log got since it was read: while the origin serves, that is the next pass's;
    // once it is still, the events that were in transit (the first round's copy ran meanwhile),
    // and any change it should not have made.
    const more = o.serving ? undefined : await laterEvents(o, snap.meta, offset, ctx.signal, ms);
    if (typeof more === "string") return more;
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

/** Where the time went (ms): reading the log, new directories, hard links, rsync, the barrier. */
type ListedTimings = {
  readLog: number;
  parents: number;
  newDirs: number;
  links: number;
  rsync: number;
  barrier: number;
};

function done(dir: string, rounds: number, t: ListedTotals, ms: ListedTimings): StepResult {
  return {
    summary: `${formatCount(t.changed)} changed paths (${formatCount(t.listed)} listed with their parents); moved ${formatCount(t.transferredFiles)} files, ${formatBytes(t.transferredBytes)}, deleted ${formatCount(t.deletedFiles)}`,
    data: { dir, mode: "journal", rounds, ...t, ms },
  };
}

/**
 * The log's whole lines after `offset`, once a barrier has come back through the watcher: every
 * event the origin queued before it is then in the log (none left in the origin's queue, in a slow
 * inotifywait or in ssh). Also compares the origin's mounts with those before the watches were
 * set. A string: why the journal cannot be trusted for this directory.
 */
async function laterEvents(
  o: JournaledCopyOptions,
  meta: WatcherMeta | undefined,
  offset: number,
  signal: AbortSignal,
  ms: ListedTimings,
): Promise<{ log: ChangeLog; size: number } | string> {
  if (!meta) return { log: { events: [] }, size: offset };
  if (!meta.scratch || !meta.mounts) return "the watcher was started by an older release of bm-migrate";
  const t0 = Date.now();
  try {
    const name = `barrier-${randomUUID().slice(0, 13)}`;
    const from = watcherLogSize(meta);
    const r = await o.origin.sh(barrierCommand(meta.scratch, name), { signal });
    if (r.exitCode !== 0)
      return `the change journal's barrier could not be made on the origin (exit ${r.exitCode}: ${r.stderr.trim().split("\n").pop() ?? ""})`;
    const moved = mountChange(o.dir, meta.mounts[o.dir] ?? [], r.stdout);
    if (moved) return moved;
    const seen = await waitForBarrier(meta, name, Math.max(from, offset), {
      timeoutMs: BARRIER_TIMEOUT_MS,
      signal,
    });
    if (!seen)
      return `the change journal's barrier did not come back within ${BARRIER_TIMEOUT_MS / 1000} s: the watcher is stalled or gone, its events are incomplete`;
  } finally {
    ms.barrier += Date.now() - t0;
  }
  return readLogFrom(meta, offset);
}

/**
 * The log's whole lines after `offset` (a line being written is read the next time). Bytes all
 * along (latin1: one character per byte), so that names that are not UTF-8 survive.
 */
function readLogFrom(meta: WatcherMeta, offset: number): { log: ChangeLog; size: number } {
  const rest = readWatcherLogFrom(meta, offset);
  const whole = rest.slice(0, rest.lastIndexOf("\n") + 1);
  return { log: parseWatcherLog(meta, whole, offset), size: offset + whole.length };
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
