/** Steps for tests of the engine: each logs its id when it runs, and fails when asked. */
import type { Step } from "../../src/engine/plan.js";

/** A step on the target that pushes its id to `log`, then succeeds, or fails when `fail`. */
export function step(id: string, log: string[], fail = false): Step {
  return {
    id,
    title: `step ${id}`,
    host: "target",
    commands: [`do ${id}`],
    run() {
      log.push(id);
      if (fail) return Promise.reject(new Error(`${id} broke`));
      return Promise.resolve({ summary: `${id} ok`, data: { n: 1 } });
    },
  };
}
