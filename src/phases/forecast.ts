/**
 * The downtime forecast: after each hot pass, how long the cold sync should take, from what the
 * pass itself saw. The cold sync stops the services, then runs its copies at once, so the forecast
 * is the stop, plus the slowest of the copies as the cold sync will do them, plus a little for
 * starting them:
 * - a data directory under a trusted change journal: the listed copy of what changed, a fixed
 *   cost plus what this pass moved for it (the change of about one pass), per file and per byte;
 *   after a first copy, which moved everything, the fixed cost alone;
 * - a data directory without one: a full walk. An incremental pass walked it already (its own
 *   time); after a first copy, its entries at the walk rate rsync has here;
 * - a database: its delta. A pass that was a delta timed it; after a full copy, the origin's size
 *   at the rate the delta scans it;
 * - the configuration files: a fixed cost.
 * The constants are this tool's own measured costs (bench/, 2 cores); `basis` says which copy was
 * the slowest and why, and the cold sync journals the forecast beside the real downtime.
 */
import type { JournalRecord } from "../engine/journal.js";
import { foldJournal, type StepState } from "../engine/status.js";
import { isRecord } from "../engine/records.js";

export interface Forecast {
  downtimeMs: number;
  basis: { stopMs: number; copyMs: number; slowestStep: string; how: string };
}

/** The listed copy of one directory (read the journal, ask the origin, one rsync): fixed part. */
const LISTED_COPY_MS = 400;
/** Each changed file of a listed copy, and the bytes (about 50 MB/s). */
const LISTED_MS_PER_FILE = 0.3;
const TRANSFER_BYTES_PER_MS = 50_000;
/** A full rsync walk over unchanged entries, per entry (80,000 entries in about 1.1 s). */
const WALK_MS_PER_ENTRY = 0.015;
/** The delta's scan of the origin's tables, bytes of database per ms (about 250 MB/s). */
const DELTA_SCAN_BYTES_PER_MS = 250_000;
/** A delta's fixed part: its round trips, sequences and the swap of names. */
const DELTA_FIXED_MS = 300;
/** The configuration copy. */
const CONFIG_MS = 300;
/** Starting the copies once the services are stopped. */
const START_MS = 200;

interface Estimate {
  step: string;
  ms: number;
  how: string;
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

function dataEstimate(r: StepState, watching: boolean, firstCopy: boolean): Estimate {
  const step = r.id;
  const data = r.data ?? {};
  if (watching) {
    if (firstCopy) return { step, ms: LISTED_COPY_MS, how: "listed copy (change journal)" };
    const files = num(data["transferredFiles"]);
    const bytes = num(data["transferredBytes"]);
    return {
      step,
      ms: LISTED_COPY_MS + files * LISTED_MS_PER_FILE + bytes / TRANSFER_BYTES_PER_MS,
      how: `listed copy (change journal) of about this pass's change (${files} files)`,
    };
  }
  if (firstCopy) {
    const entries = num(data["files"]);
    return {
      step,
      ms: entries * WALK_MS_PER_ENTRY,
      how: `full walk of ${entries} entries (no change journal)`,
    };
  }
  return { step, ms: num(r.durationMs), how: "full walk, as this pass (no change journal)" };
}

function databaseEstimate(r: StepState): Estimate {
  const step = r.id.replace("database-staging:", "database:");
  const data = r.data ?? {};
  if (data["mode"] === "delta") {
    const t = (data["ms"] ?? {}) as Record<string, unknown>;
    const ms = num(t["about"]) + num(t["compare"]) + num(t["copy"]) + num(t["sequences"]);
    return { step, ms: ms + DELTA_FIXED_MS / 2, how: "delta, as this pass timed it" };
  }
  const bytes = num(data["originBytes"]);
  return {
    step,
    ms: DELTA_FIXED_MS + bytes / DELTA_SCAN_BYTES_PER_MS,
    how: `delta over ${Math.round(bytes / 1e6)} MB (after a full copy)`,
  };
}

export function forecastFromPass(records: JournalRecord[], pass: string): Forecast | undefined {
  const done = (foldJournal(records).passes.find((p) => p.pass === pass)?.steps ?? []).filter(
    (s) => s.state === "done",
  );
  const copies = done.filter((r) => r.id.startsWith("rsync:") || r.id.startsWith("database-staging:"));
  if (!copies.length) return undefined;
  const stops = done.filter((r) => r.id.startsWith("stop-services:")).map((r) => num(r.durationMs));
  const stopMs = stops.length ? Math.max(...stops) : 0;
  // The change journal as this pass left it (a later failure makes the cold sync walk: then the
  // forecast is low, and the cold sync's own record shows by how much).
  const watching = done.find((r) => r.id === "change-journal:start")?.data?.["watching"] === true;
  // First copies: directories set aside in this pass (they were empty), or copied by tar.
  const firstCopies = new Set(
    done.filter((r) => r.id.startsWith("set-aside:")).map((r) => r.id.slice("set-aside:".length)),
  );
  const estimates: Estimate[] = [
    ...copies.map((r) => {
      if (r.id.startsWith("database-staging:")) return databaseEstimate(r);
      const dir = r.id.slice("rsync:".length);
      const method = r.data?.["method"];
      return dataEstimate(r, watching, firstCopies.has(dir) || method === "tar" || method === "tar+rsync");
    }),
    { step: "config", ms: CONFIG_MS, how: "configuration files" },
  ];
  const slowest = estimates.reduce((a, b) => (b.ms > a.ms ? b : a));
  return {
    downtimeMs: Math.round(stopMs + START_MS + slowest.ms),
    basis: { stopMs, copyMs: Math.round(slowest.ms), slowestStep: slowest.step, how: slowest.how },
  };
}

/** The newest forecast journaled before the given time. */
export function latestForecast(records: JournalRecord[], before?: string): Forecast | undefined {
  const f = records.filter((r) => isRecord(r, "forecast") && (!before || r.t <= before)).at(-1);
  return f && isRecord(f, "forecast")
    ? { downtimeMs: f.downtimeMs, basis: f["basis"] as Forecast["basis"] }
    : undefined;
}
