/**
 * The preflight, as a plan: a step per host whose facts are gathered (both at the same time), then
 * one step that evaluates every check, applies `--skip-check`, journals the `check` record and
 * keeps the report under the state directory. `check` runs the plan through the runner (phase
 * `check`: a pass of its own); `plan --phase check` and `check --dry-run` print it. hot-sync,
 * cold-sync and run run the same plan's steps first, inline (`runPreflight`: no pass of their own,
 * the journal gains only the `check` record, as before), and refuse to start while a blocker stands.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { privateDir } from "../engine/stateDir.js";
import { join } from "node:path";
import type { App } from "../engine/app.js";
import { ConfigError, PreflightFailed } from "../engine/errors.js";
import type { JournalRecord } from "../engine/journal.js";
import type { Plan, Role, Step, StepContext } from "../engine/plan.js";
import { PROFILES, profileFor, type Profile } from "../bluemind/profiles.js";
import type { CheckContext } from "./context.js";
import { evaluateChecks } from "./evaluate.js";
import {
  CHECK_IDS,
  UNSKIPPABLE,
  applySkips,
  blockers,
  countBySeverity,
  isCheckId,
  type Finding,
} from "./findings.js";
import { formatFindings } from "./formatFindings.js";
import {
  gatherOrigin,
  gatherTarget,
  preflightFacts,
  type GatherOptions,
  type OriginProbe,
  type PreflightFacts,
  type PreflightHosts,
} from "./gather.js";
import type { SideFacts } from "./probes.js";
import { statePaths } from "../engine/paths.js";

export interface PreflightOptions {
  /** Check ids whose blockers are turned into warnings (journaled). */
  skip: string[];
  /** A target in use is a warning instead of a blocker. */
  forceOverwriteTarget: boolean;
}

export interface PreflightResult {
  findings: Finding[];
  profile?: Profile;
  facts: PreflightFacts;
  /** The readable report, as printed and kept. */
  report: string;
  /** Where the report was kept (.txt; the .json beside it), when it could be written. */
  reportPath?: string;
  durationMs: number;
}

/** Every data directory any profile moves: measured before the profile is known, so in parallel. */
const ALL_DATA_DIRS = [...new Set(Object.values(PROFILES).flatMap((p) => p.dataDirs))];

/** Reject unknown or unskippable ids before anything is read. */
export function validateSkips(skip: readonly string[]): void {
  const unknown = skip.filter((s) => !isCheckId(s));
  const locked = skip.filter((s) => (UNSKIPPABLE as readonly string[]).includes(s));
  if (unknown.length || locked.length)
    throw new ConfigError(
      [
        unknown.length ? `--skip-check: unknown check id(s) ${unknown.join(", ")}` : "",
        locked.length
          ? `--skip-check: ${locked.join(", ")} cannot be skipped (nothing else can run without it)`
          : "",
      ]
        .filter(Boolean)
        .join("; "),
      { hint: `known ids: ${CHECK_IDS.filter((id) => !UNSKIPPABLE.includes(id)).join(", ")}` },
    );
}

/** The journal shows data already synced by bm-migrate (a hot or cold sync step done). */
export function journalShowsSync(records: readonly JournalRecord[]): boolean {
  return records.some((r) => r.type === "step-done" && typeof r.phase === "string" && /sync/.test(r.phase));
}

/** The journal shows a cold sync step done: the target's databases may hold the origin's by now. */
export function journalShowsColdSync(records: readonly JournalRecord[]): boolean {
  return records.some((r) => r.type === "step-done" && r.phase === "cold-sync");
}

export function chooseProfile(
  facts: PreflightFacts,
  forced: string | undefined,
): { profile?: Profile; source?: CheckContext["profileSource"] } {
  if (forced && PROFILES[forced]) return { profile: PROFILES[forced], source: "--profile" };
  const v = facts.origin.host?.bmVersion;
  const p = v ? profileFor(v) : undefined;
  return p ? { profile: p, source: "version" } : {};
}

/** What the preflight's steps learn as they run; `result` once the evaluation is done. */
export interface PreflightState {
  started?: number;
  origin?: OriginProbe;
  target?: SideFacts;
  result?: PreflightResult;
}

/** The step ids of the preflight's plan. */
export const PREFLIGHT_STEP_IDS = ["probe:origin", "probe:target", "check"] as const;

