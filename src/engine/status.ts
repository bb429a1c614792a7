/**
 * Where the migration stands, folded from the journal: each phase's passes and steps, the
 * downtime, and the next command to run. Pure: `status` and the report both read it.
 */
import type { JournalRecord } from "./journal.js";

export const PHASES = ["check", "hot-sync", "cold-sync", "verify", "swap", "post"] as const;

export interface StepState {
  id: string;
  title: string;
  state: "done" | "failed" | "running" | "interrupted";
  startedAt?: string;
  durationMs?: number;
  summary?: string;
  error?: string;
  data?: Record<string, unknown>;
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
}

export interface MigrationStatus {
  origin?: string;
  profile?: string;
  originVersion?: string;
  passes: PassState[];
  lastCheck?: { at: string; blockers: number; warnings: number };
  lastVerify?: { at: string; ok: boolean; differences: number };
  downtime?: { startedAt: string; endedAt: string; ms: number };
  /** What users feel: from the origin's stop until BlueMind answers on the target (see outageOf). */
  outage?: Outage;
  rolledBackAt?: string;
  swappedAt?: string;
  /** `post` journals its own records (post-step, post-finished), not passes. */
  postFinishedAt?: string;
  next: string;
}

export function foldJournal(records: JournalRecord[]): MigrationStatus {
  const passes = new Map<string, PassState>();
  const st: MigrationStatus = { passes: [], next: "" };
  for (const r of records) {
    if (r.type === "pass-started" || r.type === "pass-resumed") {
      if (typeof r["origin"] === "string") st.origin = r["origin"];
      if (typeof r["profile"] === "string") st.profile = r["profile"];
      if (typeof r["originVersion"] === "string") st.originVersion = r["originVersion"];
      if (!passes.has(r.pass!))
        passes.set(r.pass!, {
          phase: r.phase!,
          pass: r.pass!,
          state: "unfinished",
          startedAt: r.t,
          steps: [],
        });
      else passes.get(r.pass!)!.state = "unfinished";
      continue;
    }
    const p = r.pass ? passes.get(r.pass) : undefined;
    switch (r.type) {
      case "step-started": {
        if (!p) break;
        const existing = p.steps.find((s) => s.id === r.step);
        const s: StepState = {
          id: r.step!,
          title: typeof r["title"] === "string" ? r["title"] : r.step!,
          state: "running",
          startedAt: r.t,
        };
        if (existing) Object.assign(existing, s, { error: undefined });
        else p.steps.push(s);
        break;
      }
      case "step-done":
      case "step-failed": {
        if (!p) break;
        let s = p.steps.find((x) => x.id === r.step);
        if (!s)
          p.steps.push(
            (s = {
              id: r.step!,
              title: typeof r["title"] === "string" ? r["title"] : r.step!,
              state: "running",
            }),
          );
        s.state = r.type === "step-done" ? "done" : "failed";
        if (typeof r["durationMs"] === "number") s.durationMs = r["durationMs"];
        if (typeof r["summary"] === "string") s.summary = r["summary"];
        if (typeof r["error"] === "string") s.error = r["error"];
        if (r["data"] && typeof r["data"] === "object") s.data = r["data"] as Record<string, unknown>;
        break;
      }
      case "pass-finished":
        if (p) {
          p.state = "finished";
          p.endedAt = r.t;
          if (typeof r["durationMs"] === "number") p.durationMs = r["durationMs"];
        }
        break;
      case "pass-failed":
        if (p) {
          p.state = "failed";
          p.endedAt = r.t;
          if (typeof r["error"] === "string") p.error = r["error"];
        }
        break;
      case "pass-abandoned":
        if (p) p.state = "abandoned";
        break;
      case "check": {
        const f = Array.isArray(r["findings"]) ? (r["findings"] as { severity?: string }[]) : [];
        st.lastCheck = {
          at: r.t,
          blockers: f.filter((x) => x.severity === "blocker").length,
          warnings: f.filter((x) => x.severity === "warning").length,
        };
        break;
      }
      case "verify-result":
        st.lastVerify = {
          at: r.t,
          ok: Boolean(r["ok"]),
          differences: Array.isArray(r["differences"])
            ? r["differences"].length
            : Number(r["differenceCount"] ?? 0),
        };
        break;
      case "downtime":
        st.downtime = {
          startedAt: String(r["startedAt"]),
          endedAt: String(r["endedAt"]),
          ms: Number(r["ms"]),
        };
        break;
      case "rollback":
        st.rolledBackAt = r.t;
        break;
      case "post-finished":
        st.postFinishedAt = r.t;
        break;
    }
  }
  // A step still "running" in a pass that is no longer open was cut short (kill, crash).
  for (const p of passes.values()) {
    if (p.state === "unfinished") p.state = "unfinished";
    for (const s of p.steps) if (s.state === "running" && p.state !== "unfinished") s.state = "interrupted";
  }
  st.passes = [...passes.values()];
  const swap = lastPass(st, "swap");
  if (swap?.state === "finished") st.swappedAt = swap.endedAt;
  const outage = outageOf(records);
  if (outage) st.outage = outage;
  st.next = nextCommand(st);
  return st;
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

function after(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && (b === undefined || a > b);
}

function nextCommand(st: MigrationStatus): string {
  const hot = lastPass(st, "hot-sync");
  const cold = lastPass(st, "cold-sync");
  const post = lastPass(st, "post");
  const coldValid =
    cold && !(st.rolledBackAt && st.rolledBackAt > cold.startedAt) && cold.state !== "abandoned";
  if (post?.state === "finished" || st.postFinishedAt) return "bm-migrate report: the migration is complete";
  if (st.swappedAt) return post ? "bm-migrate post (resumes)" : "bm-migrate post";
  if (coldValid && cold.state !== "finished")
    return `bm-migrate cold-sync (resumes pass ${cold.pass}; BlueMind is stopped on the origin since ${cold.startedAt}) — or bm-migrate rollback`;
  if (coldValid && cold.state === "finished") {
    if (!st.lastVerify || !after(st.lastVerify.at, cold.endedAt)) return "bm-migrate verify";
    if (!st.lastVerify.ok)
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
