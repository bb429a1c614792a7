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
import { displayBytes } from "../engine/text.js";

/** One inotify event as logged on the target. */
export interface ChangeEvent {
  /** Seconds since the epoch, the target's clock (when the line arrived): for display only. */
  time: number;
  /**
   * Its place in the log: the byte offset of its first line. Events are ordered and filtered by
   * this, never by time: the log is appended in the order inotifywait read the origin's queue, so
   * an event logged after offset N was read after the log was N bytes long, whatever any clock says.
   */
  at: number;
  /** inotify event names: CREATE, ISDIR, MOVED_FROM... */
  events: string[];
  /** Absolute path on the origin. */
  path: string;
}

/** The watcher's log, read. */
export interface ChangeLog {
  /** When its watches were established (seconds, the target's clock; for display), if they were. */
  readyAt?: number;
  /** Where in the log the watches were reported established (byte offset of the R line). */
  readyPos?: number;
  /**
   * The tool's own marks (barriers) seen, by name, at their place in the log: files the tool
   * creates in its scratch directory on the origin, watched by the same inotifywait.
   */
  marks?: Map<string, number>;
  /** Why the log cannot be trusted (overflow, watch limit, unreadable line), if so. */
  untrusted?: string;
  /** When and why the watcher ended, if it did. */
  ended?: { time: number; why: string };
  events: ChangeEvent[];
}

/**
 * Read the watcher's log (a `latin1` string: file names are bytes). Each event is one record of
 * inotifywait's CSV (`WATCHED-DIR/,EVENTS,NAME`), which may span several `E` lines when a name holds
 * a newline. A record that is not exactly that, a path outside the watched trees (`watched`), or
 * anything else the parser cannot read with certainty makes the log untrusted: the next pass is a
 * full one. A name can never make one event look like two.
 */
export function parseChangeLog(
  text: string,
  watched?: readonly string[],
  opts: { base?: number; scratch?: string } = {},
): ChangeLog {
  const log: ChangeLog = { events: [], marks: new Map() };
  const distrust = (why: string): void => {
    log.untrusted ??= why;
  };
  /** An event record whose quoted name goes on over the next E lines. */
  let pending: { time: number; at: number; text: string } | undefined;
  // Only whole lines: after the last newline, a line still being written (read on the next look).
  for (let start = 0, nl = text.indexOf("\n"); nl >= 0; start = nl + 1, nl = text.indexOf("\n", start)) {
    const line = text.slice(start, nl);
    const at = (opts.base ?? 0) + start;
    if (line === "") continue;
    const m = /^([REWX]) (\d+(?:\.\d+)?)(?: ([\s\S]*))?$/.exec(line);
    if (!m) {
      distrust(`unreadable line in the change log: ${displayBytes(line.slice(0, 200))}`);
      continue;
    }
    const time = Number(m[2]);
    const rest = m[3] ?? "";
    switch (m[1]) {
      case "R":
        if (log.readyAt === undefined) {
          log.readyAt = time;
          log.readyPos = at;
        }
        break;
      case "X":
        log.ended ??= { time, why: rest };
        break;
      case "W":
        distrust(`the watcher reported: ${displayBytes(rest.slice(0, 300))}`);
        break;
      case "E": {
        const record = pending
          ? { time: pending.time, at: pending.at, text: `${pending.text}\n${rest}` }
          : { time, at, text: rest };
        // An odd number of quotes: a quoted field is still open, its newline was part of a name.
        if (countQuotes(record.text) % 2 === 1) {
          pending = record;
          continue;
        }
        pending = undefined;
        const ev = eventFromCsv(record.text, record.time, record.at, watched, opts.scratch);
        if (typeof ev === "string") distrust(ev);
        else if ("mark" in ev) {
          if (!log.marks!.has(ev.mark)) log.marks!.set(ev.mark, ev.at);
        } else {
          if (ev.events.includes("UNMOUNT"))
            distrust(`a filesystem was unmounted under ${displayBytes(ev.path)}`);
          log.events.push(ev);
        }
        break;
      }
    }
  }
  if (pending) distrust("the change log ends inside an event (a name with a newline, still being written)");
  return log;
}

function countQuotes(text: string): number {
  let n = 0;
  for (const c of text) if (c === '"') n++;
  return n;
}

