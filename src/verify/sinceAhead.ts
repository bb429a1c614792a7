/**
 * The verifications that rely on a verification ahead (see ahead.ts for the proof and its records):
 * - ahead: the full comparison while the origin serves, its differences kept for the downtime;
 * - refresh: while the origin still serves, only what could have changed since the last ahead, its
 *   differences kept as a newer ahead record (`run` makes one after a long ahead, so that the
 *   downtime covers the last seconds' changes, not the whole ahead's);
 * - changed: in the downtime, only what could have changed since the last ahead record.
 */
import type { App } from "../engine/app.js";
import { shellQuote, stderrTail } from "../adapters/process.js";
import { ExitCode, StepFailed } from "../engine/errors.js";
import type { JournalRecord } from "../engine/journal.js";
import { formatCount } from "../engine/format.js";
import { clockMark, isClockMark, markInTodaysClock } from "../engine/clock.js";
import type { MigrationContext } from "../phases/context.js";
import { stagingName } from "../phases/databaseSteps.js";
import { readOutsideLinks } from "../phases/changeJournalSteps.js";
import { DifferenceLog, type FileCounts } from "./compare.js";
import { fileManifestScript, isUnder, listedInput } from "./fileManifest.js";
import { readDbManifest, SCHEMA_SQL, SEQUENCE_VALUES_SQL, type PsqlAccess } from "../database/manifest.js";
import { compareDbManifests, type DbCounts } from "./dbCompare.js";
import {
  aheadFiles,
  aheadTables,
  compareManifestRun,
  countsOf,
  currentChangeLog,
  currentSnapshot,
  freshGroupsAt,
  groupCounts,
  groupHashes,
  groupsToHash,
  keptGroups,
  LinkGroups,
  manifestScripts,
  MAX_LISTED,
  planListed,
  readGroupCounts,
  readLogText,
  readTables,
  snapshotWatermark,
  tableTotals,
  toHash,
  writeGroupCounts,
  type AheadDatabase,
  type GroupCounts,
  type VerifyAheadRecord,
} from "./ahead.js";
import {
  differingGroups,
  GROUPING,
  groupAstray,
  groupsBeyondTotals,
  mergeGroups,
  totalsProve,
  type GroupKey,
  type GroupMap,
  type GroupTable,
  type TableTotal,
} from "../database/rowGroups.js";
import { splitBySize, type OriginScan } from "../phases/databaseDelta.js";
import { snapshotQuiet, watermarkFresh, xid32 } from "../database/rowVersions.js";
import { dbAccess, stepEvents } from "./verifyAccess.js";

// ---------------------------------------------------------------------------------------------
// Ahead: the full comparison while the origin serves; its differences are kept for the downtime.

/** Both sides' watermarks of one database, noted before anything is read. */
interface Marks {
  origin: number;
  /** The staging copy's server; absent when it cannot be read (then compared whole). */
  target?: number;
}

/**
 * Each database's watermarks, noted before anything is read: nothing written later, on either
 * side, can look older.
 */
async function watermarks(
  app: App,
  access: { origin: PsqlAccess; target: PsqlAccess },
  dbs: readonly string[],
): Promise<Map<string, Marks>> {
  const marks = new Map<string, Marks>();
  for (const db of dbs) {
    const [origin, target] = await Promise.all([
      snapshotWatermark(access.origin, db, app.signal),
      snapshotWatermark(access.target, stagingName(db), app.signal).catch(() => undefined),
    ]);
    marks.set(db, { origin, ...(target !== undefined ? { target } : {}) });
  }
  return marks;
}

