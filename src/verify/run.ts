/**
 * The verification (`bm-migrate verify`, and `run`'s): shows that the target holds what the origin
 * holds, without moving the data. Each host computes its own manifest (files: a script of standard
 * tools, streamed and sorted by path; databases: queries inside PostgreSQL), and the target
 * compares them as they arrive. Every difference is reported with its path or table; the result is
 * journaled for `swap`. The scopes that rely on a verification ahead are in sinceAhead.ts.
 */
import type { App } from "../engine/app.js";
import { failure, stderrTail } from "../adapters/process.js";
import { openTunnel, type Tunnel } from "../adapters/postgres.js";
import { readServiceState } from "../bluemind/serviceState.js";
import { configScope } from "../bluemind/profiles.js";
import { ConfigError, ExitCode, StepFailed } from "../engine/errors.js";
import { formatBytes, formatCount } from "../engine/format.js";
import { finishMigration, prepareMigration } from "../phases/prepare.js";
import type { MigrationContext } from "../phases/context.js";
import { DifferenceLog, formatDifference, type FileCounts } from "./compare.js";
import { fileManifestScript } from "./fileManifest.js";
import { readDbManifest } from "../database/manifest.js";
import { compareDbManifests, type DbCounts } from "./dbCompare.js";
import { compareManifestRun, usableAhead } from "./ahead.js";
import { verifyAhead, verifyChangedDatabases, verifyChangedFiles, verifyRefresh } from "./sinceAhead.js";
import { dbAccess, stepEvents } from "./verifyAccess.js";
import type { Plan } from "../engine/plan.js";
import { newPassId, runPhase } from "../engine/runner.js";
import { foldJournal } from "../engine/status.js";
import { fenceHolds } from "../phases/fenceSteps.js";

/** Differences journaled (and printed); all are counted. */
const JOURNAL_DIFFERENCES = 200;

/**
 * How much `verify` compares: `full` (what `verify` does when asked directly), `ahead` (`run`,
 * before the cold sync, while the origin serves: full, its differences kept for the downtime), or
 * `refresh` (`run`, after a long ahead and a last hot pass, the origin still serving: what could have
 * changed since the ahead, kept as a newer ahead record), or `changed` (`run`, after the cold sync:
 * what could have changed since the ahead; full when there is no usable ahead record).
 */
export type VerifyScope = "full" | "ahead" | "refresh" | "changed";

/** What `verify` takes from its flags. */
export interface VerifyOptions {
  /** Compare the content of only this share (in %) of the data files. */
  samplePercent?: number;
}

/** The verification phase: prepares its own context (connection, lock), then compares. */
export async function verifyPhase(
  app: App,
  opts: VerifyOptions,
  scope: VerifyScope = "full",
): Promise<number> {
  const samplePercent = opts.samplePercent;
  const started = Date.now();
  const ahead = scope === "changed" ? usableAhead(app.journal.records()) : undefined;
  if (scope === "ahead" && samplePercent !== undefined)
    throw new ConfigError(
      "--sample cannot be used with a verification ahead: the downtime relies on it whole",
    );
  if (scope === "changed" && !ahead)
    app.events.emit({
      type: "info",
      message: "verify: no verification ahead since the last hot pass: every file and row is compared",
    });
  const mc = await prepareMigration(app, { lock: true });
  try {
    return await verifyIn(app, mc, opts, scope, started);
  } finally {
    await finishMigration(app, mc, { lock: true });
  }
}

