/**
 * `bm-migrate run`: every phase in order, asking before the downtime and before the swap (the
 * orchestration: src/migration/run.ts). This file parses every phase's flags into one typed
 * object, so that a bad flag of a later phase is reported before the first phase starts.
 */
import type { App } from "../engine/app.js";
import { ConfigError } from "../engine/errors.js";
import { STOP_AFTER_PHASES } from "../engine/records.js";
import { REFRESH_AHEAD_AFTER_MS, runMigration, type RunOptions } from "../migration/run.js";
import { parsePreflightOptions } from "./check.js";
import { parsePostOptions } from "./post.js";
import { parseSwapFlags } from "./swap.js";
import { parseVerifyOptions } from "./verify.js";

/** --refresh-ahead-after in ms (a whole number of seconds; 15 s when absent). */
export function refreshAfterMs(value: unknown): number {
  if (value === undefined) return REFRESH_AHEAD_AFTER_MS;
  if (typeof value !== "string" || !/^\d+$/.test(value))
    throw new ConfigError(
      `--refresh-ahead-after takes a whole number of seconds, not '${JSON.stringify(value)}'`,
      {
        hint: "see bm-migrate run --help",
      },
    );
  return Number(value) * 1000;
}

/** --stop-after, checked (commander's choices check it too; this keeps the type honest). */
function stopAfter(value: unknown): RunOptions["stopAfter"] {
  if (value === undefined) return undefined;
  const phase = STOP_AFTER_PHASES.find((p) => p === value);
  if (!phase)
    throw new ConfigError(
      `--stop-after takes one of ${STOP_AFTER_PHASES.join(", ")}, not '${JSON.stringify(value)}'`,
    );
  return phase;
}

/** run's flags: the preflight's, verify's, swap's (applied, never forced) and post's. */
export function parseRunOptions(opts: Record<string, unknown>): RunOptions {
  const refreshAheadAfterMs = refreshAfterMs(opts["refreshAheadAfter"]);
  const stop = stopAfter(opts["stopAfter"]);
  return {
    preflight: parsePreflightOptions(opts),
    verify: parseVerifyOptions(opts),
    swap: parseSwapFlags({ ...opts, apply: true, force: false }),
    post: parsePostOptions(opts),
    refreshAheadAfterMs,
    ...(stop ? { stopAfter: stop } : {}),
  };
}

export function runCommand(app: App, opts: RunOptions): Promise<number> {
  return runMigration(app, opts);
}
