/**
 * Verification ahead of the downtime, and in the downtime only what could have changed since.
 *
 * Ahead (`run`, before the cold sync, while the origin serves): the full comparison, files and
 * databases (the staging copies), whose differences are the changes since the last hot pass. Its
 * journal record (`verify-ahead`) keeps those differing paths and row groups, when it began, the
 * change journal it relies on and each database's watermark.
 *
 * In the downtime (`run`, after the cold sync): for each data directory whose final copy was a
 * listed one (the change journal was trusted through the services' stop), only the paths that
 * differed ahead, the paths the change journal saw change since the ahead began, and everything
 * under the directories created since are compared, content included; every other directory is
 * compared whole. The configuration files are compared whole. Each database: the schema and the
 * sequences whole, and the row groups that differed ahead, that the origin wrote since, or whose
 * counts differ (see dbGroups.ts). What the journal cannot vouch for is compared whole: see the
 * README's trust model.
 */
import { PassThrough } from "node:stream";
import type { Host } from "../adapters/host.js";
import { failure, run, stderrTail, type ProcessResult } from "../adapters/process.js";
import type { ClockMark } from "../engine/clock.js";
import type { JournalRecord } from "../engine/journal.js";
import { changesFor, outsideLinksIn, parseChangeLog, relativeTo } from "../phases/changeJournal.js";
import { tableOf, TABLES_SQL, type OriginScan } from "../phases/databaseDelta.js";
import { readWatcherMeta, scratchDir, watcherLogSize } from "../adapters/watcher.js";
import { readFileSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { privateDir, readNoFollow } from "../engine/stateDir.js";
import { compareFileManifests, type DifferenceLog, type FileCounts } from "./compare.js";
import { fileManifestScript, parseFileManifest, type FileEntry, type ListedEntry } from "./fileManifest.js";
import { PG_OPTIONS, type PsqlAccess } from "../database/manifest.js";
import {
  differingGroups,
  groupCountSql,
  groupHashSql,
  groupMap,
  GROUP_PSQL_ARGS,
  GROUPING,
  MAX_GROUPS_KEPT,
  parseGroupLines,
  parseTotals,
  tableTotalSql,
  freshGroupsAtSql,
  type AheadTable,
  type TableTotal,
  compareGroups,
  groupKey,
  type GroupKey,
  type GroupMap,
  type GroupTable,
} from "../database/rowGroups.js";
import { statePaths } from "../engine/paths.js";
import { isRecord } from "../engine/records.js";
import { SNAPSHOT_TEXT } from "../database/rowVersions.js";

/** Beyond this many paths to re-check in one directory, it is compared whole. */
export const MAX_LISTED = 50_000;

/** The `verify-ahead` journal record. */
export interface VerifyAheadRecord extends JournalRecord {
  type: "verify-ahead";
  startedAt: string;
  /**
   * The target's clock when it began, with its boot-time clock: the target's own changes since are
   * found by ctime, in today's clock even if the clock was stepped (absent in older records).
   */
  targetClock?: ClockMark;
  durationMs: number;
  /** A refreshed record: the ahead record it was made from (its start). */
  refreshOf?: string;
  /**
   * The change journal's log the downtime reads (absent: no journal, every directory whole), and
   * its length when the ahead began (`at`): the events logged after it are the changes since. A
   * place in the log, not a time (absent in records of older releases: every directory whole).
   */
  changeLog?: { id: string; path: string; at?: number };
  /** Per data directory: the paths (relative, latin1) that differed, or why it must be compared whole. */
  files: Record<string, { paths: string[] } | { whole: string }>;
  /** Per database: what the downtime relies on (see AheadDatabase), or why it is compared whole. */
  databases: Record<string, AheadDatabase | { whole: string }>;
}

/** One database's ahead proof. */
export interface AheadDatabase {
  /** The origin's watermark (32-bit xid) before the ahead read it. */
  watermark: number;
  /** The target's own watermark before the ahead read the staging copy. */
  targetWatermark?: number;
  /** The groups that differed. */
  tables: Record<string, AheadTable>;
  /** The grouping they are numbered by (dbGroups.ts's GROUPING). */
  grouping?: string;
  /** The file of each group's row count as the ahead found it on the origin (see writeGroupCounts). */
  counts?: string;
}

/** Why an ahead record's database cannot be relied on, if it cannot. */
function unusableDatabase(d: AheadDatabase): string | undefined {
  if (d.grouping !== GROUPING) return "its row groups were numbered by another release of bm-migrate";
  if (d.targetWatermark === undefined || !d.counts)
    return "its ahead record was made by another release of bm-migrate (no target watermark or group counts)";
  return undefined;
}

export function isVerifyAhead(r: JournalRecord): r is VerifyAheadRecord {
  return r.type === "verify-ahead" && typeof r["startedAt"] === "string";
}

/**
 * The ahead record the downtime may rely on: the last one, with what later copies did to it. A
 * later pass (a cold sync's catch-up, the cold sync) that copied a data directory in full, or
 * loaded a database in full, leaves that directory or database to be compared whole: the list of
 * differences ahead no longer describes the target there. Listed copies and deltas only touch what
 * changed on the origin since, which the downtime re-checks anyway.
 */
export function usableAhead(records: readonly JournalRecord[]): VerifyAheadRecord | undefined {
  let ahead: VerifyAheadRecord | undefined;
  for (const r of records) {
    if (isVerifyAhead(r)) {
      ahead = { ...r, files: { ...r.files }, databases: { ...r.databases } };
      for (const [db, d] of Object.entries(ahead.databases)) {
        const why = "tables" in d ? unusableDatabase(d) : undefined;
        if (why) ahead.databases[db] = { whole: why };
      }
      continue;
    }
    if (!ahead || !isRecord(r, "step-done")) continue;
    const data = r.data ?? {};
    const m = /^(rsync|database-staging|database):(.*)$/.exec(r.step);
    if (!m || data["mode"] !== "full") continue;
    if (m[1] === "rsync") ahead.files[m[2]!] = { whole: `${r.phase ?? "a"} pass after it copied it in full` };
    else ahead.databases[m[2]!] = { whole: `${r.phase ?? "a"} pass after it loaded it in full` };
  }
  return ahead;
}

// ---------------------------------------------------------------------------------------------
// Files

/** Stream one host's manifest; `done` settles when the script has exited. */
export function streamManifest(host: Host, script: string, signal: AbortSignal, input?: Buffer) {
  const stream = new PassThrough({ highWaterMark: 1 << 20 });
  const done: Promise<ProcessResult> = host
    .sh(script, { stdoutTo: stream, signal, ...(input ? { input } : {}) })
    .then((r) => {
      stream.end();
      return r;
    });
  return { stream, done };
}

/** Entries passing by, observed (for the hard-link check) without holding the stream. */
async function* observe(
  entries: AsyncIterable<FileEntry>,
  seen: (e: FileEntry) => void,
): AsyncGenerator<FileEntry> {
  for await (const e of entries) {
    seen(e);
    yield e;
  }
}

export interface ManifestRun {
  origin: Host;
  target: Host;
  script: string;
  input?: Buffer;
  dataDirs: readonly string[];
  log: DifferenceLog;
  signal: AbortSignal;
  /** Called with the raw path of each entry that had a difference. */
  onDifferent?: (path: string) => void;
  /** Each entry of each side, as it passes. */
  onEntry?: (side: "origin" | "target", e: FileEntry) => void;
  /** The entries compared so far (see compareFileManifests). */
  onProgress?: (entries: number) => void;
  /** What the error says to do next when a host's script fails. */
  failureHint?: string;
  /** The tail of a host's stderr when its script succeeded but said something. */
  onStderr?: (host: string, tail: string) => void;
}

/** Both manifests of one script, compared as they stream. */
export async function compareManifestRun(m: ManifestRun): Promise<FileCounts> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  m.signal.addEventListener("abort", onAbort, { once: true });
  const o = streamManifest(m.origin, m.script, stop.signal, m.input);
  const t = streamManifest(m.target, m.script, stop.signal, m.input);
  try {
    const side = (s: "origin" | "target", x: AsyncIterable<FileEntry>) =>
      m.onEntry ? observe(x, (e) => m.onEntry!(s, e)) : x;
    const counts = await compareFileManifests(
      side("origin", parseFileManifest(o.stream)),
      side("target", parseFileManifest(t.stream)),
      m.dataDirs,
      m.log,
      m.onProgress,
      m.onDifferent,
    );
    const [ro, rt] = await Promise.all([o.done, t.done]);
    for (const [host, r] of [
      [m.origin, ro],
      [m.target, rt],
    ] as const) {
      if (r.exitCode !== 0)
        throw failure(
          host.label,
          r,
          m.failureHint ??
            "run bm-migrate verify again; if it fails again, check find, sort and sha256sum there",
        );
      const noise = m.onStderr ? stderrTail(r.stderr, 3) : "";
      if (noise) m.onStderr?.(host.label, noise);
    }
    return counts;
  } catch (err) {
    stop.abort();
    o.stream.resume();
    t.stream.resume();
    await Promise.all([o.done, t.done]);
    throw err;
  } finally {
    m.signal.removeEventListener("abort", onAbort);
  }
}

