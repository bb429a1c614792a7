/**
 * A plan as people and `--json` see it: the steps' data without their `run`, and the text of
 * several phases' plans together (`bm-migrate plan`, a phase's `--dry-run`).
 */
import type { App } from "./app.js";
import { formatPlan, readableCommand, shortenedSsh, type PlanOutline, type Role } from "./plan.js";

export interface PlanStepView {
  id: string;
  title: string;
  host: Role | "both";
  /** As people read them (`-e ssh` for the master connection's remote shell). */
  commands: string[];
  /** Steps of its stage it starts after. */
  waitFor?: string[];
}

/** A phase's plan as data, without the work: what `--json` prints and the text is made from. */
export interface PlanView {
  phase: string;
  stages: { name: string; steps: PlanStepView[]; maxParallel?: number }[];
  /** What the steps alone do not say (resumed pass, gate, why no plan could be made). */
  notes: string[];
  /** The full remote shell that `-e ssh` stands for in the commands, when one was shortened. */
  ssh?: string;
}

/** A runnable plan as a view: the steps' data without their `run`. */
export function viewOf(plan: PlanOutline, notes: string[] = []): PlanView {
  const ssh = shortenedSsh(plan);
  return {
    phase: plan.phase,
    stages: plan.stages.map((s) => ({
      name: s.name,
      ...(s.maxParallel !== undefined ? { maxParallel: s.maxParallel } : {}),
      steps: s.steps.map((st) => ({
        id: st.id,
        title: st.title,
        host: st.host,
        commands: st.commands.map((c) => readableCommand(c).text),
        ...(st.waitFor?.length ? { waitFor: st.waitFor } : {}),
      })),
    })),
    notes,
    ...(ssh ? { ssh } : {}),
  };
}

/** The plans as text: a heading, each phase's plan and its notes, the SSH note once. */
export function formatPlans(
  views: PlanView[],
  heading: string,
  hosts: Partial<Record<Role, string>>,
): string {
  const parts = [heading];
  for (const v of views) {
    const text = v.stages.some((s) => s.steps.length)
      ? formatPlan(v, { hosts, explainSsh: false })
      : `Plan for ${v.phase}: no steps`;
    parts.push([text, ...v.notes.map((n) => `  Note: ${n}`)].join("\n"));
  }
  parts.push("Nothing was done.");
  return parts.join("\n\n");
}

/** A phase command's --dry-run: its plan as text, or one `plan` JSON line with --json. */
export function printPlan(app: App, plan: PlanOutline): void {
  if (app.flags.json)
    process.stdout.write(
      JSON.stringify({ ts: new Date().toISOString(), type: "plan", ...viewOf(plan) }) + "\n",
    );
  else app.print(formatPlan(plan));
}
