/**
 * `bm-migrate hot-sync`: copy the data directories while the origin keeps serving (the phase:
 * src/phases/hotSync.ts).
 */
import type { App } from "../engine/app.js";
import type { PreflightOptions } from "../check/preflight.js";
import { hotSyncPhase } from "../phases/hotSync.js";
import { parsePreflightOptions } from "./check.js";

/** What hot-sync takes: the preflight's flags (--dry-run is the App's). */
export interface HotSyncOptions {
  preflight: PreflightOptions;
}

export function parseHotSyncOptions(opts: Record<string, unknown>): HotSyncOptions {
  return { preflight: parsePreflightOptions(opts) };
}

export function hotSyncCommand(app: App, opts: HotSyncOptions): Promise<number> {
  return hotSyncPhase(app, opts.preflight);
}
