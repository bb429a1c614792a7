/**
 * `bm-migrate cold-sync`: the downtime (the phase: src/phases/coldSync.ts).
 */
import type { App } from "../engine/app.js";
import type { PreflightOptions } from "../check/preflight.js";
import { coldSyncPhase } from "../phases/coldSync.js";
import { parsePreflightOptions } from "./check.js";

/** What cold-sync takes: the preflight's flags (--yes, --dry-run are the App's). */
export interface ColdSyncCommandOptions {
  preflight: PreflightOptions;
}

export function parseColdSyncOptions(opts: Record<string, unknown>): ColdSyncCommandOptions {
  return { preflight: parsePreflightOptions(opts) };
}

export function coldSyncCommand(app: App, opts: ColdSyncCommandOptions): Promise<number> {
  return coldSyncPhase(app, opts.preflight);
}