/** One database ahead, whole: every group's count and hash, the origin against its staging copy. */
function aheadDatabase(
  app: App,
  access: { origin: PsqlAccess; target: PsqlAccess },
  db: string,
  marks: Marks,
): Promise<VerifyAheadRecord["databases"][string]> {
  const { origin, target } = access;
  return stepEvents<VerifyAheadRecord["databases"][string]>(
    app,
    `verify-ahead-db:${db}`,
    `Compare database ${db} ahead (with its staging copy)`,
    async () => {
      app.logCommand(origin.label, `psql -d ${db} <row groups: counts and hashes> (via tunnel)`);
      app.logCommand(
        target.label,
        `runuser -u postgres -- psql -d ${stagingName(db)} <row groups: counts and hashes>`,
      );
      const tables = await readTables(origin, db, app.signal);
      const all = tables.map((x) => ({ t: x }));
      const [o, t] = await Promise.all([
        groupHashes(origin, db, all, app.signal),
        groupHashes(target, stagingName(db), all, app.signal).catch((err: unknown) => err),
      ]);
      if (t instanceof Error || !(t instanceof Map))
        return {
          value: { whole: `no staging copy to compare ahead (${String(t).slice(0, 200)})` },
          summary: "no staging copy: compared whole in the downtime",
        };
      const diff = aheadTables(tables, o, t as GroupMap);
      const n = Object.values(diff).reduce((a, g) => a + (g === "all" ? 1 : g.length), 0);
      return {
        value: {
          watermark: marks.origin,
          ...(marks.target !== undefined ? { targetWatermark: marks.target } : {}),
          tables: diff,
          grouping: GROUPING,
          counts: writeGroupCounts(app.settings.stateDir, db, countsOf(o)),
        },
        summary: `${tables.length} tables; ${n} row groups differ (changes since the last hot pass), re-checked in the downtime`,
      };
    },
  );
}

/** Journal the ahead record and say what the downtime is left with. */
function recordAhead(
  app: App,
  record: Pick<
    VerifyAheadRecord,
    "startedAt" | "targetClock" | "durationMs" | "refreshOf" | "changeLog" | "files" | "databases"
  >,
  differing: number,
): number {
  app.journal.append({ type: "verify-ahead", run: app.runId, phase: "verify", ...record });
  app.events.emit({
    type: "phase-finished",
    phase: "verify",
    durationMs: record.durationMs,
    summary: record.refreshOf
      ? `refreshed, while the origin serves: ${formatCount(differing)} paths and the row groups that differ now are left for the downtime`
      : `ahead, while the origin serves: ${formatCount(differing)} paths and the row groups that changed since the last hot pass are left for the downtime`,
  });
  return ExitCode.ok;
}

export async function verifyAhead(
  app: App,
  mc: MigrationContext,
  port: number,
  started: number,
): Promise<number> {
  const startedAt = new Date(started).toISOString();
  const targetClock = clockMark();
  const changeLog = currentChangeLog(app.settings.stateDir);
  const dataDirs = mc.profile.dataDirs;
  const access = dbAccess(mc, port);
  const marks = await watermarks(app, access, mc.profile.databases);
  const differing: string[] = [];
  const log = new DifferenceLog(0);
  const filesTask = stepEvents(
    app,
    "verify-ahead-files",
    "Compare files ahead (the origin serves)",
    async () => {
      app.logCommand(mc.origin.label, "bash -c <file manifest: find | sort, sha256sum> (verify ahead)");
      app.logCommand(mc.target.label, "bash -c <file manifest: find | sort, sha256sum> (verify ahead)");
      const counts = await compareManifestRun({
        origin: mc.origin,
        target: mc.target,
        script: fileManifestScript({ dataDirs, configFiles: mc.profile.configFiles }),
        dataDirs,
        log,
        signal: app.signal,
        onDifferent: (p) => differing.push(p),
      });
      return {
        value: counts,
        summary: `${formatCount(counts.files)} files; ${formatCount(log.total)} differences (changes since the last hot pass), re-checked in the downtime`,
      };
    },
  );
  const dbTask = (async () => {
    const out: VerifyAheadRecord["databases"] = {};
    for (const db of mc.profile.databases) out[db] = await aheadDatabase(app, access, db, marks.get(db)!);
    return out;
  })();
  const [, databases] = await Promise.all([filesTask, dbTask]);
  return recordAhead(
    app,
    {
      startedAt,
      targetClock,
      durationMs: Date.now() - started,
      ...(changeLog ? { changeLog } : {}),
      files: aheadFiles(dataDirs, differing, changeLog ? undefined : "no change journal runs"),
      databases,
    },
    differing.length,
  );
}

// ---------------------------------------------------------------------------------------------
// Refresh: while the origin still serves, what could have changed since the last ahead record.