/** The fields of one CSV record and whether each was quoted; undefined when it is not well formed. */
export function splitCsv(text: string): { value: string; quoted: boolean }[] | undefined {
  const fields: { value: string; quoted: boolean }[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = "";
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return undefined;
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push({ value, quoted: true });
    } else {
      const comma = text.indexOf(",", i);
      const value = comma < 0 ? text.slice(i) : text.slice(i, comma);
      if (value.includes('"')) return undefined;
      fields.push({ value, quoted: false });
      i = comma < 0 ? text.length : comma;
    }
    if (i === text.length) return fields;
    if (text[i] !== ",") return undefined;
    i++;
    if (i === text.length) {
      fields.push({ value: "", quoted: false });
      return fields;
    }
  }
}

/** One CSV record as an event (or the tool's own mark), or why it cannot be one. */
function eventFromCsv(
  text: string,
  time: number,
  at: number,
  watched?: readonly string[],
  scratch?: string,
): ChangeEvent | { mark: string; at: number } | string {
  const shown = displayBytes(text.slice(0, 200));
  // What inotifywait 3.22 and 4.23 print (`Q_OVERFLOW,`, the watched directory empty) once the
  // kernel's queue (fs.inotify.max_queued_events) overflowed; 3.14 (Debian 11) crashes there
  // instead (a NULL directory), which ends the watcher: see test/fixtures/inotifywait-*.
  if (/(?:^|,)"?Q_OVERFLOW/.test(text)) return "the origin's inotify queue overflowed: events were lost";
  const f = splitCsv(text);
  if (!f || f.length !== 3) return `unreadable event in the change log: ${shown}`;
  const [dir, names, name] = f as [(typeof f)[0], (typeof f)[0], (typeof f)[0]];
  // Some versions of inotifywait escape the watched directory twice (into garbage): a directory
  // whose path needed quoting is not read at all.
  if (dir.quoted || !dir.value.startsWith("/") || !dir.value.endsWith("/"))
    return `an event in a directory whose name cannot be read back with certainty: ${shown}`;
  if (!/^[A-Z_]+(?:,[A-Z_]+)*$/.test(names.value)) return `unreadable event in the change log: ${shown}`;
  if (name.value.includes("/")) return `an event whose name holds a /: ${shown}`;
  const path = name.value === "" ? dir.value.replace(/\/+$/, "") || "/" : `${dir.value}${name.value}`;
  const steps = path.split("/").slice(1);
  if (steps.some((c) => c === "" || c === "." || c === ".."))
    return `an event with a path that is not plain: ${displayBytes(path)}`;
  if (scratch !== undefined) {
    const rel = relativeTo(scratch, path);
    // The scratch directory itself (its creation, its removal when the watcher ends): no mark.
    if (rel === "") return { mark: "", at };
    if (rel !== undefined) return { mark: rel, at };
  }
  if (watched && !watched.some((w) => relativeTo(w, path) !== undefined))
    return `an event outside the watched directories: ${displayBytes(path)}`;
  return { time, at, events: names.value.split(","), path };
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

/** The changes to `dir` from the events at or after `since` (a place in the log, bytes). */
export function changesFor(dir: string, events: readonly ChangeEvent[], since: number): DirChanges {
  const c: DirChanges = { paths: new Set(), createdDirs: new Set() };
  for (const ev of events) {
    if (ev.at < since) continue;
    const rel = relativeTo(dir, ev.path);
    if (rel === undefined) continue;
    const isDir = ev.events.includes("ISDIR");
    const has = (name: string): boolean => ev.events.includes(name);
    if (has("DELETE_SELF") || has("MOVE_SELF")) {
      c.full ??= `${displayBytes(ev.path)} itself was moved or deleted`;
      continue;
    }
    if (rel === "") {
      c.paths.add("."); // the data directory's own mode, owner or times
      continue;
    }
    // A directory renamed or deleted carries a whole subtree the events do not list one by one.
    if (isDir && (has("MOVED_FROM") || has("MOVED_TO") || has("DELETE"))) {
      c.full ??= `directory ${displayBytes(ev.path)} was ${has("DELETE") ? "deleted" : "renamed"}`;
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

/** Where a copy began in the change journal's log: the log (its watcher's id) and its length then. */
export interface LogPosition {
  log: string;
  at: number;
}

/** A step's `data.journal`, if it is a LogPosition. */
export function logPositionOf(data: Record<string, unknown> | undefined): LogPosition | undefined {
  const j = data?.["journal"] as Record<string, unknown> | undefined;
  return typeof j?.["log"] === "string" && typeof j["at"] === "number"
    ? { log: j["log"], at: j["at"] }
    : undefined;
}

/**
 * Where in the change journal's log the last complete copy of `dir` before this pass began: the
 * `journal` position in the data of the last `rsync:<dir>` step that is done, in any pass but
 * `currentPass`. A place in the log, not a time: no clock is involved (a clock stepped backwards
 * would otherwise hide the changes made meanwhile). Undefined when there was none, or when that
 * copy recorded no position (no watcher then, or an older release of bm-migrate).
 */
export function lastCopyStart(
  records: readonly JournalRecord[],
  dir: string,
  currentPass?: string,
): LogPosition | undefined {
  const step = `rsync:${dir}`;
  let last: LogPosition | undefined;
  let any = false;
  for (const r of records) {
    if (r.step !== step || !r.pass || r.pass === currentPass || r.type !== "step-done") continue;
    any = true;
    last = logPositionOf(r["data"] as Record<string, unknown> | undefined);
  }
  return any ? (last ?? { log: "", at: -1 }) : undefined;
}

/** Why a directory's first copy cannot be a listed one. */
export const noEarlierCopy = (dir: string): string => `${dir} has no complete earlier copy`;

export type Trust = { trusted: true; since: number } | { trusted: false; reason: string };

export interface TrustInput {
  dir: string;
  /** The watcher's recorded directories, if one was started. */
  watchedDirs?: readonly string[];
  /** The running watcher's id (its log's name). */
  logId?: string;
  alive: boolean;
  log: ChangeLog;
  /** From lastCopyStart. */
  lastCopy?: LogPosition;
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
  if (i.log.readyPos === undefined)
    return { trusted: false, reason: "the watcher never established its watches" };
  if (i.lastCopy === undefined) return { trusted: false, reason: noEarlierCopy(i.dir) };
  if (i.lastCopy.at < 0)
    return {
      trusted: false,
      reason: `the last complete copy of ${i.dir} recorded no place in the change journal (none ran then, or an older release of bm-migrate)`,
    };
  if (i.lastCopy.log !== i.logId)
    return {
      trusted: false,
      reason: `the watcher was restarted since the last complete copy of ${i.dir} began`,
    };
  if (i.log.readyPos >= i.lastCopy.at)
    return {
      trusted: false,
      reason: `the watcher started after the last complete copy of ${i.dir} began`,
    };
  return { trusted: true, since: i.lastCopy.at };
}

/** Mount points (from /proc/self/mountinfo) that decide what a data directory's paths are. */
export function mountsFor(dir: string, mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split("\n")) {
    // proc(5): "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPEROPTS";
    // the mount point's spaces and newlines are octal escapes, so the fields split on spaces.
    const f = line.split(" ");
    if (f.length < 5) continue;
    const point = f[4]!;
    // At the directory, under it (a filesystem inside the tree) or above it (what the path means).
    if (relativeTo(dir, point) !== undefined || relativeTo(point, dir) !== undefined)
      out.push(`${f[0]} ${f[2]} ${point}`);
  }
  return out.sort();
}

/** What changed among `dir`'s mounts, or undefined when nothing did. */
export function mountChange(dir: string, before: readonly string[], mountinfo: string): string | undefined {
  const now = mountsFor(dir, mountinfo);
  const added = now.filter((m) => !before.includes(m));
  const gone = before.filter((m) => !now.includes(m));
  if (added.length === 0 && gone.length === 0) return undefined;
  const show = (m: string): string => m.split(" ").slice(2).join(" ");
  return `the filesystems mounted at or under ${dir} changed since the watches were set (${[
    ...added.map((m) => `mounted ${show(m)}`),
    ...gone.map((m) => `unmounted ${show(m)}`),
  ].join(", ")}): writes there raise no event the watcher sees`;
}

/**
 * From `find DIRS -type f -links +1 -printf '%D:%i %n %p\0'` over every data directory: the files
 * with a name outside the data directories (fewer names found than links). A write through that
 * other name raises no inotify event in the watched trees (inotify reports a change to the
 * directory watch of the name it was made through, and inotifywait -r watches directories only).
 */
export function outsideLinked(findOutput: string): string[] {
  const groups = new Map<string, { links: number; names: string[] }>();
  for (const rec of findOutput.split("\0")) {
    const m = /^(\d+:\d+) (\d+) (\/[\s\S]*)$/.exec(rec);
    if (!m) continue;
    const g = groups.get(m[1]!) ?? { links: Number(m[2]), names: [] };
    g.names.push(m[3]!);
    groups.set(m[1]!, g);
  }
  return [...groups.values()].filter((g) => g.names.length < g.links).flatMap((g) => g.names);
}

/** The outside-linked files under `dir`, relative to it. */
export function outsideLinksIn(dir: string, paths: readonly string[] | undefined): string[] {
  return (paths ?? []).flatMap((p) => {
    const rel = relativeTo(dir, p);
    return rel ? [rel] : [];
  });
}
