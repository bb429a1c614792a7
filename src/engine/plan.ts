/**
 * A plan is data: the ordered stages of a phase, each a set of steps that may run at the same time,
 * every step with a stable id, a title and the commands it will run. `--dry-run` prints it;
 * the runner executes it against the journal.
 */
/** Which server a step acts on. */
export type Role = "origin" | "target";
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
  /**
   * Ids of earlier steps of the same stage that must have ended (done, or done in an earlier run)
   * before this one starts; without, a stage's steps start at once. If one of them fails, this
   * step does not run (the stage fails with that step's error).
   */
  waitFor?: string[];
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

/** What printing a plan needs: a Plan, or its steps' data alone (post's, before its settings are known). */
export interface PlanOutline {
  phase: string;
  stages: {
    name: string;
    steps: Pick<Step, "id" | "title" | "host" | "commands" | "waitFor">[];
    maxParallel?: number;
  }[];
}

export interface FormatPlanOptions {
  /** Names shown beside the roles: `(on origin root@bm-origin)`. */
  hosts?: Partial<Record<Role, string>>;
  /** Explain the shortened `-e ssh` under the plan (default true; off when the caller says it once). */
  explainSsh?: boolean;
}

/**
 * A command as people read it: rsync's `-e 'ssh -o BatchMode=yes ... -o ControlPath=...'` is shown
 * as `-e ssh` (options other than `-o`, such as `-p 2222`, stay). Only the display changes: the
 * step runs its own argv. `ssh` is the full remote shell that was shortened, for a note.
 */
export function readableCommand(command: string): { text: string; ssh?: string } {
  let ssh: string | undefined;
  // Quoted as shellQuote writes it, or bare words as a plain join writes them.
  const shellArg = /(^|\s)-e (?:'(ssh(?: [^']*)?)'|(ssh(?: -[op] \S+)+)(?=\s|$))/;
  const text = command.replace(shellArg, (_all, lead: string, quoted?: string, bare?: string) => {
    const shell = quoted ?? bare ?? "ssh";
    ssh = shell;
    const words = shell.split(" ");
    const kept: string[] = [];
    for (let i = 0; i < words.length; i++) {
      if (words[i] === "-o") i++;
      else kept.push(words[i]!);
    }
    return `${lead}-e ${kept.length > 1 ? `'${kept.join(" ")}'` : "ssh"}`;
  });
  return ssh === undefined ? { text } : { text, ssh };
}

/** The note that stands once for every shortened `-e ssh`, given the full remote shell. */
export function explainSsh(shell: string): string {
  return (
    "All SSH to the origin goes through one master connection, opened once per run (ssh -M); " +
    `"-e ssh" above stands for: ${shell}`
  );
}

/** The remote shell a plan's commands shortened to `-e ssh`, if any. */
export function shortenedSsh(plan: PlanOutline): string | undefined {
  for (const stage of plan.stages)
    for (const step of stage.steps)
      for (const c of step.commands) {
        const { ssh } = readableCommand(c);
        if (ssh) return ssh;
      }
  return undefined;
}

/** The plan as text, for --dry-run. */
export function formatPlan(plan: PlanOutline, opts: FormatPlanOptions = {}): string {
  const lines = [`Plan for ${plan.phase}:`];
  let n = 0;
  for (const stage of plan.stages.filter((s) => s.steps.length > 0)) {
    const at = stage.maxParallel !== undefined && stage.maxParallel < stage.steps.length;
    const together =
      stage.steps.length > 1
        ? at
          ? ` (these run at the same time, ${stage.maxParallel} at most)`
          : " (these run at the same time)"
        : "";
    lines.push(`  ${stage.name}${together}`);
    for (const step of stage.steps) {
      n++;
      const name = step.host === "both" ? undefined : opts.hosts?.[step.host];
      const after = step.waitFor?.length ? `, once ${step.waitFor.join(", ")} is done` : "";
      lines.push(`    ${n}. [${step.id}] ${step.title}  (on ${step.host}${name ? ` ${name}` : ""}${after})`);
      for (const c of step.commands) lines.push(`         $ ${readableCommand(c).text}`);
    }
  }
  const ssh = opts.explainSsh === false ? undefined : shortenedSsh(plan);
  if (ssh) lines.push(`  Note: ${explainSsh(ssh)}`);
  return lines.join("\n");
}