/**
 * A newer ahead record from the last one: the paths and row groups that could have changed since
 * it (as the downtime would compare them, against the staging copies), and their differences now.
 * Every other path and group was equal then and has not changed since, so it is equal now: the
 * differences found are all the differences there are. Falls back to the full ahead when the last
 * record relies on a change journal that is not the one running now.
 */
export async function verifyRefresh(
  app: App,
  mc: MigrationContext,
  port: number,
  started: number,
  ahead: VerifyAheadRecord,
  records: readonly JournalRecord[],
): Promise<number> {
  const changeLog = currentChangeLog(app.settings.stateDir);
  if (ahead.changeLog && changeLog?.id !== ahead.changeLog.id) {
    app.events.emit({
      type: "info",
      message:
        "verify: the change journal was restarted since the verification ahead: the full comparison again",
    });
    return verifyAhead(app, mc, port, started);
  }
  const dataDirs = mc.profile.dataDirs;
  const access = dbAccess(mc, port);
  const marks = await watermarks(app, access, mc.profile.databases);
  const differing: string[] = [];
  const log = new DifferenceLog(0);
  const [, databases] = await Promise.all([
    verifyChangedFiles(app, mc, log, ahead, records, {
      refresh: true,
      onDifferent: (p) => differing.push(p),
    }),
    Promise.all(
      mc.profile.databases.map(async (db): Promise<[string, VerifyAheadRecord["databases"][string]]> => {
        const a = ahead.databases[db];
        const m = marks.get(db)!;
        const counts = readGroupCounts(a);
        // A watermark too far behind (xids wrap) cannot tell the rows written since: compared whole.
        if (
          !a ||
          "whole" in a ||
          !counts ||
          m.target === undefined ||
          !watermarkFresh(a.watermark, m.origin) ||
          !watermarkFresh(a.targetWatermark, m.target)
        )
          return [db, await aheadDatabase(app, access, db, m)];
        const proof = await stepEvents(
          app,
          `verify-refresh-db:${db}`,
          `Compare database ${db}: the row groups that could have changed (with its staging copy)`,
          async () => {
            const p = await proveChangedGroups(app, access, db, stagingName(db), a, counts, { still: false });
            return { value: p, summary: proofSummary(p, 0) };
          },
        );
        return [
          db,
          {
            watermark: m.origin,
            targetWatermark: m.target,
            tables: keptGroups(proof.diff),
            grouping: GROUPING,
            counts: writeGroupCounts(app.settings.stateDir, db, proof.counts),
          },
        ];
      }),
    ),
  ]);
  return recordAhead(
    app,
    {
      startedAt: new Date(started).toISOString(),
      // The refresh does not look at the target's own changes: the downtime looks since the first ahead.
      ...(ahead.targetClock ? { targetClock: ahead.targetClock } : {}),
      durationMs: Date.now() - started,
      refreshOf: ahead.startedAt,
      ...(changeLog ? { changeLog } : {}),
      files: aheadFiles(dataDirs, differing, changeLog ? undefined : "no change journal runs"),
      databases: Object.fromEntries(databases),
    },
    differing.length,
  );
}

// ---------------------------------------------------------------------------------------------
// In the downtime: what could have changed since the verification ahead.

