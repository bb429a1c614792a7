/**
 * Where the migration stands, folded from the journal in one place: each phase's passes (with the
 * segments a resumed pass ran in) and steps, the last check and verification, the swap gate, the
 * downtime and the outage, the phase `run` goes to next and the command to tell the administrator.
 * Pure: `status`, `run`, the swap gate and the report all read this fold, and nothing else
 * interprets the journal's pass and step records.
 */
import {
  FENCE_LIFTED,
  FENCE_STEP_ID,
  isRecord,
  type CheckRecord,
  type StepDoneRecord,
  type JournalRecord,
  type Phase,
  type VerifyResultRecord,
} from "./records.js";

export interface StepState {
  id: string;
  title: string;
  state: "done" | "failed" | "running" | "interrupted";
  startedAt?: string;
  durationMs?: number;
  summary?: string;
  error?: string;
  host?: string;
  data?: Record<string, unknown>;
}

/** A stretch of time a pass ran in: a resumed pass has one per invocation. */
export interface PassSegment {
  startedAt: string;
  /** The last record of the segment (the time it ended, or was last seen running). */
  endedAt: string;
  outcome: "finished" | "failed" | "abandoned" | "running";
}

export interface PassState {
  phase: string;
  pass: string;
  state: "finished" | "failed" | "unfinished" | "abandoned";
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  steps: StepState[];
  error?: string;
  segments: PassSegment[];
  /** Failures of earlier segments, oldest first (a pass failed, then resumed). */
  failures: string[];
}

/**
 * What `swap` asks before it switches the origin off: is there a passing verification newer than
 * the last finished cold sync? "Newer" is by position in the journal (append-only, so later lines
 * are later events), never by the clock, for `status`, `run` and `swap` alike.
 */
export interface VerificationStatus {
  /** The newest verification, if any. */
  latest?: JournalRecord & VerifyResultRecord;
  /** The newest finished cold-sync pass's record, if any. */
  coldSync?: JournalRecord;
  /** `latest` was journaled after `coldSync` (false when either is missing). */
  newerThanColdSync: boolean;
  /** What swap requires: the newest verification passed, and it is newer than the cold sync. */
  passing: boolean;
}

/** The phase `run` goes to next (`done` once post has finished). */
export type NextPhase = Exclude<Phase, "check"> | "done";

export interface MigrationStatus {
  origin?: string;
  profile?: string;
  originVersion?: string;
  passes: PassState[];
  lastCheck?: { at: string; blockers: number; warnings: number };
  lastVerify?: { at: string; ok: boolean; differences: number };
  verification: VerificationStatus;
  downtime?: { startedAt: string; endedAt: string; ms: number };
  /** What users feel: from the origin's stop until BlueMind answers on the target (see outageOf). */
  outage?: Outage;
  rolledBackAt?: string;
  swappedAt?: string;
  /**
   * The origin's write fence, up from the start of the cold sync's fence step until a step lifts
   * it (rollback, swap): its databases are read-only (see database/fence.ts).
   */
  fence?: { since: string; databases: string[]; ended: number };
  /** The phase `run` runs next. */
  nextPhase: NextPhase;
  /** The command to tell the administrator. */
  next: string;
}

/** A hot pass shorter than this means the origin's data is close enough: time for the downtime. */
export const SHORT_PASS_MS = 5 * 60_000;
/** `run` makes at most this many hot passes (at least two) before the downtime. */
export const MAX_HOT_PASSES = 3;

/** The fence's part of a step's end: its databases and sessions ended, or its lifting. */
function foldFence(st: Pick<MigrationStatus, "fence">, r: StepDoneRecord): void {
  const data = r.data ?? {};
  const names = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  if (r.step === FENCE_STEP_ID && st.fence) {
    st.fence.databases = names(data["databases"]);
    st.fence.ended = Array.isArray(data["ended"]) ? data["ended"].length : 0;
  } else if (Array.isArray(data[FENCE_LIFTED])) delete st.fence;
}

