/**
 * The journal's vocabulary: the phases of a migration, in order, and every kind of record the
 * journal holds, as one union. Writers append these shapes (`JournalEntry`); readers narrow a
 * record read back from disk with `isRecord`, and the migration's state is folded from them in one
 * place (engine/status.ts): `status`, `run`, the swap gate and the report all read that fold.
 *
 * A record read back is only trusted as far as the guard checks it: the file may come from an
 * older version of the tool, or end in a line cut by a crash.
 */

/** The phases of a migration, in the order they run. */
export const PHASES = ["check", "hot-sync", "cold-sync", "verify", "swap", "post"] as const;
export type Phase = (typeof PHASES)[number];
/** The phases that copy, prove and switch: what `run` goes through after its preflight. */
export const RUN_PHASES = [
  "hot-sync",
  "cold-sync",
  "verify",
  "swap",
  "post",
] as const satisfies readonly Phase[];
/** Where `run --stop-after` may stop. */
export const STOP_AFTER_PHASES = [
  "hot-sync",
  "cold-sync",
  "verify",
  "swap",
] as const satisfies readonly Phase[];
/** A phase, or `rollback` (which undoes, and has a plan of its own). */
export type PlanPhase = Phase | "rollback";
/** What `plan --phase` accepts: one phase, rollback (not part of a migration's order), or all. */
export const PLAN_CHOICES = [...PHASES, "rollback", "all"] as const;

export const isPhase = (value: unknown): value is Phase => PHASES.includes(value as Phase);

/** What every record carries. `t` is added by the journal when it is written. */
interface RecordBase {
  /** ISO time the record was written. */
  t: string;
  /** The invocation that wrote it. */
  run?: string;
  phase?: string;
  /** The pass of a phase (each hot-sync is a pass; a resumed pass keeps its id). */
  pass?: string;
  step?: string;
}

/** A pass of a phase began, or an unfinished one resumed (the runner). */
export interface PassStartedRecord extends RecordBase {
  type: "pass-started" | "pass-resumed";
  phase: string;
  pass: string;
  origin?: string;
  profile?: string;
  originVersion?: string;
  [passData: string]: unknown;
}

export interface StepStartedRecord extends RecordBase {
  type: "step-started";
  pass: string;
  step: string;
  title?: string;
  host?: string;
}

export interface StepDoneRecord extends RecordBase {
  type: "step-done";
  pass: string;
  step: string;
  title?: string;
  durationMs?: number;
  summary?: string;
  data?: Record<string, unknown>;
}

export interface StepFailedRecord extends RecordBase {
  type: "step-failed";
  pass: string;
  step: string;
  durationMs?: number;
  error?: string;
}

export interface PassFinishedRecord extends RecordBase {
  type: "pass-finished";
  pass: string;
  durationMs?: number;
}

export interface PassFailedRecord extends RecordBase {
  type: "pass-failed";
  pass: string;
  error?: string;
}

/** A cold sync's pass given up by `rollback`. */
export interface PassAbandonedRecord extends RecordBase {
  type: "pass-abandoned";
  pass: string;
  error?: string;
}

/** The preflight's result (check, and every copying phase before it starts). */
export interface CheckRecord extends RecordBase {
  type: "check";
  command?: string;
  origin?: string;
  blockers?: number;
  warnings?: number;
  skipped?: string[];
  forceOverwriteTarget?: boolean;
  profile?: string;
  durationMs?: number;
  report?: string;
  findings: readonly { id?: string; severity?: string; title?: string }[];
}

/** A verification's result: what the swap gate asks for. */
export interface VerifyResultRecord extends RecordBase {
  type: "verify-result";
  ok: boolean;
  startedAt?: string;
  scope?: "full" | "ahead" | "refresh" | "changed";
  aheadAt?: string;
  /** The first differences (at most 200). */
  differences: { where: string; what: string }[];
  /** Total number of differences (may exceed the ones kept). */
  differenceCount?: number;
  counts: { files: number; dirs: number; bytes: number; tables: number; rows: number };
  normalised?: string[];
  /** Percentage of data files whose content was compared, when not all. */
  sample?: number;
  /** The origin's BlueMind or postfix ran during the verification. */
  originRunning?: boolean;
  durationMs: number;
  [more: string]: unknown;
}

