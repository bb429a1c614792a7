/**
 * The plans of the two copying phases, as data built from the hosts' facts and the journal.
 *
 * Hot sync: stop BlueMind and postfix on the target, set aside what the fresh install had in each
 * data directory never synced before, then pull the data directories while the origin serves.
 * Cold sync: stop services on both, make sure PostgreSQL runs on both, then at once: the final
 * pass over the data directories, each database, the configuration files.
 */
import type { JournalRecord } from "../engine/journal.js";
import type { Plan, Stage, Step } from "../engine/plan.js";
import type { MigrationContext } from "./context.js";
import { rsyncStep, setAsideStep } from "./dataSteps.js";
import { stopServicesStep } from "./serviceSteps.js";
import { fenceStep } from "./fenceSteps.js";
import { databaseStep, rolePasswordStep, stagingStep } from "./databaseSteps.js";
import { configStep, leftoversStep } from "./configSteps.js";
import { queueAtStopStep } from "./queueSteps.js";
import type { OriginDb } from "../adapters/postgres.js";
import type { OriginScan, StagingState } from "./databaseDelta.js";
import { originDbCredentials } from "./prepare.js";
import {
  changeLogReader,
  journaledRsyncStep,
  outsideLinksStep,
  startChangeJournalStep,
  stopChangeJournalStep,
} from "./changeJournalSteps.js";
import { statePaths } from "../engine/paths.js";

/** Directories whose first sync already happened (their fresh-install content is set aside). */
export function directoriesSetAside(records: JournalRecord[]): Set<string> {
  const s = new Set<string>();
  for (const r of records)
    if (r.type === "step-done" && r.step?.startsWith("set-aside:")) s.add(r.step.slice("set-aside:".length));
  return s;
}

function setAsideStage(mc: MigrationContext, records: JournalRecord[]): Step[] {
  const done = directoriesSetAside(records);
  return mc.profile.dataDirs
    .filter((d) => !done.has(d))
    .map((d) => setAsideStep(mc.target, d, mc.settings.stateDir));
}

export function hotSyncPlan(mc: MigrationContext, records: JournalRecord[], x: ColdSyncExtras): Plan {
  const dumpDir = statePaths(mc.settings.stateDir).dumps(x.pass);
  const journalOptions = {
    ssh: mc.ssh,
    origin: mc.origin,
    stateDir: mc.settings.stateDir,
    dirs: mc.profile.dataDirs,
  };
  const journal = startChangeJournalStep(journalOptions);
  const stages: Stage[] = [
    { name: "Stop BlueMind and postfix on the target", steps: [stopServicesStep(mc.target)] },
    // Only once the target's own BlueMind is stopped: it could write into its directories meanwhile.
    { name: "Set aside the fresh install's own data", steps: setAsideStage(mc, records) },
    {
      name: "Copy the data directories and the databases (the origin keeps serving)",
      // The change journal's start and at most 4 copies at once.
      maxParallel: 5,
      steps: [
        journal,
        // The databases first: they need no change journal, so they use the time it takes to start.
        ...mc.profile.databases.map((db) =>
          stagingStep(db, {
            target: mc.target,
            origin: x.originDb,
            originHost: mc.origin,
            dumpDir,
            originLabel: mc.ssh.destination,
            jobs: mc.settings.dbJobs,
          }),
        ),
        // Each directory only once the journal watches it: later passes may then visit only what
        // changed since (this one too, after the first: what changed since the last began).
        ...dataCopySteps(mc, records, x.pass, "hot").map((step) => ({ ...step, waitFor: [journal.id] })),
        // The files the journal cannot follow (a name outside the data directories), found last.
        { ...outsideLinksStep(journalOptions), waitFor: [journal.id] },
      ],
    },
  ];
  return { phase: "hot-sync", stages };
}

/**
 * Each data directory's copy: the paths the change journal saw change since the last copy began,
 * else the full pass. Hot: the origin serves (its side niced, later changes left to the next pass).
 */
