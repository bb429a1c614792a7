/**
 * `bm-migrate cold-sync`: the downtime (the phase: src/phases/coldSync.ts).
 */
import type { App } from "../engine/app.js";
import type { PreflightOptions } from "../check/preflight.js";
import { coldSyncPhase, type ColdSyncOptions } from "../phases/coldSync.js";

export function coldSyncCommand(
  app: App,
  preflight: PreflightOptions,
  opts: ColdSyncOptions = {},
): Promise<number> {
  return coldSyncPhase(app, preflight, opts);
}