/** A verification made while the origin still served (see verify/ahead.ts for its fields). */
export interface VerifyAheadRecord extends RecordBase {
  type: "verify-ahead";
  [more: string]: unknown;
}

/** The cold sync's downtime: from the services' stop to the end of the copy. */
export interface DowntimeRecord extends RecordBase {
  type: "downtime";
  pass: string;
  startedAt: string;
  endedAt: string;
  ms: number;
  forecastMs?: number;
}

/** What a cold sync is expected to cost now (after each hot pass). */
export interface ForecastRecord extends RecordBase {
  type: "forecast";
  downtimeMs: number;
  [more: string]: unknown;
}

/** The origin's postfix queue flushed while it still served. */
export interface PostfixFlushRecord extends RecordBase {
  type: "postfix-flush";
  before: number;
  after: number;
  byQueue?: Record<string, number>;
  ms?: number;
}

/** The origin's services restarted before the swap. */
export interface RollbackRecord extends RecordBase {
  type: "rollback";
  origin?: string;
  changeJournalStopped?: string;
}

/** What the swap does, written before it changes anything (a rollback needs it). */
export interface SwapRecord extends RecordBase {
  type: "swap";
  pass: string;
  mode?: string;
  originIp?: string;
  targetIp?: string;
  prefix?: number;
  iface?: string;
  facts?: unknown;
}

/** The swap went ahead without a passing verification (--force). */
export interface SwapForcedRecord extends RecordBase {
  type: "swap-forced";
  pass: string;
  reason: string;
}

/**
 * The cold sync's step that fences the origin's databases (phases/fenceSteps.ts): the fence is up
 * from its `step-started` record on, until a step whose `step-done` data holds `FENCE_LIFTED`
 * (the databases it lifted it from: rollback, swap).
 */
export const FENCE_STEP_ID = "fence:origin";
export const FENCE_LIFTED = "fenceLifted";

/** Every record the journal holds. */
export type MigrationRecord =
  | PassStartedRecord
  | StepStartedRecord
  | StepDoneRecord
  | StepFailedRecord
  | PassFinishedRecord
  | PassFailedRecord
  | PassAbandonedRecord
  | CheckRecord
  | VerifyResultRecord
  | VerifyAheadRecord
  | DowntimeRecord
  | ForecastRecord
  | PostfixFlushRecord
  | RollbackRecord
  | SwapRecord
  | SwapForcedRecord;

export type RecordType = MigrationRecord["type"];
/** The record of kind K (pass-started and pass-resumed share one shape). */
export type RecordOf<K extends RecordType> = MigrationRecord extends infer R
  ? R extends { type: infer T }
    ? K extends T
      ? R & { type: K }
      : never
    : never
  : never;

/** What a writer appends: a record without its time (the journal adds it). */
export type JournalEntry = MigrationRecord extends infer R
  ? R extends unknown
    ? Omit<R, "t">
    : never
  : never;

/** A line of the journal as read back: any record, its fields not yet checked. */
export interface JournalRecord extends RecordBase {
  type: string;
  [key: string]: unknown;
}

/** The fields each kind must have for a reader to trust it, beyond its type. */
const REQUIRED: Partial<Record<RecordType, Record<string, "string" | "number" | "boolean" | "object">>> = {
  "pass-started": { phase: "string", pass: "string" },
  "pass-resumed": { phase: "string", pass: "string" },
  "step-started": { pass: "string", step: "string" },
  "step-done": { pass: "string", step: "string" },
  "step-failed": { pass: "string", step: "string" },
  "pass-finished": { pass: "string" },
  "pass-failed": { pass: "string" },
  "pass-abandoned": { pass: "string" },
  "verify-result": { ok: "boolean" },
  downtime: { startedAt: "string", endedAt: "string", ms: "number" },
  forecast: { downtimeMs: "number" },
};

/** Narrow a record read back to its kind, once its required fields are there. */
export function isRecord<K extends RecordType>(r: JournalRecord, type: K): r is JournalRecord & RecordOf<K> {
  if (r.type !== type) return false;
  for (const [field, kind] of Object.entries(REQUIRED[type] ?? {}))
    if (typeof r[field] !== kind || r[field] === null) return false;
  return true;
}
