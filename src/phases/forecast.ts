/**
 * The downtime forecast: after each hot pass, how long the cold sync should take, from what the
 * pass itself measured. The cold sync stops the services, then runs its copies at once, so the
 * forecast is the stop plus the slowest of the copies as this pass timed them (the final pass walks
 * the same trees and moves at most what is left; the databases take their delta time).
 */
import type { JournalRecord } from "../engine/journal.js";

export interface Forecast {
  downtimeMs: number;
  basis: { stopMs: number; copyMs: number; slowestStep: string };
}

/** Time to make sure PostgreSQL runs and to open the copies: measured as a few round trips. */
const FIXED_MS = 1500;

export function forecastFromPass(records: JournalRecord[], pass: string): Forecast | undefined {
  const done = records.filter(
    (r) => r.pass === pass && r.type === "step-done" && typeof r["durationMs"] === "number",
  );
  if (!done.length) return undefined;
  const ms = (r: JournalRecord): number => Number(r["durationMs"]);
  const stops = done.filter((r) => r.step?.startsWith("stop-services:"));
  const copies = done.filter((r) => r.step?.startsWith("rsync:") || r.step?.startsWith("database-staging:"));
  if (!copies.length) return undefined;
  const slowest = copies.reduce((a, b) => (ms(b) > ms(a) ? b : a));
  const stopMs = stops.length ? Math.max(...stops.map(ms)) : 0;
  return {
    downtimeMs: stopMs + FIXED_MS + ms(slowest),
    basis: { stopMs, copyMs: ms(slowest), slowestStep: slowest.step ?? "" },
  };
}

/** The newest forecast journaled before the given time. */
export function latestForecast(records: JournalRecord[], before?: string): Forecast | undefined {
  const f = records.filter((r) => r.type === "forecast" && (!before || r.t <= before)).at(-1);
  return f ? { downtimeMs: Number(f["downtimeMs"]), basis: f["basis"] as Forecast["basis"] } : undefined;
}
