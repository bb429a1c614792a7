/**
 * Comparing two manifests. Both hosts list their entries in the same order, so the comparison
 * walks both streams in step (a merge join) and holds one entry per side, plus, for hard links,
 * the first name seen of each multiply-linked inode.
 */
import { displayPath, isUnder, pathKey, type FileEntry } from "./fileManifest.js";

/** One difference between origin and target, in words. */
export interface Difference {
  /** The path, or the database object (`bj-data: table public.t_mailbox_record`). */
  where: string;
  /** What differs: `content differs`, `owner differs: cyrus vs root`, `missing on target`. */
  what: string;
}

export function formatDifference(d: Difference): string {
  return `${d.where}: ${d.what}`;
}

/** Collects differences: counts them all, keeps the first `keep` (a full copy of a large tree would not fit). */
export class DifferenceLog {
  readonly kept: Difference[] = [];
  total = 0;
  /** How many of each kind (the text of `what` up to the first colon). */
  readonly byKind = new Map<string, number>();
  constructor(private readonly keep = 1000) {}
  add(d: Difference): void {
    this.total++;
    const kind = differenceKind(d.what);
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    if (this.kept.length < this.keep) this.kept.push(d);
  }
  /** "3 content differs, 1 missing on target". */
  summary(): string {
    return [...this.byKind.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${n} ${k}`)
      .join(", ");
  }
}

/** The class of a difference, for the summary: "content differs", "row count differs". */
export function differenceKind(what: string): string {
  if (/^\d+ rows? vs /.test(what)) return "row count differs";
  if (/^(last_value|is_called) /.test(what)) return "sequence value differs";
  return what.split(":")[0]!.replace(/ \(.*$/, "");
}

/** A pair of entries with the same key; one side is absent when only the other has it. */
export interface Joined<T> {
  origin?: T;
  target?: T;
}

/**
 * Merge-join two streams sorted by `key` (string comparison, which is bytewise for latin1 text).
 * Throws when a stream is out of order: the two sides must have sorted the same way.
 */
export async function* mergeJoin<T>(
  origin: AsyncIterable<T>,
  target: AsyncIterable<T>,
  key: (x: T) => string,
): AsyncGenerator<Joined<T>> {
  const a = ordered(origin, key, "origin");
  const b = ordered(target, key, "target");
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && key(x.value) < key(y.value))) {
      yield { origin: x.value as T };
      x = await a.next();
    } else if (x.done || key(y.value) < key(x.value)) {
      yield { target: y.value };
      y = await b.next();
    } else {
      yield { origin: x.value, target: y.value };
      x = await a.next();
      y = await b.next();
    }
  }
}

async function* ordered<T>(items: AsyncIterable<T>, key: (x: T) => string, side: string): AsyncGenerator<T> {
  let previous: string | undefined;
  for await (const item of items) {
    const k = key(item);
    if (previous !== undefined && k <= previous)
      throw new Error(
        `the ${side}'s manifest is not sorted (${JSON.stringify(k)} after ${JSON.stringify(previous)}): its sort does not order bytewise`,
      );
    previous = k;
    yield item;
  }
}

/** What the origin holds, counted while comparing. */
export interface FileCounts {
  files: number;
  dirs: number;
  symlinks: number;
  other: number;
  /** Bytes of regular files. */
  bytes: number;
  /** Regular files whose content was compared (both sides hashed). */
  contentCompared: number;
}

const TYPE_NAMES: Record<string, string> = {
  f: "file",
  d: "directory",
  l: "symlink",
  p: "fifo",
  s: "socket",
  c: "character device",
  b: "block device",
  D: "door",
};

/**
 * Compares file entries pair by pair. Entries under the data directories are compared on every
 * attribute; configuration files on content, owner, group, mode and type (not mtime: the
 * procedure copies them, and what matters is what they say and who may read them).
 * Times are compared in whole seconds (file systems and rsync versions differ below that).
 */
export class FileComparer {
  readonly counts: FileCounts = { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0, contentCompared: 0 };
  /** Per side: device:inode -> first path seen, for inodes with more than one name. */
  private readonly leaders = { origin: new Map<string, string>(), target: new Map<string, string>() };

  constructor(
    private readonly dataDirs: readonly string[],
    private readonly log: DifferenceLog,
  ) {}

