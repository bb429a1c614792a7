/**
 * What the verification ahead (or a failed verification) found different, copied again before the downtime (while the origin
 * still serves), so that a difference the change journal cannot explain (a target file with the
 * origin's size and mtime but other content, a file changed on the target, one the last copy did
 * not reach) does not come back in every cold sync's verification: the downtime's verification
 * then re-checks these paths as before, and proves them.
 *
 * Files: each path by itself (`rsync --files-from --ignore-times --delete-missing-args`, as the
 * journaled copy does), never more than the ahead listed. Databases: the row groups the ahead found
 * different, replaced in the staging copy by the origin's (one transaction per table): the delta's
 * watermark finds only rows the origin wrote since, never a staging row that differs without one.
 * Rows copied from the serving origin are its rows now: later writes have a newer xmin, and the
 * cold sync's delta copies them as before.
 */
import { rsyncListedPull, safeRelative } from "../adapters/rsyncListed.js";
import type { App } from "../engine/app.js";
import { StepFailed } from "../engine/errors.js";
import { formatCount } from "../engine/format.js";
import type { JournalRecord } from "../engine/journal.js";
import type { MigrationContext } from "./context.js";
import { withParents } from "./changeJournal.js";
import { pipeOriginInto, targetRows } from "../adapters/pgQuery.js";
import type { OriginDb } from "../adapters/postgres.js";
import { GROUPING, groupFilter, type AheadTable } from "../database/rowGroups.js";
import { parsePk, TABLES_SQL } from "./databaseDelta.js";
import { stagingName } from "./databaseSteps.js";

/**
 * The paths found different by the last verification ahead (or its refresh), and by the last
 * verification that failed since, by data directory: relative to it, parents first. A directory
 * the ahead could only compare whole is left out (the final copy and the proof see to it as before).
 */
export function aheadDifferences(
  records: readonly JournalRecord[],
  dataDirs: readonly string[],
): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  const add = (dir: string, rel: string): void => {
    if (safeRelative(rel)) (out.get(dir) ?? out.set(dir, new Set()).get(dir)!).add(rel);
  };
  const ahead = records.findLast((r) => r.type === "verify-ahead");
  const files = ahead?.["files"];
  if (files && typeof files === "object")
    for (const [dir, f] of Object.entries(files as Record<string, unknown>)) {
      const paths = (f as { paths?: unknown }).paths;
      if (dataDirs.includes(dir) && Array.isArray(paths))
        for (const p of paths) if (typeof p === "string") add(dir, p);
    }
  const failed = records.findLast((r) => r.type === "verify-result");
  if (failed && failed["ok"] === false && Array.isArray(failed["differences"]))
    for (const d of failed["differences"] as { where?: unknown }[]) {
      const where = typeof d.where === "string" ? d.where : "";
      const dir = dataDirs.find((x) => where === x || where.startsWith(`${x}/`));
      if (dir) add(dir, where === dir ? "." : where.slice(dir.length + 1));
    }
  // Every parent directory too, as the journaled copy lists them: rsync writes a file through a
  // temporary name beside it, and a parent not listed would keep the time of that write.
  return new Map([...out].map(([dir, set]) => [dir, withParents(set)]));
}

/** Copy again, while the origin serves, what the last verification ahead found different. */
export async function recopyAheadDifferences(app: App, mc: MigrationContext): Promise<void> {
  const diff = aheadDifferences(app.journal.records(), mc.profile.dataDirs);
  if (!diff.size) return;
  const t0 = Date.now();
  let n = 0;
  for (const [dir, paths] of diff) {
    app.logCommand(
      "target",
      `rsync --files-from (${paths.length} paths that differed ahead) --ignore-times ${mc.ssh.destination}:${dir}/ ${dir}/`,
    );
    const { result } = await rsyncListedPull({
      ssh: mc.ssh,
      dir,
      paths,
      ...(mc.settings.bwlimit ? { bwlimitKiB: mc.settings.bwlimit } : {}),
      nice: mc.settings.nice,
      signal: app.signal,
    });
    // 24: files vanished on the origin meanwhile (it serves): the next copy and the proof see to them.
    if (result.exitCode !== 0 && result.exitCode !== 24)
      throw new StepFailed(
        "recopy-ahead",
        `copying again what differed ahead in ${dir} failed (rsync exit ${result.exitCode}): ${result.stderr.trim().split("\n").pop() ?? ""} (nothing was stopped)`,
        { hint: "fix the cause shown (bm-migrate check), then run the same command again" },
      );
    n += paths.length;
  }
  app.events.emit({
    type: "info",
    message: `Copied again, before the downtime, the ${formatCount(n)} path(s) the verification ahead found different (${formatCount(Date.now() - t0)} ms); the downtime's verification proves them`,
  });
}