export async function verifyChangedFiles(
  app: App,
  mc: MigrationContext,
  log: DifferenceLog,
  ahead: VerifyAheadRecord,
  records: readonly JournalRecord[],
  opts: { refresh?: boolean; onDifferent?: (path: string) => void } = {},
): Promise<FileCounts> {
  const dataDirs = mc.profile.dataDirs;
  return stepEvents(
    app,
    opts.refresh ? "verify-refresh-files" : "verify-files",
    "Compare the files that could have changed since the verification ahead",
    async () => {
      const plan = planListed(
        dataDirs,
        ahead,
        records,
        ahead.changeLog ? readLogText(ahead.changeLog.path) : undefined,
        {
          finalCopy: opts.refresh ? "none" : "cold",
          outsideLinks: readOutsideLinks(app.settings.stateDir) ?? [],
        },
      );
      // Changes on the target since the ahead: what the origin's change journal cannot see (the
      // target's own BlueMind, a cron job, an administrator). Every entry whose inode changed since
      // (ctime, which no tool can set back) is compared too: found while the list is compared.
      const targetFind = opts.refresh ? undefined : targetChangesSince(app, mc, plan.listedDirs, ahead);
      for (const [dir, why] of plan.whole)
        app.events.emit({ type: "info", message: `verify: ${dir} compared whole (${why})` });
      const links = new LinkGroups();
      const scripts = manifestScripts(mc.profile.configFiles, true, [...plan.whole.keys()], dataDirs);
      app.logCommand(
        mc.origin.label,
        `bash -c <file manifest of ${plan.entries.length} listed paths and the configuration> (verify)`,
      );
      const run = (script: string, extra: { input?: Buffer; listed?: boolean } = {}) =>
        compareManifestRun({
          origin: mc.origin,
          target: mc.target,
          script,
          dataDirs,
          log,
          signal: app.signal,
          ...(extra.input ? { input: extra.input } : {}),
          ...(opts.onDifferent ? { onDifferent: opts.onDifferent } : {}),
          ...(extra.listed
            ? {
                onEntry: (side: "origin" | "target", e: Parameters<LinkGroups["add"]>[1]) => {
                  if (isUnder(e.path, plan.listedDirs)) links.add(side, e);
                },
              }
            : {}),
        });
      const runs: Promise<FileCounts>[] = [
        run(scripts.listed!, { input: listedInput(plan.entries), listed: true }),
      ];
      if (scripts.whole) runs.push(run(scripts.whole));
      let all = await Promise.all(runs);
      let targetNote = "";
      if (targetFind) {
        const found = await targetFind;
        const more = found.whole
          ? { entries: [], whole: [...plan.listedDirs] }
          : beyondPlan(plan, found.paths);
        if (found.whole)
          app.events.emit({
            type: "info",
            message: `verify: the listed directories compared whole on the target's side too (${found.whole})`,
          });
        if (more.entries.length)
          all = [...all, await run(scripts.listed!, { input: listedInput(more.entries), listed: true })];
        if (more.whole.length)
          all = [...all, await run(fileManifestScript({ dataDirs: more.whole, configFiles: [] }))];
        targetNote = `; ${formatCount(found.paths.length)} entries changed on the target since the ahead (${formatCount(more.entries.length)} more compared${more.whole.length ? `, ${more.whole.join(", ")} whole` : ""}; found in ${found.ms} ms)`;
      }
      let note = "";
      if (links.incomplete()) {
        // A listed file with other names that were not listed: its hard links are compared whole.
        app.events.emit({
          type: "info",
          message:
            "verify: hard-linked files whose other names did not change: their directories compared whole",
        });
        all = [...all, await run(fileManifestScript({ dataDirs: plan.listedDirs, configFiles: [] }))];
        note = "; hard links: listed directories compared whole";
      }
      const counts = all.reduce((a, c) => ({
        files: a.files + c.files,
        dirs: a.dirs + c.dirs,
        symlinks: a.symlinks + c.symlinks,
        other: a.other + c.other,
        bytes: a.bytes + c.bytes,
        contentCompared: a.contentCompared + c.contentCompared,
      }));
      const listed = Object.values(plan.counts).reduce((a, n) => a + n, 0);
      return {
        value: counts,
        summary: `${formatCount(listed)} listed paths in ${plan.listedDirs.length} directories${plan.whole.size ? `, ${plan.whole.size} directories whole` : ""}, the configuration whole: ${formatCount(counts.files)} files compared${note}${targetNote}`,
      };
    },
  );
}

/**
 * The target's entries whose inode changed (ctime) since the first ahead began (5 s of margin), in
 * the listed directories. In the downtime these include what the cold sync itself wrote (listed
 * anyway). The moment is taken in today's clock (engine/clock.ts): a clock stepped backwards since
 * moves it back too. After a reboot of the target, or with a record of an older release that kept
 * no clock mark, the directories are compared whole (`whole`).
 */
