/**
 * Runs a plan against the journal. A step is journaled `step-started`, runs, then `step-done`;
 * on a resumed pass, steps already done are skipped and a step started but not done runs again
 * (steps are idempotent). The steps of a stage run concurrently; a stage waits for all of them,
 * so a failure never leaves a sibling half-run in the background.
 */
import { randomUUID } from "node:crypto";
import { StepFailed, describeError } from "./errors.js";
import type { EventSink } from "./events.js";
import type { Journal, JournalRecord } from "./journal.js";
import type { Plan, Step, StepContext } from "./plan.js";
import { foldJournal, lastPass } from "./status.js";
import { isRecord, type StepDoneRecord } from "./records.js";

export interface RunPlanOptions {
  journal: Journal;
  events: EventSink;
  signal: AbortSignal;
  runId: string;
  /** The pass id (a new one when absent). */
  pass?: string;
  /** Resume that pass: skip its done steps. */
  resume?: boolean;
  logCommand?: (host: string, command: string) => void;
  /** Journal fields added to pass-started (e.g. forecast, flags). */
  passData?: Record<string, unknown>;
  /**
   * Leave the `phase-finished` event to the caller, who says what the pass found (verify: identical,
   * or how many differences). Default: the runner emits it.
   */
  callerFinishes?: boolean;
}

export interface PassOutcome {
  pass: string;
  durationMs: number;
  results: Record<string, { summary: string; data?: Record<string, unknown>; skipped?: boolean }>;
}

