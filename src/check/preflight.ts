/**
 * The preflight: gather facts from both hosts in parallel, evaluate every check, apply
 * `--skip-check`, journal the result and keep the report under the state directory. `check` runs
 * it alone; hot-sync, cold-sync and run call it first and refuse to start while a blocker stands.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { privateDir } from "../engine/stateDir.js";
import { join } from "node:path";
import type { App } from "../engine/app.js";
import { ConfigError, PreflightFailed } from "../engine/errors.js";
import type { JournalRecord } from "../engine/journal.js";
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
import { gatherPreflightFacts, type PreflightFacts, type PreflightHosts } from "./gather.js";
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

export async function runPreflight(
  app: App,
  hosts: PreflightHosts,
  opts: PreflightOptions,
): Promise<PreflightResult> {
  validateSkips(opts.skip);
  const started = Date.now();
  const originDestination =
    hosts.ssh?.destination ??
    hosts.unreachable?.destination ??
    (app.settings.origin ? `${app.settings.origin.user}@${app.settings.origin.host}` : "(no origin)");
  const records = app.journal.records();
  const facts = await gatherPreflightFacts(hosts, {
    originDestination,
    dataDirs: ALL_DATA_DIRS,
    stateDir: app.settings.stateDir,
    syncedBefore: journalShowsSync(records),
    databasesRestoredBefore: journalShowsColdSync(records),
    signal: app.signal,
  });
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
