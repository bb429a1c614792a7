/**
 * The report's data, derived from the journal records (and the commands of the log file) by pure
 * functions: no I/O here, so every part is unit-tested on plain records. A part whose records are
 * missing is left undefined or empty; the renderer says "not run yet" for it.
 */
import { foldJournal, outageOf, type StepState } from "../engine/status.js";
import { isRecord, RUN_PHASES } from "../engine/records.js";
import type { Finding as CheckFinding, Severity } from "../check/findings.js";
import { formatBytes } from "../engine/format.js";
import type { JournalRecord } from "../engine/journal.js";

/** The phases in the order a migration runs them. */

export type PassStatus = "finished" | "failed" | "abandoned" | "running";

/** One stretch of work on a pass: from its start (or resume) to its end, failure or last record. */
export interface PassSegment {
  start: number;
  end: number;
  outcome: PassStatus;
}

export interface StepView {
  step: string;
  title: string;
  host?: string;
  start: number;
  durationMs?: number;
  status: "done" | "failed" | "started";
  summary?: string;
  error?: string;
  data?: Record<string, unknown>;
}

export interface PassView {
  phase: string;
  pass: string;
  /** 1-based rank of this pass within its phase. */
  ordinal: number;
  /** "hot-sync #2", or just "cold-sync" for a phase run once. */
  label: string;
  start: number;
  end: number;
  /** Time spent working (sum of the segments), not the wall time between start and end. */
  workMs: number;
  status: PassStatus;
  segments: PassSegment[];
  steps: StepView[];
  /** Why the pass failed, when it stands failed. */
  error?: string;
  /** Failures of earlier runs of this pass, since resumed. */
  earlierFailures: string[];
}

export interface DirectoryRow {
  dir: string;
  passLabel: string;
  phase: string;
  bytes?: number;
  files?: number;
  transferredBytes?: number;
  transferredFiles?: number;
  durationMs?: number;
}

/** A database as last copied: one step that dumps and loads (`database:bj`), or a dump and a restore. */
export interface DatabaseRow {
  db: string;
  passLabel: string;
  /** Size of the dump. */
  bytes?: number;
  /** Size of the database on the origin. */
  originBytes?: number;
  tables?: number;
  rows?: number;
  copyMs?: number;
  dumpMs?: number;
  restoreMs?: number;
}

export type { Severity };

/** A preflight finding as journaled (ids read back as plain strings). */
export type Finding = Omit<CheckFinding, "id"> & { id: string };

export interface CheckView {
  at: number;
  findings: Finding[];
  counts: Record<Severity, number>;
}

export interface VerifyCountRow {
  name: string;
  /** Column name to value, e.g. { origin: "120", target: "120" } or { value: "3" }. */
  values: Record<string, string>;
}

export interface VerifyView {
  at: number;
  ok: boolean;
  /** The differences journaled (the first ones, when there are many). */
  differences: string[];
  /** All differences found, listed or not. */
  differenceCount: number;
  /** Percentage of data files whose content was compared, when not all. */
  sample?: number;
  /** What a change of PostgreSQL major version implies and verify accepted, in words. */
  normalised: string[];
  counts: VerifyCountRow[];
  /** Union of the column names of `counts`, in first-seen order. */
  countColumns: string[];
  /** `full`, or `changed`: only what could have changed since the verification ahead. */
  scope: string;
  durationMs?: number;
  /**
   * The verification ahead a `changed` one relied on, while the origin served: the full one, and
   * its refresh when there was one (start and duration of each).
   */
  ahead?: { at: number; ms?: number; refresh?: { at: number; ms?: number } };
}

export interface DowntimeView {
  start: number;
  end: number;
  ms: number;
}

/** The outage users feel (see engine/status outageOf): origin's stop until BlueMind answers. */
export interface OutageView {
  start: number;
  end?: number;
  ms?: number;
  ongoing: boolean;
  parts: { name: string; ms: number }[];
}

export interface ForecastView {
  downtimeMs: number;
  basis?: string;
  at?: number;
}