function dataCopySteps(
  mc: MigrationContext,
  records: JournalRecord[],
  pass: string,
  phase: "hot" | "cold",
): Step[] {
  const hot = phase === "hot";
  const nice = hot && mc.settings.nice;
  const readLog = changeLogReader(mc.settings.stateDir);
  return mc.profile.dataDirs.map((d) =>
    journaledRsyncStep(rsyncStep(mc.ssh, mc.target, d, { hot, nice, bwlimitKiB: mc.settings.bwlimit }), {
      ssh: mc.ssh,
      origin: mc.origin,
      dir: d,
      bwlimitKiB: mc.settings.bwlimit,
      records,
      pass,
      readLog,
      stateDir: mc.settings.stateDir,
      ...(hot ? { serving: true, nice } : {}),
    }),
  );
}

export interface ColdSyncExtras {
  /** Filled once the tunnel is open: the origin's database as seen from the target. */
  originDb: () => OriginDb;
  pass: string;
  /** Cold sync: the staging databases' side of the delta, read before the downtime. */
  readAhead?: Map<string, StagingState>;
  /** Cold sync: filled with what each delta read of the still origin (see OriginScan). */
  originScans?: Map<string, OriginScan>;
}

export function coldSyncPlan(mc: MigrationContext, records: JournalRecord[], x: ColdSyncExtras): Plan {
  const dumpDir = statePaths(mc.settings.stateDir).dumps(x.pass);
  const copy: Step[] = [
    ...dataCopySteps(mc, records, x.pass, "cold"),
    ...mc.profile.databases.map((db) =>
      databaseStep(db, {
        target: mc.target,
        origin: x.originDb,
        originHost: mc.origin,
        dumpDir,
        originLabel: mc.ssh.destination,
        jobs: mc.settings.dbJobs,
        ...(x.readAhead ? { readAhead: x.readAhead } : {}),
        ...(x.originScans ? { originScans: x.originScans } : {}),
      }),
    ),
    configStep({
      ssh: mc.ssh,
      origin: mc.origin,
      target: mc.target,
      mirrors: mc.profile.configMirrors,
      files: mc.profile.configFiles,
      backupDir: statePaths(mc.settings.stateDir).configBefore(x.pass),
      bwlimitKiB: mc.settings.bwlimit,
    }),
    queueAtStopStep(mc.origin, mc.profile.postfixQueue),
    ...(mc.profile.targetLeftovers.length
      ? [
          leftoversStep(
            mc.target,
            mc.profile.targetLeftovers,
            statePaths(mc.settings.stateDir).leftovers(x.pass),
          ),
        ]
      : []),
  ];
  const stages: Stage[] = [
    {
      name: "Stop BlueMind and postfix on both servers, PostgreSQL running, the origin's databases fenced (downtime starts)",
      steps: [
        stopServicesStep(mc.origin, { ensurePostgres: true }),
        stopServicesStep(mc.target, { ensurePostgres: true }),
        // Once BlueMind is stopped there, nothing else commits to the origin's databases until the
        // swap or a rollback: the copy and the proof read an origin that cannot change.
        fenceStep(mc.origin, mc.profile.databases, `stop-services:${mc.origin.role}`),
      ],
    },
    // Only for a directory no hot sync ever reached (its fresh-install content goes aside first).
    { name: "Set aside the fresh install's own data", steps: setAsideStage(mc, records) },
    { name: "Final copy: data, databases and configuration at once", steps: copy },
    { name: "Stop the change journal", steps: [stopChangeJournalStep(mc.settings.stateDir)] },
  ];
  if (mc.profile.dbPasswordInIni) {
    const { user, password } = originDbCredentials(mc.originFacts);
    stages.push({
      name: "Align the database password with the copied bm.ini",
      steps: [rolePasswordStep(user, () => password)],
    });
  }
  return { phase: "cold-sync", stages };
}
