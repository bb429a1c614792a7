/**
 * The change journal: what changed in the data directories on the origin since the last complete
 * copy, so that the cold sync's final pass visits only those paths instead of walking every file.
 * Downtime then grows with the change since the last hot sync, not with the size of the store.
 *
 * Correctness first: the journal is used for a directory only when the watcher has been alive,
 * with its watches established, since before the last complete copy of that directory began, and
 * never overflowed nor missed a watch. Anything it cannot describe exactly (a directory renamed or
 * deleted, a line it cannot read) means a full pass for that directory, as without a journal.
 */
import type { JournalRecord } from "../engine/journal.js";

/** One inotify event as logged on the target. */
export interface ChangeEvent {
  /** Seconds since the epoch, the target's clock (when the line arrived). */
  time: number;
  /** inotify event names: CREATE, ISDIR, MOVED_FROM... */
  events: string[];
  /** Absolute path on the origin. */
  path: string;
}

/** The watcher's log, read. */
export interface ChangeLog {
  /** When its watches were established (seconds), if they were. */
  readyAt?: number;
  /** Why the log cannot be trusted (overflow, watch limit, unreadable line), if so. */
  untrusted?: string;
  /** When and why the watcher ended, if it did. */
  ended?: { time: number; why: string };
  events: ChangeEvent[];
}

export function parseChangeLog(text: string): ChangeLog {
  const log: ChangeLog = { events: [] };
  const distrust = (why: string): void => {
    log.untrusted ??= why;
  };
  const lines = text.split("\n");
  // A last line without its newline may be mid-write: it is read on the next look.
  if (!text.endsWith("\n")) lines.pop();
  for (const line of lines) {
    if (line === "") continue;
    const m = /^([REWX]) (\d+(?:\.\d+)?)(?: (.*))?$/.exec(line);
    if (!m) {
      distrust(`unreadable line in the change log: ${line.slice(0, 200)}`);
      continue;
    }
    const time = Number(m[2]);
    const rest = m[3] ?? "";
    switch (m[1]) {
      case "R":
        log.readyAt ??= time;
        break;
      case "X":
        log.ended ??= { time, why: rest };
        break;
      case "W":
        distrust(`the watcher reported: ${rest.slice(0, 300)}`);
        break;
      case "E": {
        const e = /^([A-Z_]+(?:,[A-Z_]+)*) (\/.*)$/.exec(rest);
        if (!e) {
          // A file name with a newline in it, or an event without a path (an overflow's).
          if (/Q_OVERFLOW/.test(rest)) distrust("the origin's inotify queue overflowed: events were lost");
          else distrust(`unreadable event in the change log: ${rest.slice(0, 200)}`);
          continue;
        }
        const events = e[1]!.split(",");
        if (events.includes("Q_OVERFLOW"))
          distrust("the origin's inotify queue overflowed: events were lost");
        if (events.includes("UNMOUNT")) distrust(`a filesystem was unmounted under ${e[2]}`);
        log.events.push({ time, events, path: e[2]! });
        break;
      }
    }
  }
  return log;
}

/** What changed in one data directory. */
export interface DirChanges {
  /** Why only a full pass is right for this directory, if so. */
  full?: string;
  /** Changed paths relative to the directory (created, modified, deleted, renamed from or to). */
  paths: Set<string>;
  /** Directories created since (relative): their whole content is copied, watched or not yet. */
  createdDirs: Set<string>;
}

/** The path relative to `dir`, or undefined when outside it; "" for the directory itself. */
export function relativeTo(dir: string, path: string): string | undefined {
  const base = dir.replace(/\/+$/, "");
  const p = path.replace(/\/+$/, "");
  if (p === base) return "";
  if (!p.startsWith(`${base}/`)) return undefined;
  return p.slice(base.length + 1);
}

/** The changes to `dir` from the events at or after `since` (seconds). */
export function changesFor(dir: string, events: readonly ChangeEvent[], since: number): DirChanges {
  const c: DirChanges = { paths: new Set(), createdDirs: new Set() };
  for (const ev of events) {
    if (ev.time < since) continue;
    const rel = relativeTo(dir, ev.path);
    if (rel === undefined) continue;
    const isDir = ev.events.includes("ISDIR");
    const has = (name: string): boolean => ev.events.includes(name);
    if (has("DELETE_SELF") || has("MOVE_SELF")) {
      c.full ??= `${ev.path} itself was moved or deleted`;
      continue;
    }
    if (rel === "") {
      c.paths.add("."); // the data directory's own mode, owner or times
      continue;
    }
    // A directory renamed or deleted carries a whole subtree the events do not list one by one.
    if (isDir && (has("MOVED_FROM") || has("MOVED_TO") || has("DELETE"))) {
      c.full ??= `directory ${ev.path} was ${has("DELETE") ? "deleted" : "renamed"}`;
      continue;
    }
    if (isDir && has("CREATE")) c.createdDirs.add(rel);
    c.paths.add(rel);
  }
  return c;
}