export interface CommandView {
  at?: number;
  host: string;
  command: string;
}

export interface PhaseState {
  phase: string;
  status: PassStatus | "not run yet";
  passes: number;
}

export interface ReportModel {
  generatedAt: number;
  /** First and last record times; undefined for an empty journal. */
  span?: { start: number; end: number };
  runs: string[];
  phases: PhaseState[];
  passes: PassView[];
  directories: DirectoryRow[];
  databases: DatabaseRow[];
  check?: CheckView;
  verify?: VerifyView;
  downtime?: DowntimeView;
  outage?: OutageView;
  forecast?: ForecastView;
  /** What the migration set aside on the target, the postfix queue, BlueMind's repairs. */
  carried: CarriedView;
  commands: CommandView[];
}

/** Issue 17's parts in the report: read from the journal's steps (the last of each). */
export interface CarriedView {
  /** Target paths set aside (configuration only the target had, its install's leftovers) and where. */
  setAside: { path: string; where: string }[];
  /** The origin's postfix queue: before and after the flush while it served, at the stop. */
  queue: {
    beforeFlush?: number;
    afterFlush?: number;
    atStop?: number;
    requeued?: number;
    leftQueue?: number;
    stillQueued?: number;
  };
  /** BlueMind's repairs once the target ran: the step's summary. */
  repairs?: string;
}

/** The last completed step of that id in the journal (any pass). */
function lastStepData(
  records: JournalRecord[],
  step: string,
): { summary?: string; data?: Record<string, unknown> } | undefined {
  const r = records.filter((x) => isRecord(x, "step-done") && x.step === step).at(-1);
  if (!r || !isRecord(r, "step-done")) return undefined;
  const data = obj(r.data);
  const summary = str(r.summary);
  return { ...(summary ? { summary } : {}), ...(data ? { data } : {}) };
}

export function carriedView(records: JournalRecord[]): CarriedView {
  const setAside: CarriedView["setAside"] = [];
  for (const step of ["config", "target-leftovers"]) {
    const d = lastStepData(records, step)?.data;
    const where = str(d?.["backupDir"]) ?? "";
    const paths = Array.isArray(d?.["setAside"]) ? (d["setAside"] as unknown[]) : [];
    for (const p of paths) if (typeof p === "string") setAside.push({ path: p, where });
  }
  const flush = records.filter((r) => isRecord(r, "postfix-flush")).at(-1);
  const atStop = lastStepData(records, "postfix-queue:origin")?.data;
  const onTarget = lastStepData(records, "postfix-queue:target")?.data;
  const queue: CarriedView["queue"] = {};
  const put = (k: keyof CarriedView["queue"], v: unknown): void => {
    const n = num(v);
    if (n !== undefined) queue[k] = n;
  };
  put("beforeFlush", flush?.["before"]);
  put("afterFlush", flush?.["after"]);
  put("atStop", atStop?.["queued"]);
  put("requeued", onTarget?.["requeued"]);
  put("leftQueue", onTarget?.["leftQueue"]);
  put("stillQueued", onTarget?.["stillQueued"]);
  const repairs = lastStepData(records, "repair:domains")?.summary;
  return { setAside, queue, ...(repairs ? { repairs } : {}) };
}

// ---- tolerant field readers: the journal is written by several versions of several steps ----

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

