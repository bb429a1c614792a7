/**
 * `run`'s orchestration: every phase in order — preflight, hot sync (a first pass, then passes
 * until one is short), cold sync, verify, swap, post — asking before the downtime and before the
 * swap. Each phase is the same phase function a command runs alone, so an interrupted `run`
 * resumes from the journal: finished phases are skipped, an unfinished one resumes. What comes
 * next is the journal's one fold (`foldJournal(...).nextPhase`), as status and the swap gate read it.
 */
import type { App } from "../engine/app.js";
import { ConfigError, ExitCode } from "../engine/errors.js";
import { foldJournal, lastPass, type NextPhase } from "../engine/status.js";
import type { STOP_AFTER_PHASES } from "../engine/records.js";
import { formatDuration } from "../engine/format.js";
import type { PreflightOptions } from "../check/preflight.js";
import type { SwapFacts } from "../phases/swapPlan.js";
import { hotSyncPhase } from "../phases/hotSync.js";
import { coldSyncPhase } from "../phases/coldSync.js";
import { readFacts, swapPhase, type SwapFlags } from "../phases/swap.js";
import { postPhase } from "../phases/postPhase.js";
import type { PostFlags } from "../phases/postSettings.js";
import { usableAhead } from "../verify/ahead.js";
import { swapGate } from "../verify/gate.js";
import { verifyIn, verifyPhase, type VerifyOptions } from "../verify/run.js";

/**
 * A verification ahead that began longer ago than this when the downtime is about to start is
 * refreshed first: a last hot pass, then a comparison of only what changed since the ahead. The
 * full ahead takes as long as the store is big, and the origin keeps changing meanwhile; without
 * the refresh, the downtime would copy and re-check all of that change.
 */
export const REFRESH_AHEAD_AFTER_MS = 15_000;

/** Everything `run` takes, every phase's flags checked before the first phase starts. */
export interface RunOptions {
  /** The preflight's options (hot-sync and cold-sync run it first). */
  preflight: PreflightOptions;
  /** The verification's options (--sample). */
  verify: VerifyOptions;
  /** The swap's options; `apply` is set (run applies), `force` is not (run never forces). */
  swap: SwapFlags;
  /** post's flags. */
  post: PostFlags;
  /** --refresh-ahead-after, in ms. */
  refreshAheadAfterMs: number;
  /** --stop-after: end the run once this phase is done. */
  stopAfter?: (typeof STOP_AFTER_PHASES)[number];
}

/** The phase to run next, from the journal alone (the one fold that status and swap read too). */
function nextPhase(app: App): NextPhase {
  return foldJournal(app.journal.records()).nextPhase;
}

function verificationFailed(app: App, code: number): number {
  app.print(
    "Verification found differences: nothing is swapped. See above, then run bm-migrate cold-sync --yes again, or bm-migrate rollback.",
  );
  return code;
}

/** The last cold sync pass finished (a failure after it was the verification's). */
function coldFinished(app: App): boolean {
  return lastPass(foldJournal(app.journal.records()), "cold-sync")?.state === "finished";
}

/** A cold sync pass is open (its downtime began): no verification ahead any more. */
function coldSyncStarted(app: App): boolean {
  const cold = lastPass(foldJournal(app.journal.records()), "cold-sync");
  return cold?.state === "unfinished" || cold?.state === "failed";
}

/**
 * Before the downtime: when the verification ahead is old, catch up with a hot pass and compare
 * what changed since it, so that the downtime only copies and re-checks the last seconds' changes.
 */
async function refreshAhead(app: App, opts: RunOptions): Promise<number> {
  const ahead = usableAhead(app.journal.records());
  if (!ahead) return ExitCode.ok;
  const age = Date.now() - Date.parse(ahead.startedAt);
  if (!(age > opts.refreshAheadAfterMs)) return ExitCode.ok;
  app.print(
    `The verification ahead began ${formatDuration(age)} ago: a last hot pass, then a comparison of what changed since, so that the downtime covers only the last seconds' changes.`,
  );
  const code = await hotSyncPhase(app, opts.preflight);
  if (code !== ExitCode.ok) return code;
  return verifyPhase(app, opts.verify, "refresh");
}