/** The row groups the last verification ahead found different, by database and table. */
export function aheadGroupDifferences(
  records: readonly JournalRecord[],
  dbs: readonly string[],
): Map<string, Map<string, AheadTable>> {
  const out = new Map<string, Map<string, AheadTable>>();
  const ahead = records.findLast((r) => r.type === "verify-ahead");
  const databases = ahead?.["databases"];
  if (!databases || typeof databases !== "object") return out;
  for (const db of dbs) {
    const tables = (databases as Record<string, { tables?: unknown; grouping?: unknown }>)[db];
    // Groups numbered as today's verification numbers them, or none (another release's record).
    if (!tables || tables.grouping !== GROUPING || !tables.tables || typeof tables.tables !== "object")
      continue;
    const m = new Map<string, AheadTable>();
    for (const [ident, g] of Object.entries(tables.tables as Record<string, unknown>))
      if (g === "all") m.set(ident, "all");
      // Group numbers are PostgreSQL's decimal text (exact beyond 2^53).
      else if (Array.isArray(g) && g.length && g.every((n) => typeof n === "string" && /^-?\d+$/.test(n)))
        m.set(ident, g as string[]);
    if (m.size) out.set(db, m);
  }
  return out;
}

/** Replace in each staging copy the row groups the last verification ahead found different. */
export async function recopyAheadGroups(
  app: App,
  mc: MigrationContext,
  origin: () => OriginDb,
): Promise<void> {
  const diff = aheadGroupDifferences(app.journal.records(), mc.profile.databases);
  if (!diff.size) return;
  const t0 = Date.now();
  let n = 0;
  for (const [db, tables] of diff) {
    const staging = stagingName(db);
    const listed = await targetRows(staging, TABLES_SQL, app.signal);
    if (listed.exitCode !== 0) continue; // no staging copy: the cold sync copies it in full
    const known = new Map(
      listed.rows.map(([ident = "", pk, pkType]) => [
        ident,
        { ident, pk: parsePk(pk), pkType: pkType ?? "" },
      ]),
    );
    for (const [ident, groups] of tables) {
      const t = known.get(ident);
      if (!t) continue; // a table the staging copy lacks: its schema differs, the delta copies in full
      const where = groups === "all" ? "true" : groupFilter(t, groups);
      app.logCommand(
        "target",
        `psql ${staging}: replace ${groups === "all" ? "every row" : `${groups.length} row group(s)`} of ${ident} by the origin's (they differed ahead)`,
      );
      const r = await pipeOriginInto(
        origin(),
        db,
        `COPY (SELECT * FROM ONLY ${t.ident} r WHERE ${where}) TO STDOUT`,
        staging,
        [`DELETE FROM ONLY ${t.ident} r WHERE ${where}`, `COPY ${t.ident} FROM STDIN`],
        app.signal,
      );
      if (r.exitCode !== 0)
        throw new StepFailed(
          "recopy-ahead",
          `copying again the rows of ${db}'s ${ident} that differed ahead failed: ${r.stderr.trim().split("\n").pop() ?? ""} (nothing was stopped)`,
          { hint: "fix the cause shown (bm-migrate check), then run the same command again" },
        );
      n += groups === "all" ? 1 : groups.length;
    }
  }
  app.events.emit({
    type: "info",
    message: `Copied again, before the downtime, the ${formatCount(n)} row group(s) the verification ahead found different (${formatCount(Date.now() - t0)} ms); the downtime's verification proves them`,
  });
}