function time(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v !== "string") return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** Keeps passwords out of the report even if an upstream log line let one through. */
export function redactSecrets(text: string): string {
  return text
    .replace(/\b(PGPASSWORD|[A-Z_]*PASSWORD|password|passwd)=("[^"]*"|'[^']*'|\S+)/g, "$1=***")
    .replace(/(--password[= ])("[^"]*"|'[^']*'|\S+)/g, "$1***")
    .replace(/(:\/\/[^:/\s@]+:)[^@/\s]+@/g, "$1***@");
}

export interface BuildOptions {
  /** When the report is made (epoch ms); a parameter so the model stays a pure function. */
  now: number;
  /** Commands found in the log file (see {@link commandsFromLog}). */
  logCommands?: CommandView[];
}

export function buildReportModel(records: JournalRecord[], opts: BuildOptions): ReportModel {
  const timed = records.filter((r) => time(r.t) !== undefined);
  const times = timed.map((r) => time(r.t)!);
  const passes = buildPasses(timed);
  const downtime = lastDowntime(timed);
  return {
    generatedAt: opts.now,
    ...(times.length ? { span: { start: Math.min(...times), end: Math.max(...times) } } : {}),
    runs: unique(timed.map((r) => str(r.run)).filter((r): r is string => r !== undefined)),
    phases: phaseStates(passes),
    passes,
    directories: directoryRows(passes),
    databases: databaseRows(passes),
    ...optional("check", lastCheck(timed)),
    ...optional("verify", lastVerify(timed)),
    ...optional("downtime", downtime),
    ...optional("outage", outageView(timed)),
    ...optional("forecast", chooseForecast(timed, downtime)),
    carried: carriedView(timed),
    commands: mergeCommands(timed, opts.logCommands ?? []),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

// ---- passes and steps ----

/** Passes in the order they were started, with their segments (a resumed pass has several), from the journal's one fold. */
export function buildPasses(records: JournalRecord[]): PassView[] {
  type Draft = Omit<PassView, "ordinal" | "label">;
  const drafts: Draft[] = foldJournal(records).passes.map((p) => {
    const segments: PassSegment[] = p.segments.map((g) => ({
      start: Date.parse(g.startedAt),
      end: Date.parse(g.endedAt),
      outcome: g.outcome,
    }));
    const first = segments[0];
    const last = segments[segments.length - 1];
    const status: PassStatus = p.state === "unfinished" ? "running" : p.state;
    const failed = status === "failed" || status === "abandoned";
    return {
      phase: p.phase,
      pass: p.pass,
      start: first?.start ?? Date.parse(p.startedAt),
      end: last?.end ?? Date.parse(p.startedAt),
      workMs: segments.reduce((sum, g) => sum + (g.end - g.start), 0),
      status,
      segments,
      steps: p.steps.map((x) => stepView(x, Date.parse(p.startedAt))).sort((a, b) => a.start - b.start),
      ...(failed ? { error: p.failures[p.failures.length - 1] } : {}),
      earlierFailures: failed ? p.failures.slice(0, -1) : p.failures,
    };
  });
  // A verification that ran outside the runner: its result record is its whole pass.
  for (const r of records) {
    if (!isRecord(r, "verify-result") || str(r.pass)) continue;
    const t = time(r.t)!;
    const ms = num(r.durationMs) ?? 0;
    const segments: PassSegment[] = [{ start: t - ms, end: t, outcome: "finished" }];
    drafts.push({
      phase: "verify",
      pass: str(r.run) ?? r.t,
      start: t - ms,
      end: t,
      workMs: ms,
      status: "finished",
      segments,
      steps: [],
      earlierFailures: [],
    });
  }
  const order = drafts.sort((a, b) => a.start - b.start);
  const perPhase = new Map<string, number>();
  const counts = new Map<string, number>();
  for (const d of order) counts.set(d.phase, (counts.get(d.phase) ?? 0) + 1);
  return order.map((d) => {
    const ordinal = (perPhase.get(d.phase) ?? 0) + 1;
    perPhase.set(d.phase, ordinal);
    return { ...d, ordinal, label: (counts.get(d.phase) ?? 1) > 1 ? `${d.phase} #${ordinal}` : d.phase };
  });
}

function stepView(s: StepState, passStart: number): StepView {
  return {
    step: s.id,
    title: s.title,
    ...(s.host ? { host: s.host } : {}),
    start: s.startedAt ? Date.parse(s.startedAt) : passStart,
    status: s.state === "done" ? "done" : s.state === "failed" ? "failed" : "started",
    ...(s.durationMs !== undefined && s.state !== "running" ? { durationMs: s.durationMs } : {}),
    ...(s.summary && s.state === "done" ? { summary: s.summary } : {}),
    ...(s.data && s.state === "done" ? { data: s.data } : {}),
    ...(s.error && s.state === "failed" ? { error: s.error } : {}),
  };
}

function phaseStates(passes: PassView[]): PhaseState[] {
  const known: string[] = [...RUN_PHASES];
  for (const p of passes) if (!known.includes(p.phase)) known.push(p.phase);
  return known.map((phase) => {
    const mine = passes.filter((p) => p.phase === phase);
    const last = mine[mine.length - 1];
    return { phase, status: last ? last.status : "not run yet", passes: mine.length };
  });
}

// ---- volumes ----

/** One row per directory and pass, directories in first-seen order, passes in time order. */
export function directoryRows(passes: PassView[]): DirectoryRow[] {
  const rows: DirectoryRow[] = [];
  for (const p of passes) {
    for (const s of p.steps) {
      const dir = str(s.data?.["dir"]);
      if (s.status !== "done" || !dir) continue;
      // The rsync steps journal totalBytes and regularFiles (files counts directories too).
      const bytes = num(s.data?.["bytes"]) ?? num(s.data?.["totalBytes"]);
      const files = num(s.data?.["regularFiles"]) ?? num(s.data?.["files"]);
      const transferredBytes = num(s.data?.["transferredBytes"]);
      const transferredFiles = num(s.data?.["transferredFiles"]);
      rows.push({
        dir,
        passLabel: p.label,
        phase: p.phase,
        ...(bytes !== undefined ? { bytes } : {}),
        ...(files !== undefined ? { files } : {}),
        ...(transferredBytes !== undefined ? { transferredBytes } : {}),
        ...(transferredFiles !== undefined ? { transferredFiles } : {}),
        ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}),
      });
    }
  }
  const firstSeen = unique(rows.map((r) => r.dir));
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => firstSeen.indexOf(a.r.dir) - firstSeen.indexOf(b.r.dir) || a.i - b.i)
    .map(({ r }) => r);
}

/**
 * Per database, its latest copy. A step is a dump or a restore by its id (`dump:bj`,
 * `restore:bj-data`), else one step that does both (`database:bj`). A later pass replaces an
 * earlier one; a dump and a restore of the same pass are joined.
 */
export function databaseRows(passes: PassView[]): DatabaseRow[] {
  const byDb = new Map<string, DatabaseRow>();
  for (const p of passes) {
    for (const s of p.steps) {
      const db = str(s.data?.["db"]);
      if (s.status !== "done" || !db) continue;
      const prior = byDb.get(db);
      const row: DatabaseRow = prior && prior.passLabel === p.label ? prior : { db, passLabel: p.label };
      const bytes = num(s.data?.["dumpBytes"]) ?? num(s.data?.["bytes"]);
      const fields = {
        bytes,
        originBytes: num(s.data?.["originBytes"]),
        tables: num(s.data?.["tables"]),
        rows: num(s.data?.["rows"]),
      };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) row[k as keyof typeof fields] = v;
      const kind = s.step.startsWith("dump:")
        ? "dumpMs"
        : s.step.startsWith("restore:")
          ? "restoreMs"
          : "copyMs";
      if (s.durationMs !== undefined) row[kind] = s.durationMs;
      byDb.set(db, row);
    }
  }
  return [...byDb.values()];
}

