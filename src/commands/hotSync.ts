/**
 * `bm-migrate hot-sync`: copy the data directories while the origin keeps serving (the phase:
 * src/phases/hotSync.ts).
 */
import type { App } from "../engine/app.js";
import type { PreflightOptions } from "../check/preflight.js";
import { hotSyncPhase } from "../phases/hotSync.js";

export function hotSyncCommand(app: App, preflight: PreflightOptions): Promise<number> {
  return hotSyncPhase(app, preflight);
}
