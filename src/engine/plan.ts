/**
 * A plan is data: the ordered stages of a phase, each a set of steps that may run at the same time,
 * every step with a stable id, a title and the commands it will run. `--dry-run` prints it;
 * the runner executes it against the journal.
 */
import type { Role } from "../adapters/host.js";
import type { EventSink } from "./events.js";

export interface StepContext {
  signal: AbortSignal;
  events: EventSink;
  /** Record a command in the log (secrets already removed by the caller). */
  logCommand(host: string, command: string): void;
}

export interface StepResult {
  /** One line for people: "12,345 files, 1.2 GiB in 4.1 s". */
  summary: string;
  /** Numbers kept in the journal (bytes, files, rows...) for status and the report. */
  data?: Record<string, unknown>;
}

export interface Step {
  /** Stable across runs: the journal knows a step by it. */
  id: string;
  title: string;
  host: Role | "both";
  /** The commands it runs, as an administrator would type them (for --dry-run and the report). */
  commands: string[];
  run(ctx: StepContext): Promise<StepResult>;
}

/** Steps in one stage run concurrently; stages run in order. */
export interface Stage {
  name: string;
  steps: Step[];
  /** At most this many of its steps at once (default: all). */
  maxParallel?: number;
}

export interface Plan {
  phase: string;
  stages: Stage[];
}

export function planSteps(plan: Plan): Step[] {
  return plan.stages.flatMap((s) => s.steps);
}

/** The plan as text, for --dry-run. */
export function formatPlan(plan: Plan): string {
  const lines = [`Plan for ${plan.phase}:`];
  let n = 0;
  for (const stage of plan.stages.filter((s) => s.steps.length > 0)) {
    const together = stage.steps.length > 1 ? " (these run at the same time)" : "";
    lines.push(`  ${stage.name}${together}`);
    for (const step of stage.steps) {
      n++;
      lines.push(`    ${n}. [${step.id}] ${step.title}  (on ${step.host})`);
      for (const c of step.commands) lines.push(`         $ ${c}`);
    }
  }
  return lines.join("\n");
}