/** The data directory a path lies in, and the path relative to it. */
function splitPath(dirs: readonly string[], path: string): { dir: string; rel: string } | undefined {
  for (const dir of dirs) {
    const rel = relativeTo(dir, path);
    if (rel !== undefined) return { dir, rel };
  }
  return undefined;
}

/** Ahead: the differing paths per data directory, from the raw paths of the differences. */
export function aheadFiles(
  dataDirs: readonly string[],
  differing: readonly string[],
  noJournal?: string,
): VerifyAheadRecord["files"] {
  const files: VerifyAheadRecord["files"] = {};
  for (const dir of dataDirs) files[dir] = noJournal ? { whole: noJournal } : { paths: [] };
  if (noJournal) return files;
  for (const p of differing) {
    const s = splitPath(dataDirs, p);
    if (!s) continue; // a configuration file: always compared whole
    const f = files[s.dir];
    if (f && "paths" in f) {
      if (f.paths.length >= MAX_LISTED)
        files[s.dir] = { whole: `more than ${MAX_LISTED} paths differed ahead` };
      else f.paths.push(s.rel === "" ? "." : s.rel);
    }
  }
  return files;
}

/** The change journal's log for the ahead record, when a watcher runs. */
export function currentChangeLog(stateDir: string): { id: string; path: string; at: number } | undefined {
  const meta = readWatcherMeta(stateDir);
  return meta ? { id: meta.id, path: meta.log, at: watcherLogSize(meta) } : undefined;
}

