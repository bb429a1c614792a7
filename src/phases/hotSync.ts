/**
 * The hot sync (`bm-migrate hot-sync`, and `run`'s and the cold sync's catch-up): copy the data
 * directories while the origin keeps serving. Repeatable; an interrupted pass is resumed by the
 * next run.
 */
import type { App } from "../engine/app.js";
import { printPlan } from "../engine/planView.js";
import { newPassId, runPhase, unfinishedPass } from "../engine/runner.js";
import { formatBytes, formatCount, formatDuration } from "../engine/format.js";
import { hotSyncPlan } from "./plans.js";
import { finishMigration, originDatabase, prepareMigration } from "./prepare.js";
import type { MigrationContext } from "./context.js";
import type { OriginDb } from "../adapters/postgres.js";
import { ExitCode } from "../engine/errors.js";
import { forecastFromPass } from "./forecast.js";
import type { PreflightOptions } from "../check/preflight.js";

/** The hot-sync phase: one pass (or the rest of an interrupted one), or its plan with --dry-run. */
export async function hotSyncPhase(app: App, preflight: PreflightOptions): Promise<number> {
  const lock = !app.flags.dryRun;
  const mc = await prepareMigration(app, { lock, preflight });
  const db = originDatabase(mc);
  try {
    if (app.flags.dryRun) {
      const records = app.journal.records();
      const pass = unfinishedPass(records, "hot-sync") ?? newPassId();
      printPlan(app, hotSyncPlan(mc, records, { originDb: db.get, pass }));
      return ExitCode.ok;
    }
    await db.open();
    app.events.emit({
      type: "info",
      message: `Origin ${mc.ssh.destination}: BlueMind ${mc.originFacts.bmVersion} on ${mc.originFacts.osPrettyName}; profile ${mc.profile.id} (${mc.profile.description})`,
    });
    const done = await runHotPass(app, mc, db.get);
    app.print(
      `${done.line}\nRun hot-sync again to shorten the cold sync, or when ready for the downtime: bm-migrate cold-sync`,
    );
    return ExitCode.ok;
  } finally {
    await db.close();
    await finishMigration(app, mc, { lock });
  }
}

/**
 * One hot pass (or the rest of an interrupted one), then the forecast of a cold sync's downtime
 * from what it saw. `line` says what it moved. The caller holds the lock and the database tunnel.
 */
export async function runHotPass(
  app: App,
  mc: MigrationContext,
  originDb: () => OriginDb,
): Promise<{ line: string }> {
  const records = app.journal.records();
  const open = unfinishedPass(records, "hot-sync");
  const pass = open ?? newPassId();
  if (open) app.events.emit({ type: "info", message: `Hot sync: resuming pass ${open}` });
  const plan = hotSyncPlan(mc, records, { originDb, pass });
  const outcome = await runPhase(app, plan, pass, Boolean(open), {
    origin: mc.ssh.destination,
    profile: mc.profile.id,
    originVersion: mc.originFacts.bmVersion,
  });
  let files = 0;
  let bytes = 0;
  for (const r of Object.values(outcome.results)) {
    files += Number(r.data?.["transferredFiles"] ?? 0);
    bytes += Number(r.data?.["transferredBytes"] ?? 0);
  }
  const forecast = forecastFromPass(app.journal.records(), outcome.pass);
  if (forecast) {
    app.journal.append({
      type: "forecast",
      run: app.runId,
      phase: "hot-sync",
      pass: outcome.pass,
      ...forecast,
    });
    app.events.emit({
      type: "info",
      message: `Expected downtime of a cold sync now: about ${formatDuration(forecast.downtimeMs)} (services' stop ${formatDuration(forecast.basis.stopMs)}, then the slowest copy: ${forecast.basis.slowestStep}, ${formatDuration(forecast.basis.copyMs)}, ${forecast.basis.how})`,
      data: { forecastMs: forecast.downtimeMs },
    });
  }
  return {
    line: `Hot sync pass ${outcome.pass} done in ${formatDuration(outcome.durationMs)}: ${formatCount(files)} files, ${formatBytes(bytes)} moved.`,
  };
}
