/**
 * `bm-migrate rollback`: before the swap, give the service back to the origin (the phase:
 * src/phases/rollback.ts, run through the plan runner as phase `rollback`).
 */
import type { App } from "../engine/app.js";
import { rollbackPhase } from "../phases/rollback.js";

export function rollbackCommand(app: App): Promise<number> {
  return rollbackPhase(app);
}