async function targetChangesSince(
  app: App,
  mc: MigrationContext,
  dirs: readonly string[],
  ahead: VerifyAheadRecord,
): Promise<{ paths: string[]; ms: number; whole?: string }> {
  if (!dirs.length) return { paths: [], ms: 0 };
  const at = isClockMark(ahead.targetClock) ? markInTodaysClock(ahead.targetClock) : undefined;
  if (at === undefined)
    return {
      paths: [],
      ms: 0,
      whole: ahead.targetClock
        ? "the target was restarted since the verification ahead"
        : "the verification ahead kept no mark of the target's clock (another release)",
    };
  const since = Math.floor(at / 1000) - 5;
  const t0 = Date.now();
  const script = `export LC_ALL=C; for d in ${dirs.map(shellQuote).join(" ")}; do find "$d" -newerct "@${since}" -printf '%p\\0' 2>/dev/null; done; true`;
  app.logCommand(
    mc.target.label,
    `find <${dirs.length} listed data directories> -newerct @${since} (changes on the target since the ahead)`,
  );
  const r = await mc.target.sh(script, {
    signal: app.signal,
    timeoutMs: 30 * 60_000,
    stdoutEncoding: "latin1",
  });
  return { paths: r.stdout.split("\0").filter(Boolean), ms: Date.now() - t0 };
}

/**
 * What the target's changes add to the listed plan: the entries not listed yet, and the directories
 * with more than MAX_LISTED of them (compared whole instead).
 */
export function beyondPlan(
  plan: Pick<ReturnType<typeof planListed>, "entries" | "listedDirs">,
  found: readonly string[],
): { entries: { path: string; tree: boolean }[]; whole: string[] } {
  const listed = new Set(plan.entries.map((e) => e.path));
  const entries: { path: string; tree: boolean }[] = [];
  const whole: string[] = [];
  for (const dir of plan.listedDirs) {
    const mine = found.filter((p) => isUnder(p, [dir]) && !listed.has(p));
    if (mine.length > MAX_LISTED) whole.push(dir);
    else for (const p of mine) entries.push({ path: p, tree: false });
  }
  return { entries, whole };
}

interface GroupProof {
  tables: number;
  /** The origin's rows. */
  rows: number;
  /** Where the origin's totals came from: the cold copy's own scan, or a count now. */
  originFrom: "final copy" | "counted" | "by group";
  /** Groups hashed on both sides. */
  hashed: number;
  /** Tables whose totals did not add up, counted by group on both sides. */
  byGroup: number;
  /** The groups that differ, per table. */
  diff: Map<string, GroupKey[]>;
  /** Each group's row count on the origin now, for the next proof (groups that differ included). */
  counts: GroupCounts;
}

/**
 * The row groups of one database that could have changed since the ahead record, proven (see
 * dbGroups.ts). `targetDb` is the database compared on the target (the staging copy while the
 * origin serves, the database itself in the downtime).
 *
 * In the downtime (`still`, the origin's services stopped): each side's row count per table and
 * the groups holding rows written since its own watermark; on both sides, the hash of those groups
 * and of the groups that differed ahead; then the rows outside them must add up, on each side, to
 * the ahead's count of those groups (rows can only have gone from them). A table whose rows do not
 * add up is counted by group on both sides, and the groups that lost rows are hashed too. The
 * origin's totals come from the cold copy's scan when it read the origin as it still is (`scan`).
 * The origin's snapshot must be the same before and after: else, or while the origin serves (a
 * refresh), every table is counted by group on both sides.
 */
