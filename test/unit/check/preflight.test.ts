// The preflight as a plan (src/check/preflight.ts): a step per host gathered and one evaluation,
// the same plan printed by `plan --phase check` and run inline by the copying phases.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Host } from "../../../src/adapters/host.js";
import type { ProcessResult } from "../../../src/adapters/process.js";
import type { App } from "../../../src/engine/app.js";
import { FileJournal } from "../../../src/engine/journal.js";
import { planSteps } from "../../../src/engine/plan.js";
import { runPlan } from "../../../src/engine/runner.js";
import type { Event } from "../../../src/engine/events.js";
import {
  preflightPlan,
  preflightResult,
  runPreflight,
  type PreflightState,
} from "../../../src/check/preflight.js";

/** A host where every probe fails: the preflight still reports, from what it could not read. */
function silentHost(role: "origin" | "target"): Host {
  const failed = (command: string): Promise<ProcessResult> =>
    Promise.resolve({
      command,
      exitCode: 1,
      signal: null,
      timedOut: false,
      durationMs: 0,
      stdout: "",
      stderr: "not here",
    });
  return {
    role,
    label: role,
    run: (argv) => failed(argv.join(" ")),
    sh: (script) => failed(script.slice(0, 20)),
  };
}

function fakeApp(): { app: App; journal: FileJournal; events: Event[] } {
  const stateDir = mkdtempSync(join(tmpdir(), "bm-preflight-"));
  const journal = new FileJournal(stateDir);
  const events: Event[] = [];
  const app = {
    command: "check",
    settings: { stateDir, origin: { user: "root", host: "bm-origin" } },
    flags: {},
    events: { emit: (e: Event) => events.push(e) },
    journal,
    runId: "run-1",
    signal: new AbortController().signal,
    logCommand: () => undefined,
  } as unknown as App;
  return { app, journal, events };
}

const unreachable = {
  target: silentHost("target"),
  unreachable: {
    destination: "root@bm-origin",
    kind: "connection-refused" as const,
    sshMessage: "Connection refused",
  },
};

test("the plan: one step per host gathered, at the same time, then the evaluation; stable ids", () => {
  const { app } = fakeApp();
  const plan = preflightPlan(app, unreachable, { skip: [], forceOverwriteTarget: false }, {});
  assert.equal(plan.phase, "check");
  assert.deepEqual(
    plan.stages.map((s) => s.steps.map((x) => x.id)),
    [["probe:origin", "probe:target"], ["check"]],
  );
  assert.deepEqual(
    planSteps(plan).map((s) => s.host),
    ["origin", "target", "target"],
  );
  assert.match(JSON.stringify(plan.stages[0]!.steps[1]!.commands), new RegExp(app.settings.stateDir));
  assert.throws(
    () => preflightPlan(app, unreachable, { skip: ["nope"], forceOverwriteTarget: false }, {}),
    /--skip-check: unknown check id/,
  );
});

test("check runs the plan through the runner: a pass of phase check, the check record, blockers found", async () => {
  const { app, journal } = fakeApp();
  const state: PreflightState = {};
  const plan = preflightPlan(app, unreachable, { skip: [], forceOverwriteTarget: false }, state);
  await runPlan(plan, { journal, events: app.events, signal: app.signal, runId: app.runId });
  const result = preflightResult(state);
  assert.ok(
    result.findings.some((f) => f.severity === "blocker"),
    "the unreachable origin blocks",
  );
  const records = journal.records();
  assert.deepEqual(
    records.filter((r) => r.type === "step-done").map((r) => r.step),
    ["probe:origin", "probe:target", "check"],
  );
  assert.ok(records.some((r) => r.type === "pass-started" && r.phase === "check"));
  const check = records.find((r) => r.type === "check");
  assert.equal(check?.["origin"], "root@bm-origin");
  assert.equal(check?.["command"], "check");
});

test("the copying phases run the same steps inline: only the check record is journaled", async () => {
  const { app, journal } = fakeApp();
  const result = await runPreflight(app, unreachable, { skip: [], forceOverwriteTarget: false });
  assert.ok(result.findings.length > 0);
  assert.deepEqual(
    journal.records().map((r) => r.type),
    ["check"],
  );
});