/**
 * The list rsync is given: each path and every parent directory, so that new directories are made
 * and directory times and modes follow; the data directory itself (".") only when an entry at its
 * top changed, because rsync (--files-from implies --dirs) then also sends its top-level files.
 * Sorted, so that parents come before their children.
 */
export function withParents(paths: Iterable<string>): string[] {
  const all = new Set<string>();
  for (const p of paths) {
    if (p === ".") {
      all.add(".");
      continue;
    }
    const parts = p.split("/");
    if (parts.length === 1) all.add(".");
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join("/"));
  }
  return [...all].sort((a, b) => (a === "." ? -1 : b === "." ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The names in `find -printf '%i %P\0'` output (inode, space, path). rsync -H links the names it
 * sees together: a new link to an unchanged file must bring the file's other names into the list,
 * or the target gets a separate copy.
 */
export function namesFromFindOutput(findOutput: string): string[] {
  const names: string[] = [];
  for (const rec of findOutput.split("\0")) {
    const sp = rec.indexOf(" ");
    if (sp > 0 && /^\d+$/.test(rec.slice(0, sp))) names.push(rec.slice(sp + 1));
  }
  return names;
}

/**
 * From `find -printf '%i %n %P\0'` of the listed paths that have several links: the inodes whose
 * names are not all listed (fewer listed names than links), whose other names must be found.
 */
export function incompleteLinkGroups(findOutput: string): string[] {
  const groups = new Map<string, { links: number; names: Set<string> }>();
  for (const rec of findOutput.split("\0")) {
    const m = /^(\d+) (\d+) ([\s\S]+)$/.exec(rec);
    if (!m) continue;
    const g = groups.get(m[1]!) ?? { links: Number(m[2]), names: new Set<string>() };
    g.names.add(m[3]!);
    groups.set(m[1]!, g);
  }
  return [...groups].filter(([, g]) => g.names.size < g.links).map(([inode]) => inode);
}

/**
 * When the last complete copy of `dir` before this pass began (ms since the epoch): the
 * `step-started` of the last `rsync:<dir>` step that is done, in any pass but `currentPass`.
 */
export function lastCopyStart(
  records: readonly JournalRecord[],
  dir: string,
  currentPass?: string,
): number | undefined {
  const step = `rsync:${dir}`;
  const startedIn = new Map<string, number>();
  let last: number | undefined;
  for (const r of records) {
    if (r.step !== step || !r.pass || r.pass === currentPass) continue;
    if (r.type === "step-started") startedIn.set(r.pass, Date.parse(r.t));
    else if (r.type === "step-done") {
      const t = startedIn.get(r.pass);
      if (t !== undefined) last = t;
    }
  }
  return last;
}

/** Why a directory's first copy cannot be a listed one. */
export const noEarlierCopy = (dir: string): string => `${dir} has no complete earlier copy`;

export type Trust = { trusted: true; since: number } | { trusted: false; reason: string };

/** Events are replayed from a little before the copy began: a few extra paths cost little. */
export const REPLAY_MARGIN_SEC = 60;

export interface TrustInput {
  dir: string;
  /** The watcher's recorded directories, if one was started. */
  watchedDirs?: readonly string[];
  alive: boolean;
  log: ChangeLog;
  /** From lastCopyStart. */
  lastCopyStartMs?: number;
}

/** Whether the journal describes every change to `dir` since its last complete copy began. */
export function trustFor(i: TrustInput): Trust {
  if (!i.watchedDirs) return { trusted: false, reason: "no change journal was started" };
  if (!i.watchedDirs.includes(i.dir))
    return { trusted: false, reason: `${i.dir} was not watched (absent on the origin then)` };
  if (i.log.untrusted) return { trusted: false, reason: i.log.untrusted };
  if (i.log.ended)
    return {
      trusted: false,
      reason: `the watcher ended at ${new Date(i.log.ended.time * 1000).toISOString()} (${i.log.ended.why})`,
    };
  if (!i.alive) return { trusted: false, reason: "the watcher process is gone" };
  if (i.log.readyAt === undefined)
    return { trusted: false, reason: "the watcher never established its watches" };
  if (i.lastCopyStartMs === undefined) return { trusted: false, reason: noEarlierCopy(i.dir) };
  if (i.log.readyAt * 1000 > i.lastCopyStartMs)
    return {
      trusted: false,
      reason: `the watcher started after the last complete copy of ${i.dir} began`,
    };
  return { trusted: true, since: Math.max(i.log.readyAt, i.lastCopyStartMs / 1000 - REPLAY_MARGIN_SEC) };
}