async function proveChangedGroups(
  app: App,
  access: { origin: PsqlAccess; target: PsqlAccess },
  db: string,
  targetDb: string,
  a: AheadDatabase,
  counts: GroupCounts,
  opts: { still: boolean; scan?: OriginScan | undefined },
): Promise<GroupProof> {
  const { origin, target } = access;
  const signal = app.signal;
  app.logCommand(
    origin.label,
    `psql -d ${db} <row counts and the groups written since, then hashes of the groups to prove> (via tunnel)`,
  );
  app.logCommand(
    target.label,
    `runuser -u postgres -- psql -d ${targetDb} <row counts and the groups written since, then hashes>`,
  );
  const tw = a.targetWatermark!;
  const hash = (items: readonly { t: GroupTable; groups?: GroupKey[] }[]) => {
    const some = items.filter((p) => !p.groups || p.groups.length);
    return Promise.all([groupHashes(origin, db, some, signal), groupHashes(target, targetDb, some, signal)]);
  };
  const byGroup = async (ts: readonly GroupTable[], hashed: ReadonlyMap<string, GroupKey[] | undefined>) => {
    const [oc, tc] = await Promise.all([
      groupCounts(origin, db, ts, signal, a.watermark),
      groupCounts(target, targetDb, ts, signal, tw),
    ]);
    const items = ts.map((t) => {
      const done = hashed.get(t.ident) ?? [];
      const c = counts.get(t.ident);
      const ahead = a.tables[t.ident];
      if (!c || ahead === "all") return { t };
      const more = groupsBeyondTotals(c, [...done, ...(ahead ?? [])], oc.get(t.ident), tc.get(t.ident));
      return toHash(t, [...more, ...(hashed.has(t.ident) ? [] : (ahead ?? []))]);
    });
    let rows = 0;
    for (const m of oc.values()) for (const [n] of m.values()) rows += Number(n);
    return { items, rows, hashes: await hash(items) };
  };
  const allByGroup = async (ts: readonly GroupTable[]) => {
    const r = await byGroup(ts, new Map());
    return proof(ts, r.rows, "by group", r.items, 0, r.hashes, counts);
  };
  if (!opts.still) return allByGroup(await readTables(origin, db, signal));

  // The origin still: totals, then the groups to hash. The target's tables in two sessions of
  // about equal size.
  const sizes = new Map([...counts].map(([ident, g]) => [ident, [...g.values()].reduce((x, y) => x + y, 0)]));
  const targetTotals = (ts: readonly GroupTable[]) =>
    Promise.all(
      splitBySize([...ts], sizes, 2).map((part) => tableTotals(target, targetDb, part, signal, tw)),
    ).then((parts) => new Map(parts.flatMap((m) => [...m])));
  // From the cold copy's scan when the origin's snapshot is still the one it read (its tables,
  // counts, and where its fresh rows are), at once with the target's; else counted now.
  type Totals = {
    tables: readonly GroupTable[];
    before: string;
    ot: Map<string, TableTotal>;
    tt: Map<string, TableTotal>;
  };
  let totals: Totals | undefined;
  const scan = opts.scan && scanUsable(opts.scan, a.watermark) ? opts.scan : undefined;
  if (scan) {
    const [o, tt] = await Promise.all([
      freshGroupsAt(origin, db, scan, a.watermark, signal),
      targetTotals(scan.list),
    ]);
    if (o.snapshot === scan.snapshot) totals = { tables: scan.list, before: scan.snapshot, ot: o.totals, tt };
  }
  const usedScan = totals !== undefined;
  if (!totals) {
    const [tables, before] = await Promise.all([
      readTables(origin, db, signal),
      currentSnapshot(origin, db, signal),
    ]);
    const [ot, tt] = await Promise.all([
      tableTotals(origin, db, tables, signal, a.watermark),
      targetTotals(tables),
    ]);
    totals = { tables, before, ot, tt };
  }
  const { tables, before, ot, tt } = totals;
  const prove = groupsToHash(tables, a.tables, counts, ot, tt);
  const [oh, th] = await hash(prove);
  const after = await currentSnapshot(origin, db, signal);
  if (after !== before || !quiet(before)) {
    app.events.emit({
      type: "info",
      message: `verify: database ${db} changed on the origin during its verification: every table counted by group`,
    });
    return allByGroup(await readTables(origin, db, signal));
  }
  // Every group a side found rows written in holds rows when hashed by its bounds: else the bounds
  // and the numbers disagree, and nothing proven by them holds.
  for (const p of prove) {
    if (!p.groups) continue;
    for (const [side, t, h] of [
      [origin, ot, oh],
      [target, tt, th],
    ] as const) {
      const g = groupAstray(t.get(p.t.ident)?.fresh ?? [], h.get(p.t.ident));
      if (g !== undefined)
        throw new StepFailed(
          `verify-db:${db}`,
          `${side.label}: ${p.t.ident}'s row group ${g} holds rows written since the ahead, but none within its bounds: its rows cannot be proven by group`,
          {
            hint: "report this to bm-migrate's developers with the table's key type, then run bm-migrate verify",
          },
        );
    }
  }
  // Tables whose rows outside the hashed groups do not add up: by group on both sides.
  const short = prove.filter(
    (p) =>
      p.groups &&
      !totalsProve(
        counts.get(p.t.ident)!,
        p.groups,
        { rows: ot.get(p.t.ident)?.rows ?? 0, hashed: oh.get(p.t.ident) },
        { rows: tt.get(p.t.ident)?.rows ?? 0, hashed: th.get(p.t.ident) },
      ),
  );
  let items = prove;
  if (short.length) {
    const more = await byGroup(
      short.map((p) => p.t),
      new Map(short.map((p) => [p.t.ident, p.groups])),
    );
    items = [...prove, ...more.items];
    mergeGroups(oh, more.hashes[0]);
    mergeGroups(th, more.hashes[1]);
  }
  let rows = 0;
  for (const x of ot.values()) rows += x.rows;
  return proof(tables, rows, usedScan ? "final copy" : "counted", items, short.length, [oh, th], counts);
}