// ---- checks, verification, downtime, forecast ----

const SEVERITIES: readonly Severity[] = ["blocker", "warning", "info"];

function lastOfType(records: JournalRecord[], type: string): JournalRecord | undefined {
  for (let i = records.length - 1; i >= 0; i--) if (records[i]!.type === type) return records[i];
  return undefined;
}

/** The findings of the latest preflight, blockers first. */
export function lastCheck(records: JournalRecord[]): CheckView | undefined {
  const r = lastOfType(records, "check");
  if (!r || !Array.isArray(r.findings)) return undefined;
  const findings: Finding[] = [];
  for (const f of r.findings as unknown[]) {
    const o = obj(f);
    const title = str(o?.["title"]);
    if (!o || !title) continue;
    const sev = str(o["severity"]);
    const severity: Severity = SEVERITIES.includes(sev as Severity) ? (sev as Severity) : "info";
    const finding: Finding = { id: str(o["id"]) ?? "", severity, title };
    if (o["skipped"] === true) finding.skipped = true;
    for (const k of ["origin", "target", "detail", "remedy"] as const) {
      const v = o[k];
      const text = typeof v === "string" ? v : v === undefined || v === null ? undefined : JSON.stringify(v);
      if (text) finding[k] = text;
    }
    findings.push(finding);
  }
  findings.sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
  const counts = { blocker: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return { at: time(r.t)!, findings, counts };
}

export function lastVerify(records: JournalRecord[]): VerifyView | undefined {
  const r = lastOfType(records, "verify-result");
  if (!r || typeof r.ok !== "boolean") return undefined;
  const differences = Array.isArray(r.differences) ? (r.differences as unknown[]).map(differenceText) : [];
  const counts: VerifyCountRow[] = [];
  const columns: string[] = [];
  for (const [name, v] of Object.entries(obj(r.counts) ?? {})) {
    const values: Record<string, string> = {};
    const o = obj(v);
    if (o) for (const [k, x] of Object.entries(o)) values[k] = scalarText(x, name);
    else values["value"] = scalarText(v, name);
    for (const k of Object.keys(values)) if (!columns.includes(k)) columns.push(k);
    counts.push({ name, values });
  }
  const sample = num(r.sample);
  const scope = str(r.scope) ?? "full";
  const ahead = scope === "changed" ? aheadView(records, str(r.aheadAt)) : undefined;
  const durationMs = num(r.durationMs);
  return {
    scope,
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(ahead ? { ahead } : {}),
    at: time(r.t)!,
    ok: r.ok,
    differences,
    differenceCount: Math.max(num(r.differenceCount) ?? 0, differences.length),
    ...(sample !== undefined ? { sample } : {}),
    normalised: Array.isArray(r.normalised) ? (r.normalised as unknown[]).map(String) : [],
    counts,
    countColumns: columns,
  };
}

/** The ahead record a verification relied on (by its start), and the full one a refresh came from. */
function aheadView(records: JournalRecord[], at: string | undefined): VerifyView["ahead"] {
  const byStart = (t: string | undefined) =>
    records.filter((x) => x.type === "verify-ahead" && str(x["startedAt"]) === t).at(-1);
  const used = byStart(at);
  if (!used) return undefined;
  const view = (x: JournalRecord) => {
    const ms = num(x["durationMs"]);
    return { at: Date.parse(String(x["startedAt"])), ...(ms !== undefined ? { ms } : {}) };
  };
  const from = str(used["refreshOf"]);
  const full = from ? byStart(from) : undefined;
  if (!from) return view(used);
  return full ? { ...view(full), refresh: view(used) } : { ...view(used) };
}

/** `verify` journals `{where, what}`; other shapes are shown as they are. */
function differenceText(d: unknown): string {
  if (typeof d === "string") return d;
  const o = obj(d);
  const where = str(o?.["where"]);
  const what = str(o?.["what"]);
  if (where && what) return `${where}: ${what}`;
  return JSON.stringify(d) ?? String(d);
}

function scalarText(v: unknown, name: string): string {
  if (typeof v === "number") return /bytes/i.test(name) ? formatBytes(v) : v.toLocaleString("en-US");
  if (typeof v === "string") return v;
  return JSON.stringify(v) ?? "";
}

export function outageView(records: JournalRecord[]): OutageView | undefined {
  const o = outageOf(records);
  const start = o && time(o.startedAt);
  if (!o || start === undefined) return undefined;
  const end = time(o.endedAt);
  return {
    start,
    ...(end !== undefined ? { end } : {}),
    ...(o.ms !== undefined ? { ms: o.ms } : {}),
    ongoing: o.ongoing,
    parts: o.parts,
  };
}

export function lastDowntime(records: JournalRecord[]): DowntimeView | undefined {
  const r = lastOfType(records, "downtime");
  if (!r) return undefined;
  const start = time(r.startedAt);
  const end = time(r.endedAt);
  if (start === undefined || end === undefined) return undefined;
  return { start, end, ms: num(r.ms) ?? end - start };
}

/** A hot pass's forecast basis in words: "stop 80 ms, then database:bj-data 744 ms (delta ...)". */
function forecastBasis(b: Record<string, unknown> | undefined): string | undefined {
  if (!b) return undefined;
  const stop = num(b["stopMs"]);
  const copy = num(b["copyMs"]);
  const step = str(b["slowestStep"]);
  if (stop === undefined || copy === undefined || !step) return JSON.stringify(b);
  const how = str(b["how"]);
  return `stop ${stop} ms, then the slowest copy: ${step} ${copy} ms${how ? ` (${how})` : ""}`;
}

/**
 * The forecast the downtime is judged against: the latest one made before the downtime began
 * (a later forecast would know the answer), else the cold-sync pass's own, else the latest.
 */
export function chooseForecast(
  records: JournalRecord[],
  downtime: DowntimeView | undefined,
): ForecastView | undefined {
  const forecasts: ForecastView[] = [];
  for (const r of records) {
    const at = time(r.t);
    if (r.type === "forecast") {
      const ms = num(r.downtimeMs);
      const basis = str(r.basis) ?? forecastBasis(obj(r.basis));
      if (ms !== undefined)
        forecasts.push({ downtimeMs: ms, ...(basis ? { basis } : {}), ...(at ? { at } : {}) });
    }
  }
  const cutoff = downtime?.start ?? Infinity;
  const before = forecasts.filter((f) => f.at !== undefined && f.at <= cutoff);
  if (before.length) return before[before.length - 1];
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    const ms = num(obj(r.forecast)?.["downtimeMs"]);
    if (r.type === "pass-started" && r.phase === "cold-sync" && ms !== undefined) {
      const at = time(r.t);
      return { downtimeMs: ms, basis: "forecast recorded when the cold sync began", ...(at ? { at } : {}) };
    }
  }
  return forecasts[forecasts.length - 1];
}