export function foldJournal(records: readonly JournalRecord[]): MigrationStatus {
  const passes = new Map<string, PassState>();
  /** Where the open segment of each pass began (absent: none open). */
  const open = new Map<string, string>();
  /** Each pass's last record's time: where a segment still running is last seen. */
  const lastSeen = new Map<string, string>();
  const st: Omit<MigrationStatus, "verification" | "nextPhase" | "next"> = { passes: [] };
  let latestVerify: (JournalRecord & VerifyResultRecord) | undefined;
  let latestVerifyAt = -1;
  let coldFinished: JournalRecord | undefined;
  let coldFinishedAt = -1;
  const closeSegment = (p: PassState, t: string, outcome: PassSegment["outcome"]): void => {
    p.segments.push({ startedAt: open.get(p.pass) ?? t, endedAt: t, outcome });
    open.delete(p.pass);
  };
  /** A pass whose start was lost (a journal cut) still shows, from its first record on. */
  const passOf = (r: { phase?: string; pass: string; t: string }): PassState | undefined => {
    let p = passes.get(r.pass);
    if (!p && r.phase) {
      p = {
        phase: r.phase,
        pass: r.pass,
        state: "unfinished",
        startedAt: r.t,
        steps: [],
        segments: [],
        failures: [],
      };
      passes.set(r.pass, p);
      open.set(r.pass, r.t);
    }
    return p;
  };
  records.forEach((r, index) => {
    if (typeof r.pass === "string" && r.t > (lastSeen.get(r.pass) ?? "")) lastSeen.set(r.pass, r.t);
    if (isRecord(r, "pass-started") || isRecord(r, "pass-resumed")) {
      if (typeof r.origin === "string") st.origin = r.origin;
      if (typeof r.profile === "string") st.profile = r.profile;
      if (typeof r.originVersion === "string") st.originVersion = r.originVersion;
      const p = passOf(r)!;
      p.state = "unfinished";
      if (!open.has(p.pass)) open.set(p.pass, r.t);
      return;
    }
    if (isRecord(r, "step-started")) {
      // Up from its start: a crash after the fence was set but before its record still counts.
      if (r.step === FENCE_STEP_ID) st.fence = { since: r.t, databases: st.fence?.databases ?? [], ended: 0 };
      const p = passOf(r);
      if (!p) return;
      const existing = p.steps.find((s) => s.id === r.step);
      const s: StepState = {
        id: r.step,
        title: typeof r.title === "string" ? r.title : r.step,
        state: "running",
        startedAt: r.t,
        ...(typeof r.host === "string" ? { host: r.host } : {}),
      };
      // A step started again on a resumed pass: its earlier failure no longer stands.
      if (existing)
        Object.assign(existing, s, {
          error: undefined,
          summary: undefined,
          data: undefined,
          durationMs: undefined,
        });
      else p.steps.push(s);
      return;
    }
    if (isRecord(r, "step-done") || isRecord(r, "step-failed")) {
      if (isRecord(r, "step-done")) foldFence(st, r);
      const p = passOf(r);
      if (!p) return;
      let s = p.steps.find((x) => x.id === r.step);
      if (!s) {
        const title = "title" in r && typeof r.title === "string" ? r.title : r.step;
        s = { id: r.step, title, state: "running" };
        // Its start is lost: reckoned from its duration.
        s.startedAt =
          typeof r.durationMs === "number" ? new Date(Date.parse(r.t) - r.durationMs).toISOString() : r.t;
        p.steps.push(s);
      }
      s.state = r.type === "step-done" ? "done" : "failed";
      if (typeof r.durationMs === "number") s.durationMs = r.durationMs;
      if (r.type === "step-done") {
        if (typeof r.summary === "string") s.summary = r.summary;
        if (r.data && typeof r.data === "object") s.data = r.data;
      } else if (typeof r.error === "string") s.error = r.error;
      return;
    }
    if (isRecord(r, "pass-finished")) {
      const p = passOf(r);
      if (!p) return;
      p.state = "finished";
      p.endedAt = r.t;
      if (typeof r.durationMs === "number") p.durationMs = r.durationMs;
      closeSegment(p, r.t, "finished");
      if (p.phase === "cold-sync") {
        coldFinished = r;
        coldFinishedAt = index;
      }
      return;
    }
    if (isRecord(r, "pass-failed")) {
      const p = passOf(r);
      if (!p) return;
      p.state = "failed";
      p.endedAt = r.t;
      p.error = typeof r.error === "string" ? r.error : undefined;
      p.failures.push(p.error ?? "failed");
      closeSegment(p, r.t, "failed");
      return;
    }
    if (isRecord(r, "pass-abandoned")) {
      const p = passes.get(r.pass);
      if (!p) return;
      p.state = "abandoned";
      p.failures.push(typeof r.error === "string" ? r.error : "abandoned");
      closeSegment(p, r.t, "abandoned");
      return;
    }
    if (isRecord(r, "check")) {
      const f: CheckRecord["findings"] = Array.isArray(r.findings) ? r.findings : [];
      st.lastCheck = {
        at: r.t,
        blockers: f.filter((x) => x.severity === "blocker").length,
        warnings: f.filter((x) => x.severity === "warning").length,
      };
      return;
    }
    if (isRecord(r, "verify-result")) {
      latestVerify = r;
      latestVerifyAt = index;
      st.lastVerify = {
        at: r.t,
        ok: r.ok,
        differences: Array.isArray(r.differences) ? r.differences.length : Number(r.differenceCount ?? 0),
      };
      return;
    }
    if (isRecord(r, "downtime")) {
      st.downtime = { startedAt: r.startedAt, endedAt: r.endedAt, ms: r.ms };
      return;
    }
    if (isRecord(r, "rollback")) st.rolledBackAt = r.t;
  });
  // A step still "running" in a pass that is no longer open was cut short (kill, crash).
  for (const p of passes.values()) {
    for (const s of p.steps) if (s.state === "running" && p.state !== "unfinished") s.state = "interrupted";
    const since = open.get(p.pass);
    if (since !== undefined)
      p.segments.push({ startedAt: since, endedAt: lastSeen.get(p.pass) ?? since, outcome: "running" });
  }
  const all = [...passes.values()];
  const swap = all.filter((p) => p.phase === "swap").at(-1);
  const verificationNewer = latestVerifyAt >= 0 && coldFinishedAt >= 0 && latestVerifyAt > coldFinishedAt;
  const folded: MigrationStatus = {
    ...st,
    passes: all,
    ...(swap?.state === "finished" && swap.endedAt ? { swappedAt: swap.endedAt } : {}),
    verification: {
      ...(latestVerify ? { latest: latestVerify } : {}),
      ...(coldFinished ? { coldSync: coldFinished } : {}),
      newerThanColdSync: verificationNewer,
      passing: verificationNewer && latestVerify!.ok,
    },
    nextPhase: "hot-sync",
    next: "",
  };
  const outage = outageOf(records);
  if (outage) folded.outage = outage;
  folded.nextPhase = nextPhaseOf(folded);
  folded.next = nextCommand(folded);
  return folded;
}