export interface ListedPlan {
  /** What the listed manifest reads (both sides). */
  entries: ListedEntry[];
  /** Data directories compared through the list. */
  listedDirs: string[];
  /** Data directories compared whole, and why. */
  whole: Map<string, string>;
  /** Paths listed per directory (for the summary). */
  counts: Record<string, number>;
}

/**
 * What the downtime compares of each data directory: the list (ahead's differences, the changes
 * the journal saw since the ahead began, the trees of directories created since), or the whole.
 * In the downtime (`finalCopy: "cold"`) a directory is listed only when the cold sync's final copy
 * of it was a listed one; a refresh while the origin serves (`"none"`) has no final copy yet (a
 * full copy by a hot pass since the ahead already made usableAhead mark the directory whole).
 */
export function planListed(
  dataDirs: readonly string[],
  ahead: VerifyAheadRecord,
  records: readonly JournalRecord[],
  logText: string | undefined,
  opts: { finalCopy: "cold" | "none"; outsideLinks?: readonly string[] } = { finalCopy: "cold" },
): ListedPlan {
  const plan: ListedPlan = { entries: [], listedDirs: [], whole: new Map(), counts: {} };
  const log =
    logText === undefined || !ahead.changeLog
      ? undefined
      : parseChangeLog(logText, dataDirs, { scratch: scratchDir(ahead.changeLog.id) });
  const cold = lastColdPass(records);
  const since = ahead.changeLog?.at;
  const outside = opts.outsideLinks;
  for (const dir of dataDirs) {
    const a = ahead.files[dir];
    const copy = cold?.find((r) => isRecord(r, "step-done") && r.step === `rsync:${dir}`);
    const mode = copy && isRecord(copy, "step-done") ? copy.data?.["mode"] : undefined;
    const why = !a
      ? "not compared ahead"
      : "whole" in a
        ? a.whole
        : !log
          ? "the change journal's log is gone"
          : log.untrusted
            ? `the change journal cannot be trusted: ${log.untrusted}`
            : since === undefined
              ? "the verification ahead recorded no place in the change journal (an older release of bm-migrate)"
              : opts.finalCopy === "cold" && mode !== "journal"
                ? `its final copy was a full pass (${reasonOf(copy)})`
                : undefined;
    if (why || !a || "whole" in a || !log || since === undefined) {
      plan.whole.set(dir, why ?? "?");
      continue;
    }
    const changes = changesFor(dir, log.events, since);
    if (changes.full) {
      plan.whole.set(dir, changes.full);
      continue;
    }
    // The files with a name outside the data directories: a write through it raised no event.
    const paths = new Set([...a.paths, ...changes.paths, ...outsideLinksIn(dir, outside)]);
    if (paths.size > MAX_LISTED) {
      plan.whole.set(dir, `${paths.size} paths to re-check`);
      continue;
    }
    const abs = (rel: string): string => (rel === "." || rel === "" ? dir : `${dir}/${rel}`);
    // Every parent too: a directory's mtime and mode change with its entries.
    const all = new Set<string>();
    for (const p of paths) {
      all.add(p);
      const parts = p.split("/");
      for (let i = 1; i < parts.length; i++) all.add(parts.slice(0, i).join("/"));
      if (p !== ".") all.add(".");
    }
    for (const p of all) plan.entries.push({ path: abs(p), tree: false });
    for (const d of changes.createdDirs) plan.entries.push({ path: abs(d), tree: true });
    plan.listedDirs.push(dir);
    plan.counts[dir] = all.size + changes.createdDirs.size;
  }
  return plan;
}