/** The verification with a context already prepared (run: the cold sync's own, in the same session). */
export async function verifyIn(
  app: App,
  mc: MigrationContext,
  opts: VerifyOptions,
  scope: VerifyScope,
  started = Date.now(),
): Promise<number> {
  const samplePercent = opts.samplePercent;
  const records = app.journal.records();
  const ahead = scope === "changed" || scope === "refresh" ? usableAhead(records) : undefined;
  /** The full comparison runs through the runner (its pass); the others announce themselves. */
  const whole = scope === "full" || (scope === "changed" && !ahead);
  let tunnel: Tunnel | undefined;
  try {
    if (!whole) app.events.emit({ type: "phase-started", phase: "verify" });
    const [running, t] = await Promise.all([
      scope === "ahead" || scope === "refresh" ? Promise.resolve([]) : runningServices(mc),
      openTunnel(mc.ssh),
    ]);
    if ("port" in t) tunnel = t;
    for (const r of running)
      app.events.emit({
        type: "warning",
        message: `${r.service} runs on the ${r.role}: differences are expected (verify after the cold sync, with BlueMind and postfix stopped on both)${r.evidence ? `; seen from ${r.evidence}` : ""}`,
      });
    if (!("port" in t))
      throw new StepFailed(
        "verify-tunnel",
        `cannot forward a port to the origin's PostgreSQL through SSH (${mc.ssh.destination}): ${stderrTail(t.stderr)}`,
        {
          hint: "allow TCP forwarding for root in the origin's sshd (AllowTcpForwarding), then run verify again",
        },
      );
    tunnel = t;
    if (scope === "ahead" || (scope === "refresh" && !ahead))
      return await verifyAhead(app, mc, tunnel.port, started);
    if (scope === "refresh") return await verifyRefresh(app, mc, tunnel.port, started, ahead!, records);
    const log = new DifferenceLog(1000);
    // What keeps the gate shut whatever the copies hold: a service that changes the data runs
    // (on the target, its own BlueMind, Cyrus or postfix would write behind the proof), or the
    // origin's fence no longer holds (something could commit there after the proof).
    for (const r of running)
      log.add({
        where: `${r.role}: ${r.service}`,
        what: `runs during the verification (seen from ${r.evidence ?? "its service state"}): the swap is refused while it runs; stop it there (bmctl stop; service postfix stop), then verify again`,
      });
    const fence = foldJournal(records).fence;
    if (fence)
      for (const problem of await fenceHolds(
        mc.origin,
        fence.databases.length ? fence.databases : mc.profile.databases,
        app.signal,
      ))
        log.add({
          where: "origin: the fence",
          what: `${problem}: something could commit on the origin after this proof; run bm-migrate cold-sync again (it fences again and copies what changed), then verify`,
        });
    let pass: string | undefined;
    const [files, dbs] = ahead
      ? await Promise.all([
          verifyChangedFiles(app, mc, log, ahead, records),
          verifyChangedDatabases(app, mc, tunnel.port, log, ahead, (dbs) =>
            verifyDatabases(app, { ...mc, profile: { ...mc.profile, databases: dbs } }, tunnel!.port, log),
          ),
          verifyNoLeftovers(mc, log),
        ])
      : await (async () => {
          const found = newFound();
          pass = newPassId();
          const plan = verifyPlan(mc, { samplePercent, port: () => tunnel!.port }, { app, log, found });
          await Promise.all([
            runPhase(
              app,
              plan,
              pass,
              false,
              { scope: "full", ...(samplePercent !== undefined ? { sample: samplePercent } : {}) },
              { callerFinishes: true },
            ),
            verifyNoLeftovers(mc, log),
          ]);
          return [found.files, found.dbs] as const;
        })();
    const durationMs = Date.now() - started;
    const ok = log.total === 0;
    const normalised: string[] = "normalised" in dbs ? dbs.normalised : [];
    const counts = {
      files: files.files,
      dirs: files.dirs,
      bytes: files.bytes,
      tables: dbs.tables,
      rows: dbs.rows,
    };
    app.journal.append({
      type: "verify-result",
      run: app.runId,
      phase: "verify",
      ...(pass ? { pass } : {}),
      startedAt: new Date(started).toISOString(),
      scope: ahead ? "changed" : "full",
      ...(ahead ? { aheadAt: ahead.startedAt } : {}),
      ok,
      differences: log.kept.slice(0, JOURNAL_DIFFERENCES),
      differenceCount: log.total,
      counts,
      ...(normalised.length ? { normalised } : {}),
      ...(samplePercent !== undefined ? { sample: samplePercent } : {}),
      ...(running.length ? { originRunning: running.some((r) => r.role === "origin") } : {}),
      durationMs,
    });
    const what =
      (ahead ? "what could change since the verification ahead: " : "") +
      `${formatCount(counts.files)} files, ${formatCount(counts.dirs)} directories, ${formatBytes(counts.bytes)}` +
      ` (content of ${formatCount(files.contentCompared)} files compared${samplePercent !== undefined ? `, sample ${samplePercent}%` : ""}); ` +
      `${formatCount(counts.tables)} tables, ${formatCount(counts.rows)} rows`;
    app.events.emit({
      type: "phase-finished",
      phase: "verify",
      durationMs,
      summary: ok
        ? `identical: ${what}`
        : `${formatCount(log.total)} differences (${log.summary()}); ${what}`,
    });
    app.events.emit({
      type: "info",
      message: ok ? "verify: the target holds what the origin holds" : "verify: differences found",
      data: {
        ok,
        differenceCount: log.total,
        differences: log.kept.slice(0, JOURNAL_DIFFERENCES),
        counts,
        ...(normalised.length ? { normalised } : {}),
        durationMs,
      },
    });
    const implied = normalised.length
      ? `\nAccepted as what the change of PostgreSQL version implies:\n${normalised.map((n) => `  ${n}`).join("\n")}`
      : "";
    if (ok) {
      app.print(
        `Verified: the target holds what the origin holds (${what}).${implied}\nNext: bm-migrate swap`,
      );
      return ExitCode.ok;
    }
    const shown = log.kept.slice(0, JOURNAL_DIFFERENCES).map(formatDifference);
    const more = log.total - shown.length;
    app.print(
      `${shown.join("\n")}\n${more > 0 ? `… and ${formatCount(more)} more\n` : ""}` +
        `Verification FAILED: ${formatCount(log.total)} differences (${log.summary()}).\n` +
        `Next: find out why (was a service running? did the cold sync finish?), run bm-migrate cold-sync again if needed, then bm-migrate verify`,
    );
    return ExitCode.stepFailed;
  } finally {
    await tunnel?.close();
  }
}