/** Asks before the swap (yes with --yes); says how to go on when the answer is no. */
async function confirmSwap(app: App): Promise<boolean> {
  const ok = await app.confirm(
    "Next is the swap: the origin is stopped for good and the target takes its place. Go on?",
  );
  if (!ok)
    app.print("Stopped before the swap. Run bm-migrate run again when ready (or bm-migrate rollback).");
  return ok;
}

/** The whole migration from where the journal stands; the exit code. */
export async function runMigration(app: App, opts: RunOptions): Promise<number> {
  if (!app.flags.yes && !app.interactive) {
    throw new ConfigError("run asks before the downtime and before the swap, and no one can answer here", {
      hint: "run it on a terminal, or add --yes to answer yes to both",
    });
  }
  /** The phases this run has done, in order. */
  const ran: NextPhase[] = [];
  for (let guard = 0; guard < 12; guard++) {
    if (app.signal.aborted) return ExitCode.stepFailed;
    const phase = nextPhase(app);
    if (phase === "done") {
      app.print("The migration is complete: bm-migrate report writes its report.");
      return ExitCode.ok;
    }
    app.events.emit({ type: "info", message: `run: next phase is ${phase}` });
    let code: number;
    switch (phase) {
      case "hot-sync":
        code = await hotSyncPhase(app, opts.preflight);
        break;
      case "cold-sync": {
        // While the origin still serves: the full verification, so that the downtime only
        // re-checks what changes from now on (skipped when a resumed run has one already).
        if (!usableAhead(app.journal.records()) && !coldSyncStarted(app)) {
          code = await verifyPhase(app, opts.verify, "ahead");
          if (code !== ExitCode.ok) return code;
        }
        const ok = await app.confirm(
          "Next is the cold sync: BlueMind stops on the origin (downtime until the swap). Go on?",
        );
        if (!ok) {
          app.print("Stopped before the downtime. Run bm-migrate run again when ready.");
          return ExitCode.ok;
        }
        if (!coldSyncStarted(app)) {
          code = await refreshAhead(app, opts);
          if (code !== ExitCode.ok) return code;
        }
        // The verification of what changed, then the swap, follow in the same session: no new
        // connection, the swap's facts read while the origin still served, no gap in the outage.
        let facts: SwapFacts | undefined;
        let failedAt: "verify" | "swap" | undefined;
        let declined = false;
        code = await coldSyncPhase(app, opts.preflight, {
          confirmed: true,
          beforeDowntime: async (mc) => {
            facts = await readFacts(mc.origin, mc.target, opts.swap, app.signal);
          },
          then: async (mc) => {
            const verified = await verifyIn(app, mc, opts.verify, "changed");
            if (verified !== ExitCode.ok) {
              failedAt = "verify";
              return verified;
            }
            ran.push("verify");
            if (opts.stopAfter === "cold-sync" || opts.stopAfter === "verify") return verified;
            if (!(await confirmSwap(app))) {
              declined = true;
              return ExitCode.ok;
            }
            const swapped = await swapPhase(app, opts.swap, {
              gate: swapGate,
              session: { ssh: mc.ssh, ...(facts ? { facts } : {}), locked: true },
            });
            if (swapped !== ExitCode.ok) failedAt = "swap";
            else ran.push("swap");
            return swapped;
          },
        });
        if (code !== ExitCode.ok && failedAt === "verify") return verificationFailed(app, code);
        if (code === ExitCode.ok && coldFinished(app)) ran.push("cold-sync");
        if (declined) return ExitCode.ok;
        break;
      }
      case "verify":
        // What could have changed since the verification ahead (all of it without one).
        code = await verifyPhase(app, opts.verify, "changed");
        if (code !== ExitCode.ok) return verificationFailed(app, code);
        break;
      case "swap": {
        if (!(await confirmSwap(app))) return ExitCode.ok;
        code = await swapPhase(app, opts.swap, { gate: swapGate });
        break;
      }
      case "post":
        code = await postPhase(app, opts.post);
        break;
    }
    if (code !== ExitCode.ok) return code;
    if (phase !== "cold-sync") ran.push(phase);
    // The cold sync's session also runs the verification and the swap: --stop-after either ends
    // there too.
    const stop = opts.stopAfter;
    if (stop !== undefined && ran.includes(stop) && nextPhase(app) !== stop) {
      app.print(`Stopped after ${stop}, as asked (--stop-after). Run bm-migrate run again to go on.`);
      return ExitCode.ok;
    }
  }
  return ExitCode.stepFailed;
}
