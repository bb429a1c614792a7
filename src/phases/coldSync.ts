/**
 * The cold sync (`bm-migrate cold-sync`, and `run`'s): the downtime. First, while the origin still serves, a hot pass catches up
 * if the last one is old. Then it stops BlueMind and postfix on both servers and copies the rest
 * at once: the final pass over the data, the databases, the configuration. It ends with both
 * servers' BlueMind stopped, ready for verify and swap, and says how long the downtime was.
 */
import type { App } from "../engine/app.js";
import type { MigrationContext } from "./context.js";
import { printPlan } from "../engine/planView.js";
import { newPassId, runPhase, unfinishedPass } from "../engine/runner.js";
import { formatDuration } from "../engine/format.js";
import { coldSyncPlan } from "./plans.js";
import { readStagingAhead, stagingName } from "./databaseSteps.js";
import { stagingMarks, type OriginScan, type StagingState } from "./databaseDelta.js";
import { latestForecast } from "./forecast.js";
import { runHotPass } from "./hotSync.js";
import { finishMigration, originDatabase, prepareMigration } from "./prepare.js";
import { ConfigError, ExitCode, StepFailed } from "../engine/errors.js";
import type { PreflightOptions } from "../check/preflight.js";
import type { JournalRecord } from "../engine/journal.js";
import { flushQueue } from "./queueSteps.js";
import { recopyAheadDifferences, recopyAheadGroups } from "./recopy.js";
import { describeQueue } from "../bluemind/postfixQueue.js";

/** What runs around the cold sync when `run` drives it. */
export interface ColdSyncOptions {
  confirmed?: boolean;
  /**
   * What runs next in the same session, once the cold sync is done (run: the verification of
   * what changed): no new connection, no new facts, no gap in the outage.
   */
  then?: (mc: MigrationContext) => Promise<number>;
  /** What runs last while the origin still serves (run: reading the swap's facts). */
  beforeDowntime?: (mc: MigrationContext) => Promise<void>;
}

/** The cold-sync phase: the catch-up while the origin serves, then the downtime's pass. */
export async function coldSyncPhase(
  app: App,
  preflight: PreflightOptions,
  opts: ColdSyncOptions = {},
): Promise<number> {
  const dry = Boolean(app.flags.dryRun);
  const records = app.journal.records();
  const open = unfinishedPass(records, "cold-sync");
  if (!dry && !open && !app.flags.yes && !opts.confirmed) {
    if (!app.interactive)
      throw new ConfigError("cold-sync stops BlueMind on the origin (downtime) and needs confirmation", {
        hint: "run it on a terminal to be asked, or add --yes",
      });
    const ok = await app.confirm(
      "The cold sync stops BlueMind and postfix on the origin: users lose mail access until the swap. Go on?",
    );
    if (!ok) {
      app.print("Nothing done.");
      return ExitCode.ok;
    }
  }
  const mc = await prepareMigration(app, { lock: !dry, preflight });
  const db = originDatabase(mc);
  try {
    const pass = open ?? newPassId();
    const readAhead = new Map<string, StagingState>();
    const originScans = new Map<string, OriginScan>();
    mc.originScans = originScans;
    if (dry) {
      printPlan(app, coldSyncPlan(mc, records, { originDb: db.get, pass, readAhead, originScans }));
      return ExitCode.ok;
    }
    await db.open();
    // While the origin still serves: catch up with a hot pass if the last one is old, or if a
    // database has no complete staging copy yet, so that the downtime only covers what changes
    // from now on and never has to copy a whole database with the origin stopped.
    const catchUp = open
      ? undefined
      : (catchUpReason(records, Date.now(), mc.settings.catchUpAfter) ??
        (mc.settings.catchUpAfter === null
          ? undefined
          : noStagingReason(await withoutStagingCopy(mc.profile.databases, app.signal))));
    if (catchUp) {
      app.events.emit({ type: "info", message: `Catching up before the downtime: ${catchUp}` });
      const done = await runHotPass(app, mc, db.get);
      app.events.emit({ type: "info", message: done.line });
    }
    // While the origin still serves: its postfix tries its queue now, so that little waits at the stop.
    if (!open) await flushOriginQueue(app, mc);
    // While the origin still serves: what a verification found different is copied again, so that
    // a difference the change journal cannot explain does not fail every downtime's verification.
    if (!open) {
      await recopyAheadDifferences(app, mc);
      await recopyAheadGroups(app, mc, db.get);
    }
    // The plan from the journal as it is now: the catch-up's copies are the last complete ones.
    const plan = coldSyncPlan(mc, app.journal.records(), { originDb: db.get, pass, readAhead, originScans });
    // While the origin still serves: the staging copies' side of the database delta (on a resumed
    // pass the downtime has begun already, and the steps read what they need themselves).
    if (!open) {
      const t0 = Date.now();
      for (const [name, state] of await readStagingAhead(mc.profile.databases, app.signal))
        readAhead.set(name, state);
      if (readAhead.size)
        app.events.emit({
          type: "info",
          message: `Read the staging copies of ${[...readAhead.keys()].join(", ")} ahead of the downtime (${formatDuration(Date.now() - t0)})`,
        });
    }
    // The downtime only starts when it can finish: each database must have a complete staging copy
    // (a full copy with the origin stopped could fail, and leave the origin stopped for nothing).
    if (!open) {
      const missing = mc.profile.databases.filter((name) => !readAhead.has(name));
      if (missing.length) throw notReadyForDowntime(missing, mc.settings.catchUpAfter === null);
    }
    if (!open && opts.beforeDowntime) await opts.beforeDowntime(mc);
    const started = open ? firstRecordTime(records, pass) : new Date();
    app.events.emit({
      type: "info",
      message: open
        ? `Resuming cold sync pass ${pass} (downtime began ${started.toISOString()})`
        : `Cold sync pass ${pass}: the downtime starts now`,
    });
    const outcome = await runPhase(app, plan, pass, Boolean(open), {
      origin: mc.ssh.destination,
      profile: mc.profile.id,
      originVersion: mc.originFacts.bmVersion,
    });
    const ended = new Date();
    const ms = ended.getTime() - started.getTime();
    const forecast = latestForecast(app.journal.records(), started.toISOString());
    app.journal.append({
      type: "downtime",
      run: app.runId,
      phase: "cold-sync",
      pass,
      startedAt: started.toISOString(),
      endedAt: ended.toISOString(),
      ms,
      ...(forecast ? { forecastMs: forecast.downtimeMs } : {}),
    });
    app.events.emit({
      type: "info",
      message: `Cold phase: ${formatDuration(ms)}`,
      data: { downtimeMs: ms, coldSyncMs: outcome.durationMs },
    });
    app.events.emit({
      type: "outage",
      startedAt: started.toISOString(),
      ongoing: true,
      parts: [],
      coldSyncMs: ms,
    });
    app.print(
      `Cold sync done: BlueMind is stopped on both servers. The cold phase took ${formatDuration(ms)}${forecast ? ` (forecast ${formatDuration(forecast.downtimeMs)})` : ""}; the outage goes on (since ${started.toISOString().slice(11, 19)} UTC) until BlueMind answers on the target after the swap.\n` +
        `Next: bm-migrate verify, then bm-migrate swap`,
    );
    return opts.then ? await opts.then(mc) : ExitCode.ok;
  } finally {
    await db.close();
    await finishMigration(app, mc, { lock: !dry });
  }
}