/** A snapshot with no transaction in progress (see snapshotQuiet: the newest one held counts too). */
const quiet = snapshotQuiet;

function proof(
  tables: readonly GroupTable[],
  rows: number,
  originFrom: GroupProof["originFrom"],
  items: readonly { t: GroupTable; groups?: GroupKey[] }[],
  byGroup: number,
  [oh, th]: readonly [GroupMap, GroupMap],
  counts: GroupCounts,
): GroupProof {
  return {
    tables: tables.length,
    rows,
    originFrom,
    hashed: items.reduce((n, p) => n + (p.groups?.length ?? 1), 0),
    byGroup,
    diff: differingGroups(tables, oh, th),
    counts: nextCounts(counts, items, oh),
  };
}

/**
 * Whether the cold copy's scan of the origin can stand for a count now, as long as the origin's
 * snapshot is still the one it began with: that snapshot had no transaction in progress (so an
 * equal one later means nothing committed in between); it counted fresh rows from a watermark not
 * later than the ahead's (`w32`: its fresh rows include the ahead's); and it knows where the fresh
 * rows of every table are.
 */
export function scanUsable(scan: OriginScan, w32: number): boolean {
  if (!quiet(scan.snapshot)) return false;
  if ((w32 - xid32(scan.since) + 2 ** 32) % 2 ** 32 >= 2 ** 31) return false;
  return scan.list.every((t) => {
    const c = scan.tables.get(t.ident);
    return c !== undefined && (c.since === 0 || c.tids !== undefined);
  });
}

/** The counts after a proof: the hashed groups take the origin's counts now. */
function nextCounts(
  counts: GroupCounts,
  hashed: readonly { t: GroupTable; groups?: GroupKey[] }[],
  origin: GroupMap,
): GroupCounts {
  const out: GroupCounts = new Map([...counts].map(([ident, g]) => [ident, new Map(g)]));
  for (const { t, groups } of hashed) {
    const now = origin.get(t.ident) ?? new Map<GroupKey, [string, string]>();
    const c = groups ? (out.get(t.ident) ?? new Map<GroupKey, number>()) : new Map<GroupKey, number>();
    for (const g of groups ?? []) c.delete(g);
    for (const [g, [n]] of now) c.set(g, Number(n));
    out.set(t.ident, c);
  }
  return out;
}

function proofSummary(p: GroupProof, schemaDifferences: number): string {
  const n = p.diff.size + schemaDifferences;
  const how =
    p.originFrom === "by group"
      ? "counted by group on both sides"
      : `counted on both sides${p.originFrom === "final copy" ? " (the origin's by the final copy's own scan)" : ""}, with the groups written since`;
  return `${formatCount(p.tables)} tables, ${formatCount(p.rows)} rows ${how}; ${formatCount(p.hashed)} groups hashed on both sides${p.byGroup ? `; ${p.byGroup} tables counted by group too (rows had gone)` : ""}${n ? `, ${n} differences` : ", identical"}`;
}

/**
 * In the downtime, each database at once: its schema and sequences whole, its row groups as the
 * ahead record leaves them to prove. Databases the record could not vouch for go to `whole`.
 */