/** What the target's own install left and the cold sync sets aside (5.x: bm-core's queues) must be gone. */
async function verifyNoLeftovers(mc: MigrationContext, log: DifferenceLog): Promise<void> {
  const globs = mc.profile.targetLeftovers;
  if (!globs.length) return;
  const r = await mc.target.sh(
    `shopt -s nullglob; for p in ${globs.join(" ")}; do if [ -e "$p" ] || [ -L "$p" ]; then printf '%s\\n' "$p"; fi; done; true`,
    { timeoutMs: 60_000 },
  );
  for (const p of r.stdout.split("\n").filter(Boolean))
    log.add({ where: p, what: "left by the target's own install (the cold sync sets it aside)" });
}

/** Services that change the data while they run. */
async function runningServices(
  mc: MigrationContext,
): Promise<{ role: "origin" | "target"; service: string; evidence?: string }[]> {
  const sides = [
    ["origin", mc.origin],
    ["target", mc.target],
  ] as const;
  const states = await Promise.all(sides.map(([, host]) => readServiceState(host)));
  return sides.flatMap(([role], i) => {
    const st = states[i]!;
    return [
      ...(st.bluemind === "running" ? [{ role, service: "BlueMind", evidence: st.bluemindEvidence }] : []),
      ...(st.postfix === "running" ? [{ role, service: "postfix" }] : []),
    ];
  });
}

/** What the full comparison's steps found, filled as they end. */
export interface Found {
  files: FileCounts;
  dbs: DbCounts & { normalised: string[] };
}

export function newFound(): Found {
  return {
    files: { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0, contentCompared: 0 },
    dbs: { tables: 0, rows: 0, normalised: [] },
  };
}

/** What the full comparison's plan is built from. */
export interface VerifyPlanInput {
  samplePercent?: number | undefined;
  /** The local port of the tunnel to the origin's PostgreSQL, once it is open. */
  port: () => number;
}

/**
 * The full comparison as a plan (phase `verify`): the files, and alongside them the databases one
 * by one. `bm-migrate plan` prints it; `verify` runs it, its steps adding their differences to
 * `into.log` and their counts to `into.found`.
 */
export function verifyPlan(
  mc: MigrationContext,
  input: VerifyPlanInput,
  into: { app: App; log: DifferenceLog; found: Found },
): Plan {
  const { samplePercent } = input;
  const profile = mc.profile;
  return {
    phase: "verify",
    stages: [
      {
        name: "Compare the files, and alongside them the databases one by one (read-only)",
        maxParallel: 2,
        steps: [
          {
            id: "verify-files",
            title: `Compare files${samplePercent !== undefined ? ` (content of a ${samplePercent}% sample)` : ""}`,
            host: "both",
            commands: [
              `bash -c <file manifest of ${profile.dataDirs.length} data directories and ${profile.configMirrors.length + profile.configFiles.length} configuration patterns: find | sort, sha256sum> on each server, compared as the lists arrive`,
            ],
            run: async () => {
              const counts = await compareFiles(into.app, mc, into.log, samplePercent);
              into.found.files = counts;
              return {
                summary: `${formatCount(counts.files)} files, ${formatCount(counts.dirs)} directories, ${formatBytes(counts.bytes)}`,
              };
            },
          },
          ...profile.databases.map((db) => ({
            id: `verify-db:${db}`,
            title: `Compare database ${db}`,
            host: "both" as const,
            commands: [
              `psql -h 127.0.0.1 -p <tunnel> -U bj -d ${db} <schema and table hashes>  (origin, through the SSH tunnel)`,
              `runuser -u postgres -- psql -d ${db} <schema and table hashes>  (target)`,
            ],
            run: async () => {
              const { counts, summary } = await compareDatabase(into.app, mc, input.port(), into.log, db);
              into.found.dbs.tables += counts.tables;
              into.found.dbs.rows += counts.rows;
              into.found.dbs.normalised.push(...counts.normalised);
              return { summary };
            },
          })),
        ],
      },
    ],
  };
}

