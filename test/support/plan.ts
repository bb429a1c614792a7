/** Steps and plans for tests of the engine: steps log their id when they run, and fail when asked. */
import { shellQuote } from "../../src/adapters/process.js";
import { rsyncArgs } from "../../src/adapters/rsync.js";
import { SshConnection } from "../../src/adapters/ssh.js";
import type { Plan, Step } from "../../src/engine/plan.js";
import { tempDir } from "./tmp.js";

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

/** A hot-sync plan of three stages (stop, two rsyncs at most one at a time, a database); never run. */
export function fakePlan(): Plan {
  const ssh = connection();
  const rsync = (d: string) => ["rsync", ...rsyncArgs({ ssh, source: d, dest: d })].map(shellQuote).join(" ");
  const step = (id: string, host: "origin" | "target" | "both", commands: string[]) => ({
    id,
    title: `title of ${id}`,
    host,
    commands,
    run: () => Promise.reject(new Error("a plan is not run in these tests")),
  });
  return {
    phase: "hot-sync",
    stages: [
      { name: "Stop", steps: [step("stop-services:target", "target", ["bmctl stop"])] },
      {
        name: "Copy",
        maxParallel: 1,
        steps: [step("rsync:/a", "target", [rsync("/a")]), step("rsync:/b", "target", [rsync("/b")])],
      },
      { name: "Databases", steps: [step("database:bj", "both", ["pg_dump bj | psql"])] },
    ],
  };
}

/** An SSH connection to root@bm-origin (on `port` if given), its socket in a new directory. */
export function connection(port?: number): SshConnection {
  return new SshConnection(
    { user: "root", host: "bm-origin", ...(port ? { port } : {}) },
    { socketDir: tempDir("bm-plan-") },
  );
}