// ---- commands ----

/** Parses `<ISO time> {"type":"command","host":...,"command":...}` lines of bm-migrate.log. */
export function commandsFromLog(text: string): CommandView[] {
  const out: CommandView[] = [];
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    if (space < 0 || !line.includes('"command"')) continue;
    let e: unknown;
    try {
      e = JSON.parse(line.slice(space + 1));
    } catch {
      continue;
    }
    const o = obj(e);
    const host = str(o?.["host"]);
    const command = str(o?.["command"]);
    if (o?.["type"] !== "command" || !host || !command) continue;
    const at = time(line.slice(0, space));
    out.push({ ...(at !== undefined ? { at } : {}), host, command });
  }
  return out;
}

/**
 * Journal and log commands together, in time order, secrets masked. The same command seen in both
 * (timestamps a few milliseconds apart) is listed once.
 */
export function mergeCommands(records: JournalRecord[], fromLog: CommandView[]): CommandView[] {
  const all: CommandView[] = [...fromLog];
  for (const r of records) {
    const host = str(r.host);
    const command = str(r.command);
    const at = time(r.t);
    if (r.type === "command" && host && command)
      all.push({ ...(at !== undefined ? { at } : {}), host, command });
  }
  const ordered = all.map((c, i) => ({ c, i })).sort((a, b) => (a.c.at ?? 0) - (b.c.at ?? 0) || a.i - b.i);
  const lastAt = new Map<string, number | undefined>();
  const out: CommandView[] = [];
  for (const { c } of ordered) {
    const key = `${c.host}\u0000${c.command}`;
    if (lastAt.has(key)) {
      const prior = lastAt.get(key);
      const twin = prior === undefined || c.at === undefined ? prior === c.at : Math.abs(c.at - prior) < 2000;
      if (twin) continue;
    }
    lastAt.set(key, c.at);
    out.push({ ...c, command: redactSecrets(c.command) });
  }
  return out;
}