/** One part of the outage, in the order they happen. */
export interface OutagePart {
  /** stop, copy, verification, swap, start, or between (the time between commands). */
  name: "stop" | "copy" | "verification" | "swap" | "start" | "between";
  ms: number;
}

/**
 * The outage users feel: from the moment the cold sync began stopping the origin's services until
 * BlueMind first answered on the target at the address users reach (the swap's check). Measured
 * from the journal's own times, never estimated. While the swap has not answered yet, `endedAt` is
 * absent and `ongoing` says so.
 */
export interface Outage {
  startedAt: string;
  endedAt?: string;
  ms?: number;
  ongoing: boolean;
  /** The make-up, summing to `ms` when ended (so far, when ongoing). */
  parts: OutagePart[];
}

const msBetween = (a: string, b: string): number => Math.max(0, Date.parse(b) - Date.parse(a));

/**
 * The outage of the last cold sync that was not abandoned: its `downtime` record gives the start
 * (and the end of the copy), the stop step of the origin's services the stop, each `verify-result`
 * after it the verification (its own start and duration), and the swap pass the swap and the start
 * (its `start:target` step's start, its `check:target` step's `answeringAt`).
 */
export function outageOf(records: readonly JournalRecord[]): Outage | undefined {
  let cold: JournalRecord | undefined;
  let coldIndex = -1;
  records.forEach((r, i) => {
    if (r.type === "downtime") {
      cold = r;
      coldIndex = i;
    }
  });
  if (!cold || typeof cold["startedAt"] !== "string" || typeof cold["endedAt"] !== "string") return undefined;
  const later = records.slice(coldIndex + 1);
  if (later.some((r) => r.type === "rollback" || (r.type === "pass-abandoned" && r.pass === cold!.pass)))
    return undefined;
  const start = cold["startedAt"];
  const coldEnd = cold["endedAt"];
  const stopDone = records.find(
    (r) => r.pass === cold!.pass && r.type === "step-done" && r.step === "stop-services:origin",
  );
  const stopMs = stopDone && typeof stopDone["durationMs"] === "number" ? stopDone["durationMs"] : 0;
  const parts: OutagePart[] = [
    { name: "stop", ms: Math.min(stopMs, msBetween(start, coldEnd)) },
    { name: "copy", ms: Math.max(0, msBetween(start, coldEnd) - stopMs) },
  ];
  let at = coldEnd;
  let verifyMs = 0;
  let between = 0;
  for (const r of later) {
    if (r.type !== "verify-result" || typeof r["durationMs"] !== "number") continue;
    const vStart =
      typeof r["startedAt"] === "string"
        ? r["startedAt"]
        : new Date(Date.parse(r.t) - r["durationMs"]).toISOString();
    between += msBetween(at, vStart);
    verifyMs += msBetween(vStart, r.t);
    at = r.t;
  }
  const swapStart = later.find((r) => r.type === "pass-started" && r.phase === "swap");
  const swapPass = swapStart?.pass;
  const startStep = later.find(
    (r) => r.pass === swapPass && r.type === "step-started" && r.step === "start:target",
  );
  const check = later.find((r) => r.pass === swapPass && r.type === "step-done" && r.step === "check:target");
  const answeringAt =
    check && typeof (check["data"] as Record<string, unknown> | undefined)?.["answeringAt"] === "string"
      ? String((check["data"] as Record<string, unknown>)["answeringAt"])
      : undefined;
  if (verifyMs) parts.push({ name: "verification", ms: verifyMs });
  if (swapStart) {
    between += msBetween(at, swapStart.t);
    at = swapStart.t;
  }
  if (startStep) {
    parts.push({ name: "swap", ms: msBetween(at, startStep.t) });
    at = startStep.t;
  }
  if (answeringAt) parts.push({ name: "start", ms: msBetween(at, answeringAt) });
  parts.push({ name: "between", ms: between });
  const outage: Outage = { startedAt: start, ongoing: !answeringAt, parts };
  if (answeringAt) {
    outage.endedAt = answeringAt;
    outage.ms = msBetween(start, answeringAt);
  }
  return outage;
}