function reasonOf(copy: JournalRecord | undefined): string {
  const why = (copy?.["data"] as Record<string, unknown> | undefined)?.["reason"];
  return typeof why === "string" ? why : "no listed copy";
}

function lastColdPass(records: readonly JournalRecord[]): JournalRecord[] | undefined {
  const pass = records.filter((r) => r.type === "pass-finished" && r.phase === "cold-sync").at(-1)?.pass;
  return pass ? records.filter((r) => r.pass === pass) : undefined;
}

/**
 * Names of multiply-linked files whose other names were not listed: the hard-link comparison
 * needs every name of a group, so their directories are compared whole. Per side: inode -> names.
 */
export class LinkGroups {
  private readonly groups = {
    origin: new Map<string, { nlink: number; names: number }>(),
    target: new Map<string, { nlink: number; names: number }>(),
  };
  add(side: "origin" | "target", e: FileEntry): void {
    if (e.type === "d" || e.nlink < 2) return;
    const g = this.groups[side].get(e.inode) ?? { nlink: e.nlink, names: 0 };
    g.names++;
    this.groups[side].set(e.inode, g);
  }
  /** Whether some group misses names on either side. */
  incomplete(): boolean {
    return [this.groups.origin, this.groups.target].some((m) =>
      [...m.values()].some((g) => g.names < g.nlink),
    );
  }
}

export function readLogText(path: string): string | undefined {
  try {
    return readFileSync(path).toString("latin1"); // names are bytes, as the manifests read them
  } catch {
    return undefined;
  }
}

