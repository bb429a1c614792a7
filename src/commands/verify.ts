/**
 * `bm-migrate verify`: shows that the target holds what the origin holds, without moving the data
 * (the phase itself: src/verify/run.ts). This file parses the flags and calls it.
 */
import type { App } from "../engine/app.js";
import { ConfigError } from "../engine/errors.js";
import { verifyPhase, type VerifyOptions } from "../verify/run.js";

/** `--sample 10%` or `--sample 10`: a percentage in (0, 100]. */
export function parseSample(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === "string" || typeof value === "number" ? String(value) : "";
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!(n > 0 && n <= 100))
    throw new ConfigError(`--sample takes a percentage between 0 and 100, such as 10%, not '${text}'`);
  return n;
}

/** verify's flags as the phase takes them. */
export function parseVerifyOptions(opts: Record<string, unknown>): VerifyOptions {
  const samplePercent = parseSample(opts["sample"]);
  return samplePercent !== undefined ? { samplePercent } : {};
}

export function verifyCommand(app: App, opts: VerifyOptions): Promise<number> {
  return verifyPhase(app, opts, "full");
}