/** "2.1 s (stop 0.3 s, copy 0.5 s, ...)" without the unit formatting (the caller's). */
export function outageParts(o: Outage, fmt: (ms: number) => string): string {
  return o.parts
    .filter((p) => p.ms > 0 || p.name !== "between")
    .map((p) => `${p.name === "between" ? "between commands" : p.name} ${fmt(p.ms)}`)
    .join(", ");
}

export function lastPass(st: MigrationStatus, phase: string): PassState | undefined {
  return st.passes.filter((p) => p.phase === phase).at(-1);
}

/** The last cold sync, unless a rollback or its own abandonment undid it. */
function validColdSync(st: MigrationStatus): PassState | undefined {
  const cold = lastPass(st, "cold-sync");
  if (!cold || cold.state === "abandoned" || (st.rolledBackAt && st.rolledBackAt > cold.startedAt))
    return undefined;
  return cold;
}

/** The phase `run` runs next, from the journal alone. */
function nextPhaseOf(st: MigrationStatus): NextPhase {
  if (lastPass(st, "post")?.state === "finished") return "done";
  if (st.swappedAt) return "post";
  const cold = validColdSync(st);
  if (cold?.state === "finished") return st.verification.passing ? "swap" : "verify";
  if (cold) return "cold-sync";
  const hot = st.passes.filter((p) => p.phase === "hot-sync");
  const last = hot.at(-1);
  if (!last || last.state !== "finished") return "hot-sync";
  const finished = hot.filter((p) => p.state === "finished");
  if (finished.length < MAX_HOT_PASSES && (last.durationMs ?? 0) > SHORT_PASS_MS) return "hot-sync";
  if (finished.length < 2) return "hot-sync";
  return "cold-sync";
}

function nextCommand(st: MigrationStatus): string {
  const hot = lastPass(st, "hot-sync");
  const post = lastPass(st, "post");
  const cold = validColdSync(st);
  if (post?.state === "finished") return "bm-migrate report: the migration is complete";
  if (st.swappedAt) return post ? "bm-migrate post (resumes)" : "bm-migrate post";
  if (cold && cold.state !== "finished")
    return `bm-migrate cold-sync (resumes pass ${cold.pass}; BlueMind is stopped on the origin since ${cold.startedAt}) — or bm-migrate rollback`;
  if (cold) {
    const v = st.verification;
    if (!v.newerThanColdSync) return "bm-migrate verify";
    if (!v.passing)
      return "bm-migrate verify found differences: see its report; bm-migrate cold-sync --yes again or bm-migrate rollback";
    return "bm-migrate swap";
  }
  if (!hot)
    return st.lastCheck && st.lastCheck.blockers === 0
      ? "bm-migrate hot-sync"
      : "bm-migrate check, then bm-migrate hot-sync";
  if (hot.state !== "finished") return `bm-migrate hot-sync (resumes pass ${hot.pass})`;
  return "bm-migrate hot-sync again (shortens the downtime), or bm-migrate cold-sync when ready for the downtime";
}
