/**
 * The rollback (`bm-migrate rollback`): before the swap, give the service back to the origin. Its
 * plan (one step, `rollback:origin`) restarts the origin's PostgreSQL, postfix and BlueMind through
 * the runner (phase `rollback`); then any open cold-sync pass is closed, the change journal is
 * stopped, and the command says what the target holds now and where its own earlier content was
 * kept. The origin's data was never changed, so nothing there needs undoing.
 */
import { existsSync, readdirSync } from "node:fs";
import type { App } from "../engine/app.js";
import type { Host } from "../adapters/host.js";
import { ConfigError, ExitCode, StepFailed } from "../engine/errors.js";
import { foldJournal, lastPass } from "../engine/status.js";
import type { Plan } from "../engine/plan.js";
import { connect } from "./connect.js";
import { ensurePostgresScript, startBlueMindScript } from "../bluemind/services.js";
import { describeServiceState, readServiceState } from "../bluemind/serviceState.js";
import { sleep } from "../engine/sleep.js";
import { failure } from "../adapters/process.js";
import { newPassId, runPhase, unfinishedPass } from "../engine/runner.js";
import { stopWatcher } from "../adapters/watcher.js";
import { statePaths } from "../engine/paths.js";
import { FENCE_LIFTED } from "../engine/records.js";
import { FENCEABLE, liftFence } from "./fenceSteps.js";

/** What `plan` says beside the rollback's steps. */
export const ROLLBACK_NOTES = [
  "An open cold-sync pass is marked abandoned in the journal; the target's BlueMind stays stopped.",
  "Refused once the swap is done.",
];

/** The rollback's plan: the origin's fence lifted, its services restarted, and proven running. */
export function rollbackPlan(origin: () => Promise<Host>, fenced: readonly string[] = []): Plan {
  const lift = [...new Set([...FENCEABLE, ...fenced])];
  return {
    phase: "rollback",
    stages: [
      {
        name: "Give the service back to the origin",
        steps: [
          {
            id: "rollback:origin",
            title: "Restart PostgreSQL, postfix and BlueMind on the origin",
            host: "origin",
            commands: [
              "service postgresql status || service postgresql start",
              `ALTER DATABASE <each of ${lift.join(", ")} there> RESET default_transaction_read_only  (the cold sync's fence, as postgres)`,
              "service postfix start; bmctl start",
            ],
            run: async ({ signal }) => {
              const host = await origin();
              const started = async (script: string): Promise<void> => {
                const r = await host.sh(script, { signal, timeoutMs: 15 * 60_000 });
                if (r.exitCode !== 0) {
                  throw new StepFailed("rollback:origin", failure(host.label, r).message, {
                    hint: "start BlueMind on the origin by hand (service postfix start; bmctl start)",
                  });
                }
              };
              await started(ensurePostgresScript);
              // Before BlueMind starts: its writes must be accepted again.
              await liftFence(host, lift, signal);
              await started(startBlueMindScript);
              // bmctl's exit code does not say BlueMind runs: wait until the system says so (bounded).
              let state = await readServiceState(host, signal);
              for (let waited = 0; state.bluemind !== "running" && waited < 120_000; waited += 1000) {
                if (!(await sleep(1000, signal))) break;
                state = await readServiceState(host, signal);
              }
              if (state.bluemind !== "running" || state.postfix !== "running")
                throw new StepFailed(
                  "rollback:origin",
                  `on the origin after the restart: ${describeServiceState(state)}`,
                  {
                    hint: "look at /var/log/bm/core.log on the origin and start BlueMind by hand (service postfix start; bmctl start)",
                  },
                );
              return {
                summary: "the fence lifted, BlueMind runs on the origin again",
                data: { [FENCE_LIFTED]: lift },
              };
            },
          },
        ],
      },
    ],
  };
}

/** The rollback phase: refused after the swap, asks first (yes with --yes). */
export async function rollbackPhase(app: App): Promise<number> {
  const records = app.journal.records();
  const st = foldJournal(records);
  if (st.swappedAt)
    throw new ConfigError(
      `the swap was done at ${st.swappedAt}: the target now holds the origin's place and rollback no longer applies`,
      {
        hint: "to go back, reverse the swap by hand (give the origin its address back and start it)",
      },
    );
  if (!app.flags.yes) {
    if (!app.interactive)
      throw new ConfigError("rollback restarts BlueMind on the origin and needs confirmation", {
        hint: "add --yes",
      });
    if (!(await app.confirm("Restart BlueMind on the origin and abandon the cold sync?"))) return ExitCode.ok;
  }
  app.lock.acquire("bm-migrate rollback");
  try {
    const hosts = await connect(app);
    try {
      await runPhase(
        app,
        rollbackPlan(() => Promise.resolve(hosts.origin), st.fence?.databases),
        newPassId(),
        false,
        {
          origin: hosts.ssh.destination,
        },
      );
      const open = unfinishedPass(records, "cold-sync");
      const cold = lastPass(st, "cold-sync");
      for (const pass of new Set([open, cold?.pass].filter((p): p is string => Boolean(p)))) {
        app.journal.append({ type: "pass-abandoned", run: app.runId, phase: "cold-sync", pass });
      }
      // A later hot sync starts a fresh change journal: this one would miss the origin's writes.
      const watcher = stopWatcher(app.settings.stateDir);
      app.journal.append({
        type: "rollback",
        run: app.runId,
        origin: hosts.ssh.destination,
        ...(watcher ? { changeJournalStopped: watcher.id } : {}),
      });
    } finally {
      await hosts.ssh.close();
    }
    app.print(describeTarget(app, st));
    return ExitCode.ok;
  } finally {
    app.lock.release();
  }
}

function describeTarget(app: App, st: ReturnType<typeof foldJournal>): string {
  const lines = ["The origin serves again. The target now holds:"];
  const synced = new Map<string, string>();
  for (const p of st.passes)
    for (const s of p.steps)
      if (s.state === "done" && s.id.startsWith("rsync:"))
        synced.set(s.id.slice(6), p.endedAt ?? p.startedAt);
  lines.push(
    synced.size
      ? `  - data directories copied (last at): ${[...synced].map(([d, t]) => `${d} (${t.slice(11, 19)})`).join(", ")}`
      : "  - no data directory copied yet",
  );
  const cold = lastPass(st, "cold-sync");
  const dbs =
    cold?.steps.filter((s) => s.id.startsWith("database:") && s.state === "done").map((s) => s.id.slice(9)) ??
    [];
  lines.push(
    dbs.length
      ? `  - the origin's databases as of the cold sync: ${dbs.join(", ")} (replaced the target's own)`
      : "  - its own databases (none replaced)",
  );
  const aside = statePaths(app.settings.stateDir).setAsideRoot;
  if (existsSync(aside)) lines.push(`  - its fresh install's own data-directory content, kept in ${aside}`);
  const before = statePaths(app.settings.stateDir).configBeforeRoot;
  if (existsSync(before) && readdirSync(before).length)
    lines.push(`  - its own configuration files that were replaced, kept in ${before}/<pass>/`);
  if (cold?.steps.some((s) => s.id === "postfix-queue:origin" && s.state === "done"))
    lines.push(
      "  - a copy of the mail queued on the origin at the cold sync (in /var/spool/postfix): the origin delivers it now; do not start postfix on the target before the next cold sync replaces that copy",
    );
  lines.push(
    "Its BlueMind and postfix stay stopped. Run bm-migrate hot-sync to go on later; the next cold sync starts afresh.",
  );
  return lines.join("\n");
}