/** What `plan` says beside the verification's steps. */
export const VERIFY_NOTES = [
  "A warning is given when BlueMind or postfix runs on either server (differences are then expected).",
  "The result is journaled: swap --apply needs a passing verification newer than the last cold sync.",
];

async function compareFiles(
  app: App,
  mc: MigrationContext,
  log: DifferenceLog,
  samplePercent: number | undefined,
): Promise<FileCounts> {
  const step = "verify-files";
  const script = fileManifestScript(
    { dataDirs: mc.profile.dataDirs, configFiles: configScope(mc.profile) },
    samplePercent !== undefined ? { samplePercent } : {},
  );
  app.logCommand(mc.origin.label, "bash -c <file manifest: find | sort, sha256sum> (verify)");
  app.logCommand(mc.target.label, "bash -c <file manifest: find | sort, sha256sum> (verify)");
  return compareManifestRun({
    origin: mc.origin,
    target: mc.target,
    script,
    dataDirs: mc.profile.dataDirs,
    log,
    signal: app.signal,
    onProgress: (n) => app.events.emit({ type: "progress", step, current: "files", filesDone: n }),
    failureHint:
      "run bm-migrate verify again; if it fails again, check the tools (find, sort, sha256sum) on that host",
    onStderr: (host, noise) => app.events.emit({ type: "warning", step, message: `${host}: ${noise}` }),
  });
}

/** The databases one by one, each its own step's events (the verification of what changed). */
async function verifyDatabases(
  app: App,
  mc: MigrationContext,
  port: number,
  log: DifferenceLog,
): Promise<DbCounts & { normalised: string[] }> {
  const total: DbCounts & { normalised: string[] } = { tables: 0, rows: 0, normalised: [] };
  for (const db of mc.profile.databases) {
    const counts = await stepEvents(app, `verify-db:${db}`, `Compare database ${db}`, async () => {
      const r = await compareDatabase(app, mc, port, log, db);
      return { value: r.counts, summary: r.summary };
    });
    total.normalised.push(...counts.normalised);
    total.tables += counts.tables;
    total.rows += counts.rows;
  }
  return total;
}

/** One database's schema and table hashes on both sides, compared. */
async function compareDatabase(
  app: App,
  mc: MigrationContext,
  port: number,
  log: DifferenceLog,
  db: string,
): Promise<{ counts: DbCounts & { normalised: string[] }; summary: string }> {
  const { origin, target, creds } = dbAccess(mc, port);
  app.logCommand(
    origin.label,
    `psql -h 127.0.0.1 -p ${port} -U ${creds.user} -d ${db} <schema and table hashes> (via tunnel)`,
  );
  app.logCommand(target.label, `runuser -u postgres -- psql -d ${db} <schema and table hashes>`);
  const [o, t] = await Promise.all([
    readDbManifest(origin, db, app.signal),
    readDbManifest(target, db, app.signal),
  ]);
  for (const [access, r] of [
    [origin, o],
    [target, t],
  ] as const) {
    if (r.kind === "failed")
      throw failure(
        access.label,
        r.result,
        `check that PostgreSQL runs on that host and that ${db} is readable, then run verify again`,
      );
  }
  if (o.kind !== "ok" || t.kind !== "ok") {
    if (o.kind === "ok") log.add({ where: `database ${db}`, what: "missing on target" });
    else if (t.kind === "ok") log.add({ where: `database ${db}`, what: "extra on target" });
    return { counts: { tables: 0, rows: 0, normalised: [] }, summary: "absent" };
  }
  const { differences, counts, normalised } = compareDbManifests(db, o.manifest, t.manifest);
  for (const d of differences) log.add(d);
  return {
    counts: { ...counts, normalised },
    summary: `${formatCount(counts.tables)} tables, ${formatCount(counts.rows)} rows${differences.length ? `, ${differences.length} differences` : ", identical"}${normalised.length ? ` (${normalised.length} accepted as the change of PostgreSQL version implies)` : ""}`,
  };
}