export function manifestScripts(
  configFiles: Parameters<typeof fileManifestScript>[0]["configFiles"],
  listedScope: boolean,
  wholeDirs: readonly string[],
  /** The data directories (a listed root that is a symlink is followed, as the whole walk does). */
  roots: readonly string[] = [],
): { listed?: string; whole?: string } {
  return {
    ...(listedScope
      ? { listed: fileManifestScript({ dataDirs: [], configFiles }, { listed: true, roots }) }
      : {}),
    ...(wholeDirs.length || !listedScope
      ? { whole: fileManifestScript({ dataDirs: wholeDirs, configFiles: listedScope ? [] : configFiles }) }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Databases

async function psqlBatch(
  access: PsqlAccess,
  db: string,
  sql: string,
  signal: AbortSignal,
): Promise<ProcessResult> {
  const [cmd, ...pre] = access.command;
  return run(cmd!, [...pre, ...GROUP_PSQL_ARGS, ...access.connection, "-d", db], {
    input: sql,
    // Floats in their exact text (PostgreSQL before 12 writes 15 digits by default: two floats
    // that differ could hash the same).
    env: { ...access.env, PGOPTIONS: `${PG_OPTIONS} -c extra_float_digits=3`, PGCONNECT_TIMEOUT: "15" },
    maxStdout: 512 * 1024 * 1024,
    signal,
  });
}

async function must(
  access: PsqlAccess,
  db: string,
  sql: string,
  signal: AbortSignal,
  what: string,
): Promise<string> {
  const r = await psqlBatch(access, db, sql, signal);
  if (r.exitCode !== 0)
    throw failure(
      access.label,
      r,
      `check that PostgreSQL runs there and ${db} is readable (${what}), then run verify again`,
    );
  return r.stdout;
}

/** The tables of a database (as the delta sees them: every ordinary table outside extensions). */
export async function readTables(access: PsqlAccess, db: string, signal: AbortSignal): Promise<GroupTable[]> {
  const out = await must(access, db, TABLES_SQL, signal, "its tables");
  return out
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      const t = tableOf(l.split("\x1f"));
      return t.pkType ? t : (({ pkType: _, ...rest }) => rest)(t);
    });
}

/** A server's watermark: its snapshot's xmin (32 bits), before anything is read. */
export async function snapshotWatermark(
  access: PsqlAccess,
  db: string,
  signal: AbortSignal,
): Promise<number> {
  const out = await must(
    access,
    db,
    "SELECT txid_snapshot_xmin(txid_current_snapshot()) % 4294967296;",
    signal,
    "its watermark",
  );
  return Number(out.trim());
}

const SNAPSHOT_NOW = `SELECT ${SNAPSHOT_TEXT};`;

/** A server's snapshot now ("xmin:xmax:xip", then the ids held: see SNAPSHOT_TEXT). */
export async function currentSnapshot(access: PsqlAccess, db: string, signal: AbortSignal): Promise<string> {
  return (await must(access, db, SNAPSHOT_NOW, signal, "its snapshot")).trim();
}

export async function groupHashes(
  access: PsqlAccess,
  db: string,
  tables: readonly { t: GroupTable; groups?: readonly GroupKey[] }[],
  signal: AbortSignal,
): Promise<GroupMap> {
  if (tables.length === 0) return new Map();
  const sql = tables.map(({ t, groups }) => groupHashSql(t, groups)).join("\n");
  return groupMap(parseGroupLines(await must(access, db, sql, signal, "row groups")));
}

export async function groupCounts(
  access: PsqlAccess,
  db: string,
  tables: readonly GroupTable[],
  signal: AbortSignal,
  w32?: number,
): Promise<GroupMap> {
  if (tables.length === 0) return new Map();
  const sql = tables.map((t) => groupCountSql(t, w32)).join("\n");
  return groupMap(parseGroupLines(await must(access, db, sql, signal, "row counts")));
}

/** Each table's rows and the groups written since the side's watermark (see tableTotalSql). */
export async function tableTotals(
  access: PsqlAccess,
  db: string,
  tables: readonly GroupTable[],
  signal: AbortSignal,
  w32: number,
): Promise<Map<string, TableTotal>> {
  if (tables.length === 0) return new Map();
  const sql = tables.map((t) => tableTotalSql(t, w32)).join("\n");
  return parseTotals(await must(access, db, sql, signal, "row counts"));
}

/**
 * From the cold copy's scan: the origin's snapshot now, and each table's rows with the groups of
 * its fresh rows (found where the scan saw them, see freshGroupsAtSql). One round trip.
 */
export async function freshGroupsAt(
  access: PsqlAccess,
  db: string,
  scan: OriginScan,
  w32: number,
  signal: AbortSignal,
): Promise<{ snapshot: string; totals: Map<string, TableTotal> }> {
  const at = scan.list.flatMap((t) => {
    const c = scan.tables.get(t.ident);
    return c && c.since > 0 && c.tids ? [freshGroupsAtSql(t, c.tids, w32)] : [];
  });
  const out = await must(access, db, [SNAPSHOT_NOW, ...at].join("\n"), signal, "rows written since");
  const [snapshot = "", ...rest] = out.split("\n");
  const fresh = parseTotals(rest.join("\n"));
  const totals = new Map(
    scan.list.map((t) => [
      t.ident,
      { rows: scan.tables.get(t.ident)?.rows ?? 0, fresh: fresh.get(t.ident)?.fresh ?? [] },
    ]),
  );
  return { snapshot: snapshot.trim(), totals };
}

/** ident -> group -> rows: each group's row count, as an ahead proof leaves it. */
export type GroupCounts = Map<string, Map<GroupKey, number>>;

/** The origin's counts from a map of groups (count first). */
export function countsOf(m: GroupMap): GroupCounts {
  return new Map([...m].map(([ident, g]) => [ident, new Map([...g].map(([n, [c]]) => [n, Number(c)]))]));
}

/** Keep the group counts of an ahead record in a file of the state directory; its path. */
export function writeGroupCounts(stateDir: string, db: string, counts: GroupCounts): string {
  const dir = privateDir(statePaths(stateDir).verify);
  const path = join(dir, `counts-${Date.now()}-${randomUUID().slice(0, 8)}-${encodeURIComponent(db)}.json`);
  const json = Object.fromEntries([...counts].map(([ident, g]) => [ident, Object.fromEntries(g)]));
  writeFileSync(path, JSON.stringify(json), { flag: "wx", mode: 0o600 });
  return path;
}

/**
 * The group counts an ahead record's database kept (see writeGroupCounts); undefined when it has
 * none, or the file is gone or unreadable.
 */
export function readGroupCounts(
  a: VerifyAheadRecord["databases"][string] | undefined,
): GroupCounts | undefined {
  if (!a || !("counts" in a) || !a.counts) return undefined;
  try {
    const raw = readNoFollow(a.counts);
    if (!raw) return undefined;
    const json = JSON.parse(raw.toString("utf8")) as Record<string, Record<string, number>>;
    return new Map(
      Object.entries(json).map(([ident, g]) => [
        ident,
        new Map(Object.entries(g).map(([n, c]) => [groupKey(n), Number(c)])),
      ]),
    );
  } catch {
    return undefined;
  }
}

/** Ahead: which groups of each table differ between the origin and its staging copy. */
export function aheadTables(
  tables: readonly GroupTable[],
  origin: GroupMap,
  staging: GroupMap,
): Record<string, AheadTable> {
  return keptGroups(differingGroups(tables, origin, staging));
}

/** Differing groups as an ahead record keeps them: beyond MAX_GROUPS_KEPT in a table, "all". */
export function keptGroups(diff: ReadonlyMap<string, GroupKey[]>): Record<string, AheadTable> {
  const out: Record<string, AheadTable> = {};
  for (const [ident, groups] of diff) out[ident] = groups.length > MAX_GROUPS_KEPT ? "all" : groups;
  return out;
}

/**
 * The groups each table must hash (after an ahead proof): those that differed ahead and those
 * written since on either side (`groups`); the whole table when the ahead could not tell, did not
 * know the table, or there are too many.
 */
export function groupsToHash(
  tables: readonly GroupTable[],
  ahead: Record<string, AheadTable>,
  counts: GroupCounts,
  origin: Map<string, TableTotal>,
  target: Map<string, TableTotal>,
): { t: GroupTable; groups?: GroupKey[] }[] {
  return tables.map((t) => {
    const a = ahead[t.ident];
    if (a === "all" || !counts.has(t.ident)) return { t };
    return toHash(t, [
      ...(a ?? []),
      ...(origin.get(t.ident)?.fresh ?? []),
      ...(target.get(t.ident)?.fresh ?? []),
    ]);
  });
}

/** Some groups of a table to hash, in order, once each; beyond MAX_GROUPS_KEPT, the whole table. */
export function toHash(t: GroupTable, groups: readonly GroupKey[]): { t: GroupTable; groups?: GroupKey[] } {
  const sorted = [...new Set(groups)].sort(compareGroups);
  return sorted.length > MAX_GROUPS_KEPT ? { t } : { t, groups: sorted };
}