  add(pair: Joined<FileEntry>): void {
    const { origin: o, target: t } = pair;
    if (o) this.count(o);
    const oLeader = o && this.leader("origin", o);
    const tLeader = t && this.leader("target", t);
    const path = (o ?? t)!.path;
    const diff = (what: string): void => this.log.add({ where: displayPath(path), what });
    if (!t) return diff("missing on target");
    // cold-sync creates every data directory on the target, also one the origin does not have.
    if (!o && t.type === "d" && this.dataDirs.includes(t.path)) return;
    if (!o) return diff("extra on target");
    if (o.type !== t.type)
      return diff(`type differs: ${TYPE_NAMES[o.type] ?? o.type} vs ${TYPE_NAMES[t.type] ?? t.type}`);
    if (o.user !== t.user) diff(`owner differs: ${displayPath(o.user)} vs ${displayPath(t.user)}`);
    if (o.group !== t.group) diff(`group differs: ${displayPath(o.group)} vs ${displayPath(t.group)}`);
    if (o.mode !== t.mode && o.type !== "l") diff(`mode differs: ${o.mode} vs ${t.mode}`);
    if (o.type === "l" && o.linkTarget !== t.linkTarget)
      diff(
        `symlink target differs: ${displayPath(o.linkTarget ?? "")} vs ${displayPath(t.linkTarget ?? "")}`,
      );
    if (o.type === "f" && o.size !== t.size) diff(`size differs: ${o.size} vs ${t.size} bytes`);
    const isData = isUnder(path, this.dataDirs);
    if (isData && o.mtime !== t.mtime) diff(`mtime differs: ${isoTime(o.mtime)} vs ${isoTime(t.mtime)}`);
    if (oLeader !== tLeader)
      diff(`hard links differ: ${linkText(path, oLeader, "origin")}, ${linkText(path, tLeader, "target")}`);
    if (o.type === "f") this.compareContent(o, t, diff);
  }

  private compareContent(o: FileEntry, t: FileEntry, diff: (what: string) => void): void {
    if (o.sha256 === undefined && t.sha256 === undefined) return; // not in the sample
    if (o.sha256 === "?" || t.sha256 === "?") {
      diff(`content could not be read on ${o.sha256 === "?" ? "origin" : "target"}`);
      return;
    }
    if (o.sha256 === undefined || t.sha256 === undefined) {
      diff(
        `content not checked on ${o.sha256 === undefined ? "origin" : "target"} (changed while verifying?)`,
      );
      return;
    }
    this.counts.contentCompared++;
    if (o.sha256 !== t.sha256)
      diff(
        o.size === t.size && o.mtime === t.mtime
          ? "content differs (same size and mtime)"
          : "content differs",
      );
  }

  private count(o: FileEntry): void {
    if (o.type === "f") {
      this.counts.files++;
      this.counts.bytes += o.size;
    } else if (o.type === "d") this.counts.dirs++;
    else if (o.type === "l") this.counts.symlinks++;
    else this.counts.other++;
  }

  /** The first name of the entry's inode on that side (itself when it has one name). */
  private leader(side: "origin" | "target", e: FileEntry): string {
    if (e.type === "d" || e.nlink < 2) return e.path;
    const map = this.leaders[side];
    const first = map.get(e.inode);
    if (first !== undefined) return first;
    map.set(e.inode, e.path);
    return e.path;
  }
}

function linkText(path: string, leader: string | undefined, side: string): string {
  return leader === undefined || leader === path
    ? `not a link to an earlier name on ${side}`
    : `same file as ${displayPath(leader)} on ${side}`;
}

function isoTime(seconds: number): string {
  return Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString().replace(".000Z", "Z") : "?";
}

/** The key file entries are joined on. */
export const fileKey = (e: FileEntry): string => pathKey(e.path);

/**
 * Compare two file manifests; returns when both are read. `onDifferent` gets the raw path of each
 * entry that had a difference; `onProgress` the entries seen, every 5,000 and at the end.
 */
export async function compareFileManifests(
  origin: AsyncIterable<FileEntry>,
  target: AsyncIterable<FileEntry>,
  dataDirs: readonly string[],
  log: DifferenceLog,
  onProgress?: (entries: number) => void,
  onDifferent?: (path: string) => void,
): Promise<FileCounts> {
  const comparer = new FileComparer(dataDirs, log);
  let n = 0;
  for await (const pair of mergeJoin(origin, target, fileKey)) {
    const before = log.total;
    comparer.add(pair);
    if (onDifferent && log.total !== before) onDifferent((pair.origin ?? pair.target)!.path);
    if (++n % 5000 === 0) onProgress?.(n);
  }
  onProgress?.(n);
  return comparer.counts;
}