/** What the plan says each host's probes run (the scripts themselves are in probes.ts). */
function probeCommands(role: Role, dataDirs: readonly string[], stateDir: string, origin: string): string[] {
  return [
    ...(role === "origin" ? ["date +%s.%N  (the clock, read alone first)"] : []),
    "dpkg-query -W -f='${Version}' bm-core (or rpm -q bm-core); cat /etc/os-release /etc/bm/bm.ini",
    "rsync --version; pg_dump --version",
    "systemctl is-active bluemind.target bm-core postfix postgresql (without systemd: bm-core's process, port 8090, service postfix|postgresql status); pg_isready -h localhost",
    `nice -n 10 find ${dataDirs.join(" ")} -printf '%D:%i %n %b %s %U %G' | awk (sizes, inodes, owners)`,
    `df -B1 --output=target,avail,iavail,itotal <each directory${role === "target" ? `, ${stateDir}` : ""}>`,
    ...(role === "target" ? ["getent passwd; getent group  (owners are mapped by name)"] : []),
    role === "origin"
      ? `psql -h 127.0.0.1 -p <port forwarded to ${origin}:5432> -U <bm.ini user> -d bj  (from the target; password in PGPASSWORD only): version, sizes, users, mailboxes`
      : "psql -h 127.0.0.1 -p 5432 -U <bm.ini user> -d bj  (password in PGPASSWORD only): version, sizes, users, mailboxes",
  ];
}

function describeSide(side: SideFacts): string {
  const h = side.host;
  const what = h ? `BlueMind ${h.bmVersion ?? "not installed"} on ${h.osPrettyName}` : "no facts";
  const failed = Object.keys(side.errors);
  return failed.length ? `${what}; not read: ${failed.join(", ")}` : what;
}

/**
 * The preflight's plan. Its steps fill `state`; once the last has run, `state.result` holds the
 * findings and the report. Nothing is read before a step runs.
 */
export function preflightPlan(
  app: App,
  hosts: PreflightHosts,
  opts: PreflightOptions,
  state: PreflightState,
): Plan {
  validateSkips(opts.skip);
  const originDestination =
    hosts.ssh?.destination ??
    hosts.unreachable?.destination ??
    (app.settings.origin ? `${app.settings.origin.user}@${app.settings.origin.host}` : "(no origin)");
  const records = app.journal.records();
  const gather: GatherOptions = {
    originDestination,
    dataDirs: ALL_DATA_DIRS,
    stateDir: app.settings.stateDir,
    syncedBefore: journalShowsSync(records),
    databasesRestoredBefore: journalShowsColdSync(records),
    signal: app.signal,
  };
  const begin = (): void => {
    state.started ??= Date.now();
  };
  const probeOrigin: Step = {
    id: "probe:origin",
    title: "Read the origin's system, BlueMind, services, data directories and databases (read-only)",
    host: "origin",
    commands: probeCommands("origin", ALL_DATA_DIRS, app.settings.stateDir, originDestination),
    async run() {
      begin();
      if (!hosts.origin) {
        state.origin = { side: { errors: {} } };
        return { summary: `not reached (${hosts.unreachable?.kind ?? "no connection"})` };
      }
      state.origin = await gatherOrigin(hosts, gather);
      return { summary: describeSide(state.origin.side) };
    },
  };
  const probeTarget: Step = {
    id: "probe:target",
    title: "Read the target's system, BlueMind, services, data directories, accounts and databases",
    host: "target",
    commands: probeCommands("target", ALL_DATA_DIRS, app.settings.stateDir, originDestination),
    async run() {
      begin();
      state.target = await gatherTarget(hosts, gather);
      return { summary: describeSide(state.target) };
    },
  };
  const evaluate: Step = {
    id: "check",
    title: "Evaluate the checks: blockers, warnings and facts, each with its id (--skip-check ID)",
    host: "target",
    commands: ["(no command: the report is kept in <state-dir>/reports/ and journaled)"],
    run() {
      const started = state.started ?? Date.now();
      const facts = preflightFacts(
        hosts,
        gather,
        state.origin ?? { side: { errors: {} } },
        state.target ?? { errors: {} },
        Date.now() - started,
      );
      state.result = evaluatePreflight(app, facts, opts, started);
      const n = countBySeverity(state.result.findings);
      return Promise.resolve({
        summary: `${n.blocker} blocker(s), ${n.warning} warning(s)${state.result.profile ? `; profile ${state.result.profile.id}` : ""}`,
        data: {
          blockers: n.blocker,
          warnings: n.warning,
          ...(state.result.profile ? { profile: state.result.profile.id } : {}),
          ...(state.result.reportPath ? { report: state.result.reportPath } : {}),
        },
      });
    },
  };
  return {
    phase: "check",
    stages: [
      { name: "Read both servers (read-only)", steps: [probeOrigin, probeTarget] },
      { name: "Evaluate the checks", steps: [evaluate] },
    ],
  };
}