export function newPassId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, "").slice(0, 15)}-${randomUUID().slice(0, 4)}`;
}

/** The pass of a phase that started and neither finished nor was abandoned, if any. */
export function unfinishedPass(records: readonly JournalRecord[], phase: string): string | undefined {
  const last = lastPass(foldJournal(records), phase);
  return last && (last.state === "unfinished" || last.state === "failed") ? last.pass : undefined;
}

/** The steps a pass has done, by id: a resumed pass skips them. */
export function doneSteps(records: readonly JournalRecord[], pass: string): Map<string, StepDoneRecord> {
  const done = new Map<string, StepDoneRecord>();
  for (const r of records) if (isRecord(r, "step-done") && r.pass === pass) done.set(r.step, r);
  return done;
}

export async function runPlan(plan: Plan, opts: RunPlanOptions): Promise<PassOutcome> {
  const { journal, events } = opts;
  const started = Date.now();
  const resumed = Boolean(opts.resume && opts.pass);
  const pass = opts.pass ?? newPassId();
  const done = resumed ? doneSteps(journal.records(), pass) : new Map<string, JournalRecord>();
  const base = { run: opts.runId, phase: plan.phase, pass };
  journal.append({ ...base, type: resumed ? "pass-resumed" : "pass-started", ...(opts.passData ?? {}) });
  events.emit({ type: "phase-started", phase: plan.phase, pass });
  const ctx: StepContext = {
    signal: opts.signal,
    events,
    logCommand: opts.logCommand ?? (() => undefined),
  };
  const results: PassOutcome["results"] = {};

  for (const stage of plan.stages.filter((s) => s.steps.length > 0)) {
    const failures: StepFailed[] = [];
    const ended = endings(stage.steps);
    /** Runs one step (or skips it, done before); false when it failed or could not run. */
    const runStep = async (step: Step): Promise<boolean> => {
      const waits = await Promise.all((step.waitFor ?? []).map((id) => ended.get(id)!.promise));
      if (waits.includes(false)) return false;
      const prior = done.get(step.id);
      if (prior) {
        const summary = typeof prior.summary === "string" ? prior.summary : "done";
        results[step.id] = { summary, skipped: true };
        events.emit({
          type: "step-finished",
          step: step.id,
          title: step.title,
          durationMs: 0,
          summary: `already done: ${summary}`,
          skipped: true,
        });
        return true;
      }
      if (opts.signal.aborted) return false;
      const t0 = Date.now();
      journal.append({ ...base, type: "step-started", step: step.id, title: step.title, host: step.host });
      events.emit({ type: "step-started", step: step.id, title: step.title, host: step.host });
      try {
        const r = await step.run(ctx);
        const durationMs = Date.now() - t0;
        journal.append({
          ...base,
          type: "step-done",
          step: step.id,
          title: step.title,
          durationMs,
          summary: r.summary,
          ...(r.data ? { data: r.data } : {}),
        });
        results[step.id] = { summary: r.summary, ...(r.data ? { data: r.data } : {}) };
        events.emit({
          type: "step-finished",
          step: step.id,
          title: step.title,
          durationMs,
          summary: r.summary,
        });
      } catch (err) {
        const durationMs = Date.now() - t0;
        const d = describeError(err);
        const message = opts.signal.aborted ? `interrupted (${d.message})` : d.message;
        journal.append({ ...base, type: "step-failed", step: step.id, durationMs, error: message });
        events.emit({
          type: "step-failed",
          step: step.id,
          title: step.title,
          durationMs,
          error: message,
          ...(d.hint ? { hint: d.hint } : {}),
        });
        failures.push(
          new StepFailed(step.id, `${step.title}: ${message}`, {
            cause: err,
            ...(d.hint ? { hint: d.hint } : {}),
          }),
        );
        return false;
      }
      return true;
    };
    await inPool(stage.steps, stage.maxParallel ?? stage.steps.length, async (step) => {
      ended.get(step.id)!.resolve(await runStep(step));
    });
    // The stage's records on disk before the next stage acts on what they say.
    await journal.flush();
    if (opts.signal.aborted && failures.length === 0) {
      failures.push(new StepFailed(stage.name, "interrupted", {}));
    }
    const first = failures[0];
    if (first) {
      journal.append({ ...base, type: "pass-failed", step: first.stepId, error: first.message });
      await journal.flush();
      throw first;
    }
  }
  const durationMs = Date.now() - started;
  journal.append({ ...base, type: "pass-finished", durationMs });
  await journal.flush();
  if (!opts.callerFinishes) events.emit({ type: "phase-finished", phase: plan.phase, durationMs });
  return { pass, durationMs, results };
}

/**
 * How each step of a stage ended (true: done or skipped), for the steps that wait for others.
 * A step may wait only for steps before it in the stage: the pool starts steps in order, so what
 * it waits for has started by then (no step can wait for one that waits for a free slot).
 */
function endings(steps: Step[]): Map<string, { promise: Promise<boolean>; resolve: (ok: boolean) => void }> {
  const m = new Map<string, { promise: Promise<boolean>; resolve: (ok: boolean) => void }>();
  steps.forEach((step, i) => {
    for (const id of step.waitFor ?? [])
      if (!steps.slice(0, i).some((s) => s.id === id))
        throw new Error(`step ${step.id} waits for ${id}, which is not an earlier step of its stage`);
    let resolve!: (ok: boolean) => void;
    const promise = new Promise<boolean>((r) => (resolve = r));
    m.set(step.id, { promise, resolve });
  });
  return m;
}

/** Run `fn` over items with at most `limit` at once; resolves when all have settled. */
async function inPool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** What a command needs to run a plan: the App's journal, events, signal and log. */
export interface PhaseRunner {
  journal: Journal;
  events: EventSink;
  signal: AbortSignal;
  runId: string;
  logCommand(host: string, command: string): void;
}

/** Run a phase's plan for a command: a new pass, or the resumed one when `resume` is set. */
export function runPhase(
  app: PhaseRunner,
  plan: Plan,
  pass: string,
  resume: boolean,
  passData: Record<string, unknown>,
  options: Pick<RunPlanOptions, "callerFinishes"> = {},
): Promise<PassOutcome> {
  return runPlan(plan, {
    ...options,
    journal: app.journal,
    events: app.events,
    signal: app.signal,
    runId: app.runId,
    pass,
    resume,
    logCommand: (h, c) => app.logCommand(h, c),
    passData,
  });
}
