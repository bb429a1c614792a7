/**
 * The verifications that rely on a verification ahead (see ahead.ts for the proof and its records):
 * - ahead: the full comparison while the origin serves, its differences kept for the downtime;
 * - refresh: while the origin still serves, only what could have changed since the last ahead, its
 *   differences kept as a newer ahead record (`run` makes one after a long ahead, so that the
 *   downtime covers the last seconds' changes, not the whole ahead's);
 * - changed: in the downtime, only what could have changed since the last ahead record.
 */
import type { App } from "../cli/app.js";
import { stderrTail } from "../adapters/process.js";
import { ExitCode, StepFailed } from "../engine/errors.js";
import type { JournalRecord } from "../engine/journal.js";
import { formatCount } from "../format.js";
import type { MigrationContext } from "../phases/context.js";
import { stagingName } from "../phases/databaseSteps.js";
import { DifferenceLog, type FileCounts } from "./compare.js";
import { fileManifestScript, isUnder, listedInput } from "./fileManifest.js";
import {
  compareDbManifests,
  readDbManifest,
  SCHEMA_SQL,
  SEQUENCE_VALUES_SQL,
  type DbCounts,
  type PsqlAccess,
} from "./dbManifest.js";
import {
  aheadFiles,
  aheadTables,
  compareManifestRun,
  currentChangeLog,
  groupCounts,
  groupHashes,
  keptGroups,
  LinkGroups,
  manifestScripts,
  originWatermark,
  planListed,
  readLogText,
  readTables,
  toProve,
  type VerifyAheadRecord,
} from "./ahead.js";
import { differingGroups, GROUPING, type AheadTable, type GroupMap } from "./dbGroups.js";
import { dbAccess, stepEvents } from "./verifyAccess.js";

// ---------------------------------------------------------------------------------------------
// Ahead: the full comparison while the origin serves; its differences are kept for the downtime.

/** Each database's watermark, noted before anything is read: nothing written later can look older. */
async function watermarks(
  app: App,
  origin: PsqlAccess,
  dbs: readonly string[],
): Promise<Map<string, number>> {
  const marks = new Map<string, number>();
  for (const db of dbs) marks.set(db, await originWatermark(origin, db, app.signal));
  return marks;
}

/** One database ahead, whole: every group's count and hash, the origin against its staging copy. */
function aheadDatabase(
  app: App,
  access: { origin: PsqlAccess; target: PsqlAccess },
  db: string,
  watermark: number,
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
        value: { watermark, tables: diff, grouping: GROUPING },
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
    "startedAt" | "durationMs" | "refreshOf" | "changeLog" | "files" | "databases"
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
  const changeLog = currentChangeLog(app.settings.stateDir);
  const dataDirs = mc.profile.dataDirs;
  const access = dbAccess(mc, port);
  const marks = await watermarks(app, access.origin, mc.profile.databases);
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
  const marks = await watermarks(app, access.origin, mc.profile.databases);
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
        const watermark = marks.get(db)!;
        if (!a || "whole" in a) return [db, await aheadDatabase(app, access, db, watermark)];
        const proof = await stepEvents(
          app,
          `verify-refresh-db:${db}`,
          `Compare database ${db}: the row groups that could have changed (with its staging copy)`,
          async () => {
            const p = await proveChangedGroups(app, access, db, stagingName(db), a);
            return { value: p, summary: proofSummary(p, 0) };
          },
        );
        return [db, { watermark, tables: keptGroups(proof.diff), grouping: GROUPING }];
      }),
    ),
  ]);
  return recordAhead(
    app,
    {
      startedAt: new Date(started).toISOString(),
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
        { finalCopy: opts.refresh ? "none" : "cold" },
      );
      for (const [dir, why] of plan.whole)
        app.events.emit({ type: "info", message: `verify: ${dir} compared whole (${why})` });
      const links = new LinkGroups();
      const scripts = manifestScripts(mc.profile.configFiles, true, [...plan.whole.keys()]);
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
        summary: `${formatCount(listed)} listed paths in ${plan.listedDirs.length} directories${plan.whole.size ? `, ${plan.whole.size} directories whole` : ""}, the configuration whole: ${formatCount(counts.files)} files compared${note}`,
      };
    },
  );
}

interface GroupProof {
  tables: number;
  /** The origin's rows, counted by group. */
  rows: number;
  /** Groups hashed on both sides. */
  hashed: number;
  /** The groups that differ, per table. */
  diff: Map<string, number[]>;
}

/**
 * The row groups of one database that could have changed since the ahead record, hashed on both
 * sides: those that differed then, those the origin wrote since its watermark, those whose counts
 * differ now (see dbGroups.ts). `targetDb` is the database compared on the target (the staging
 * copy while the origin serves, the database itself in the downtime).
 */
async function proveChangedGroups(
  app: App,
  access: { origin: PsqlAccess; target: PsqlAccess },
  db: string,
  targetDb: string,
  a: { watermark: number; tables: Record<string, AheadTable> },
): Promise<GroupProof> {
  const { origin, target } = access;
  app.logCommand(
    origin.label,
    `psql -d ${db} <row group counts, then hashes of the groups to prove> (via tunnel)`,
  );
  app.logCommand(target.label, `runuser -u postgres -- psql -d ${targetDb} <row group counts, then hashes>`);
  const tables = await readTables(origin, db, app.signal);
  const [oc, tc] = await Promise.all([
    groupCounts(origin, db, tables, app.signal, a.watermark),
    groupCounts(target, targetDb, tables, app.signal),
  ]);
  const prove = toProve(tables, a.tables, oc, tc);
  const [oh, th] = await Promise.all([
    groupHashes(origin, db, prove, app.signal),
    groupHashes(target, targetDb, prove, app.signal),
  ]);
  const diff = differingGroups(
    prove.map((p) => p.t),
    oh,
    th,
  );
  let rows = 0;
  for (const m of oc.values()) for (const [n] of m.values()) rows += Number(n);
  return {
    tables: tables.length,
    rows,
    hashed: prove.reduce((n, p) => n + (p.groups?.length ?? 1), 0),
    diff,
  };
}

function proofSummary(p: GroupProof, schemaDifferences: number): string {
  const n = p.diff.size + schemaDifferences;
  return `${formatCount(p.tables)} tables, ${formatCount(p.rows)} rows counted by group; ${formatCount(p.hashed)} groups hashed on both sides${n ? `, ${n} differences` : ", identical"}`;
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
  const wholeDbs = mc.profile.databases.filter((db) => {
    const a = ahead.databases[db];
    return !a || "whole" in a;
  });
  const byGroups = mc.profile.databases.filter((db) => !wholeDbs.includes(db));
  const restTask = wholeDbs.length ? whole(wholeDbs) : undefined;
  const counted = await Promise.all(
    byGroups.map((db) =>
      stepEvents(
        app,
        `verify-db:${db}`,
        `Compare database ${db}: schema, sequences, the row groups that could have changed`,
        async () => {
          const a = ahead.databases[db] as { watermark: number; tables: Record<string, AheadTable> };
          const [os, ts, proof] = await Promise.all([
            readDbManifest(origin, db, app.signal, SCHEMA_SQL + SEQUENCE_VALUES_SQL),
            readDbManifest(target, db, app.signal, SCHEMA_SQL + SEQUENCE_VALUES_SQL),
            proveChangedGroups(app, access, db, db, a),
          ]);
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