/** What `plan` says of the preflight besides its steps. */
export const PREFLIGHT_NOTES = [
  "hot-sync, cold-sync and run run these steps first (without a pass of their own) and stop on a blocker.",
];

/** Judge the facts: findings, skips applied, the report kept, the `check` record journaled. */
function evaluatePreflight(
  app: App,
  facts: PreflightFacts,
  opts: PreflightOptions,
  started: number,
): PreflightResult {
  const originDestination = facts.originDestination;
  const { profile, source } = chooseProfile(facts, app.settings.profile);
  const ctx: CheckContext = {
    forceOverwriteTarget: opts.forceOverwriteTarget,
    ...(profile ? { profile } : {}),
    ...(source ? { profileSource: source } : {}),
  };
  const findings = applySkips(evaluateChecks(facts, ctx), opts.skip);
  const durationMs = Date.now() - started;
  const at = new Date();
  const report = formatFindings(findings, {
    origin: originDestination,
    durationMs,
    at: at.toISOString(),
    again: `bm-migrate ${app.command === "check" ? "check" : app.command} --origin ${originDestination}`,
  });
  const reportPath = keepReport(app.settings.stateDir, at, report, findings, durationMs);
  const n = countBySeverity(findings);
  app.journal.append({
    type: "check",
    run: app.runId,
    command: app.command,
    origin: originDestination,
    blockers: n.blocker,
    warnings: n.warning,
    skipped: opts.skip,
    forceOverwriteTarget: opts.forceOverwriteTarget,
    profile: profile?.id,
    durationMs,
    report: reportPath,
    findings,
  });
  return {
    findings,
    ...(profile ? { profile } : {}),
    facts,
    report,
    ...(reportPath ? { reportPath } : {}),
    durationMs,
  };
}

/** The preflight's result once its plan has run; a plan that did not finish has none. */
export function preflightResult(state: PreflightState): PreflightResult {
  if (!state.result) throw new Error("the preflight's evaluation did not run");
  return state.result;
}

/**
 * The preflight's plan run inline, without a pass of its own (hot-sync, cold-sync and run, before
 * their phase): the steps of a stage at the same time, the stages in order.
 */
export async function runPreflight(
  app: App,
  hosts: PreflightHosts,
  opts: PreflightOptions,
): Promise<PreflightResult> {
  const state: PreflightState = {};
  const plan = preflightPlan(app, hosts, opts, state);
  const ctx: StepContext = {
    signal: app.signal,
    events: app.events,
    logCommand: (h, c) => app.logCommand(h, c),
  };
  for (const stage of plan.stages) await Promise.all(stage.steps.map((step) => step.run(ctx)));
  return preflightResult(state);
}

/** For hot-sync, cold-sync and run: stop here while a blocker stands. */
export function assertNoBlockers(result: PreflightResult, command: string): void {
  const b = blockers(result.findings);
  if (!b.length) return;
  throw new PreflightFailed(
    `the preflight found ${b.length} blocker(s): ${b.map((f) => `[${f.id}] ${f.title}`).join("; ")}`,
    {
      hint: `fix them (details: bm-migrate check${result.reportPath ? `, or ${result.reportPath}` : ""}), or override one with --skip-check ID, then run bm-migrate ${command} again`,
    },
  );
}

function keepReport(
  stateDir: string,
  at: Date,
  text: string,
  findings: Finding[],
  durationMs: number,
): string | undefined {
  try {
    // Into the state directory only once it is checked: root's alone (privateDir throws otherwise).
    privateDir(stateDir);
    const dir = statePaths(stateDir).reports;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const base = join(dir, `check-${at.toISOString().replace(/[:.]/g, "").slice(0, 17)}`);
    writeFileSync(`${base}.txt`, text, { mode: 0o600 });
    writeFileSync(
      `${base}.json`,
      JSON.stringify({ at: at.toISOString(), durationMs, findings }, null, 2) + "\n",
      { mode: 0o600 },
    );
    return `${base}.txt`;
  } catch {
    // The report is a copy of what was printed; failing to keep it must not hide the findings.
    return undefined;
  }
}