/**
 * Why the cold sync should first catch up with a hot pass (the origin still serving), or nothing:
 * the last hot pass did not finish, or finished longer ago than `afterSec` (null: never). Without
 * any hot pass there is nothing to catch up: the cold sync copies everything.
 */
export function catchUpReason(
  records: JournalRecord[],
  now: number,
  afterSec: number | null,
): string | undefined {
  if (afterSec === null) return undefined;
  const open = unfinishedPass(records, "hot-sync");
  if (open) return `the last hot sync pass (${open}) did not finish`;
  const end = records.filter((r) => r.phase === "hot-sync" && r.type === "pass-finished").at(-1);
  if (!end) return undefined;
  const ago = now - Date.parse(end.t);
  if (ago <= afterSec * 1000) return undefined;
  return `the last hot sync ended ${formatDuration(ago)} ago (more than ${formatDuration(afterSec * 1000)})`;
}

/** The databases that have no complete staging copy on the target (none made yet, or not finished). */
async function withoutStagingCopy(dbs: readonly string[], signal: AbortSignal): Promise<string[]> {
  const marks = await Promise.all(dbs.map((name) => stagingMarks(stagingName(name), signal)));
  return dbs.filter((_, i) => !marks[i]);
}

export function noStagingReason(missing: readonly string[]): string | undefined {
  return missing.length
    ? `no complete staging copy of ${missing.join(", ")} on the target yet (a hot pass copies the databases ahead)`
    : undefined;
}

/** The refusal before the downtime, when a database has no staging copy to bring up to date. */
export function notReadyForDowntime(missing: readonly string[], catchUpDisabled: boolean): StepFailed {
  return new StepFailed(
    "cold-sync-ready",
    `the downtime has not started: ${missing.join(", ")} ${missing.length === 1 ? "has" : "have"} no complete staging copy on the target, and copying ${missing.length === 1 ? "it" : "them"} in full with the origin stopped could fail and leave the origin stopped for nothing (nothing was stopped)`,
    {
      hint: catchUpDisabled
        ? "run bm-migrate hot-sync first (it copies the databases ahead while the origin serves), or cold-sync without --catch-up-after never, then bm-migrate cold-sync"
        : "run bm-migrate hot-sync and look at its database steps, then bm-migrate cold-sync",
    },
  );
}

function firstRecordTime(records: { t: string; pass?: string; type: string }[], pass: string): Date {
  const r = records.find((x) => x.pass === pass && x.type === "pass-started");
  return r ? new Date(r.t) : new Date();
}

/** Flush the origin's postfix queue before the downtime; the counts go to the output and the journal. */
async function flushOriginQueue(app: App, mc: MigrationContext): Promise<void> {
  const q = mc.profile.postfixQueue;
  app.logCommand(mc.origin.label, "postqueue -f (then count the queue until it settles)");
  const r = await flushQueue(mc.origin, q, { signal: app.signal });
  app.journal.append({
    type: "postfix-flush",
    run: app.runId,
    phase: "cold-sync",
    before: r.before.count,
    after: r.after.count,
    byQueue: r.after.byQueue,
    ms: r.ms,
  });
  app.events.emit({
    type: "info",
    message:
      r.before.count === 0
        ? "Postfix queue on the origin: empty before the downtime"
        : `Postfix queue on the origin flushed while it serves: ${r.before.count} message(s) before, ${r.after.count} left (${describeQueue(r.after.byQueue)}) after ${formatDuration(r.ms)}; what is left is carried to the target`,
    data: { queueBefore: r.before.count, queueAfter: r.after.count },
  });
}
