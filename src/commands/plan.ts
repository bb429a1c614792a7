/**
 * `bm-migrate plan`: every phase's plan in order (check, hot-sync, cold-sync, verify, swap, post),
 * or one (`--phase`, rollback too), printed as text or `plan` JSON lines. The plans are built in
 * src/migration/plans.ts by the very functions each phase's run executes. Also the `--dry-run` of
 * the phase commands that print their plan this way.
 */
import type { App } from "../engine/app.js";
import { ConfigError, ExitCode } from "../engine/errors.js";
import { explainSsh } from "../engine/plan.js";
import { formatPlans } from "../engine/planView.js";
import { migrationPlans } from "../migration/plans.js";
import { PHASES, PLAN_CHOICES, type PlanPhase } from "../engine/records.js";
import type { SwapFlags } from "../phases/swap.js";
import { parseSwapFlags } from "./swap.js";

/** What plan takes. */
export interface PlanOptions {
  phase: PlanPhase | "all";
  /** The swap's options its plan is made with (swap's own flags with `swap --dry-run --json`). */
  swap: SwapFlags;
}

/** The `--phase` value, checked. */
export function parsePhase(value: unknown): PlanPhase | "all" {
  if (value === undefined) return "all";
  if (typeof value === "string" && (PLAN_CHOICES as readonly string[]).includes(value))
    return value as PlanPhase | "all";
  throw new ConfigError(`--phase takes one of ${PLAN_CHOICES.join(", ")}, not '${JSON.stringify(value)}'`);
}

/** plan's flags: --phase; the swap's plan with the swap's defaults. */
export function parsePlanOptions(opts: Record<string, unknown>): PlanOptions {
  return { phase: parsePhase(opts["phase"]), swap: parseSwapFlags({}) };
}

export async function planCommand(app: App, opts: PlanOptions): Promise<number> {
  const phases: PlanPhase[] = opts.phase === "all" ? [...PHASES] : [opts.phase];
  const { views, hosts, profile, heading } = await migrationPlans(app, phases, opts.swap);
  if (app.flags.json) {
    const ts = new Date().toISOString();
    for (const v of views)
      process.stdout.write(
        JSON.stringify({
          ts,
          type: "plan",
          phase: v.phase,
          hosts,
          ...(profile ? { profile } : {}),
          stages: v.stages,
          notes: v.notes,
          ...(v.ssh ? { ssh: v.ssh } : {}),
        }) + "\n",
      );
    return ExitCode.ok;
  }
  const ssh = views.find((v) => v.ssh)?.ssh;
  app.print(formatPlans(views, heading, hosts) + (ssh ? `\n${explainSsh(ssh)}` : ""));
  return ExitCode.ok;
}

type CommandRun = (app: App, opts: Record<string, unknown>) => Promise<number>;

/** A command whose `--dry-run` prints its phase's plan (as `bm-migrate plan --phase P` does). */
export function dryRunOr(phase: PlanPhase | "all", run: CommandRun): CommandRun {
  return (app, opts) =>
    opts["dryRun"] ? planCommand(app, { phase, swap: parseSwapFlags({}) }) : run(app, opts);
}

/**
 * swap's `--dry-run` is its default, without `--apply`: swap's own text (with the network diff);
 * with `--json`, the plan line (swap's text has no JSON form).
 */
export function swapWithDryRun(run: CommandRun): CommandRun {
  return (app, opts) => {
    if (!opts["dryRun"]) return run(app, opts);
    if (opts["apply"])
      throw new ConfigError("swap: --dry-run and --apply contradict each other", {
        hint: "drop one: bm-migrate swap prints the plan, bm-migrate swap --apply does it",
      });
    return app.flags.json
      ? planCommand(app, { phase: "swap", swap: parseSwapFlags(opts) })
      : run(app, { ...opts, apply: false });
  };
}