export async function verifyChangedDatabases(
  app: App,
  mc: MigrationContext,
  port: number,
  log: DifferenceLog,
  ahead: VerifyAheadRecord,
  whole: (dbs: string[]) => Promise<DbCounts & { normalised: string[] }>,
): Promise<DbCounts & { normalised: string[] }> {
  const access = dbAccess(mc, port);
  const { origin, target } = access;
  const total: DbCounts & { normalised: string[] } = { tables: 0, rows: 0, normalised: [] };
  // The group counts each database's proof starts from: without them, compared whole.
  const counts = new Map<string, GroupCounts>();
  for (const db of mc.profile.databases) {
    const a = ahead.databases[db];
    const c = readGroupCounts(a);
    if (c) counts.set(db, c);
    else if (a && !("whole" in a))
      app.events.emit({
        type: "info",
        message: `verify: database ${db} compared whole (the group counts of the verification ahead are gone: ${a.counts ?? "none"})`,
      });
  }
  const wholeDbs = mc.profile.databases.filter((db) => !counts.has(db));
  const byGroups = mc.profile.databases.filter((db) => !wholeDbs.includes(db));
  const restTask = wholeDbs.length ? whole(wholeDbs) : undefined;
  const counted = await Promise.all(
    byGroups.map((db) =>
      stepEvents(
        app,
        `verify-db:${db}`,
        `Compare database ${db}: schema, sequences, the row groups that could have changed`,
        async () => {
          const a = ahead.databases[db] as AheadDatabase;
          const [os, ts, proof, fresh] = await Promise.all([
            readDbManifest(origin, db, app.signal, SCHEMA_SQL + SEQUENCE_VALUES_SQL),
            readDbManifest(target, db, app.signal, SCHEMA_SQL + SEQUENCE_VALUES_SQL),
            proveChangedGroups(app, access, db, db, a, counts.get(db)!, {
              still: true,
              scan: mc.originScans?.get(db),
            }),
            // Meanwhile: both watermarks must still be recent (else the proof above cannot stand).
            Promise.all([
              snapshotWatermark(origin, db, app.signal),
              snapshotWatermark(target, db, app.signal),
            ]).then(
              ([o, t]) => watermarkFresh(a.watermark, o) && watermarkFresh(a.targetWatermark, t),
              () => false,
            ),
          ]);
          if (!fresh) {
            app.events.emit({
              type: "info",
              message: `verify: database ${db} compared whole (a watermark of the verification ahead is too far behind the server's transactions now to tell what was written since)`,
            });
            const w = await whole([db]);
            total.normalised.push(...w.normalised);
            return {
              value: { ...proof, tables: w.tables, rows: w.rows, diff: new Map() },
              summary: `compared whole (its ahead watermark is too old): ${formatCount(w.tables)} tables, ${formatCount(w.rows)} rows`,
            };
          }
          for (const [side, r] of [
            [origin, os],
            [target, ts],
          ] as const)
            if (r.kind !== "ok")
              throw new StepFailed(
                `verify-db:${db}`,
                `cannot read database ${db} on ${side.label}${r.kind === "failed" ? `: ${stderrTail(r.result.stderr)}` : " (absent)"}`,
                { hint: "check that PostgreSQL runs there, then run bm-migrate verify" },
              );
          if (os.kind !== "ok" || ts.kind !== "ok") throw new Error("unreachable");
          const schema = compareDbManifests(db, os.manifest, ts.manifest);
          for (const d of schema.differences) log.add(d);
          total.normalised.push(...schema.normalised);
          for (const [ident, groups] of proof.diff)
            log.add({
              where: `${db}: table ${ident}`,
              what: `content differs in ${groups.length} group(s) of rows (${groups.slice(0, 5).join(", ")}${groups.length > 5 ? ", …" : ""})`,
            });
          return { value: proof, summary: proofSummary(proof, schema.differences.length) };
        },
      ),
    ),
  );
  for (const c of counted) {
    total.tables += c.tables;
    total.rows += c.rows;
  }
  if (restTask) {
    const rest = await restTask;
    total.tables += rest.tables;
    total.rows += rest.rows;
    total.normalised.push(...rest.normalised);
  }
  return total;
}
