// The plan runner with fakes: stages, resume, dependencies between steps, and waiting for the
// journal on disk.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryJournal } from "../../../src/engine/journal.js";
import { runPlan, unfinishedPass } from "../../../src/engine/runner.js";
import { step } from "../../support/plan.js";
import { RecordingSink } from "../../../src/engine/events.js";
import type { Plan, Step } from "../../../src/engine/plan.js";
import { foldJournal } from "../../../src/engine/status.js";
import { StepFailed } from "../../../src/engine/errors.js";

const opts = (journal: MemoryJournal) => ({
  journal,
  events: new RecordingSink(),
  signal: new AbortController().signal,
  runId: "r1",
});

test("a failed stage stops the plan; the resumed pass skips what is done and re-runs the rest", async () => {
  const journal = new MemoryJournal();
  const log: string[] = [];
  const broken: Plan = {
    phase: "cold-sync",
    stages: [
      { name: "one", steps: [step("a", log), step("b", log)] },
      { name: "two", steps: [step("c", log, true), step("d", log)] },
      { name: "three", steps: [step("e", log)] },
    ],
  };
  await assert.rejects(
    runPlan(broken, { ...opts(journal), pass: "p1" }),
    (e: unknown) => e instanceof StepFailed && e.stepId === "c",
  );
  assert.deepEqual(
    log.sort(),
    ["a", "b", "c", "d"],
    "the failing stage's siblings still ran; the next stage did not",
  );
  assert.equal(unfinishedPass(journal.records(), "cold-sync"), "p1");

  const fixed: Plan = {
    ...broken,
    stages: broken.stages.map((s) => ({
      ...s,
      steps: s.steps.map((x) => (x.id === "c" ? step("c", log) : x)),
    })),
  };
  log.length = 0;
  const out = await runPlan(fixed, { ...opts(journal), pass: "p1", resume: true });
  assert.deepEqual(log.sort(), ["c", "e"], "only the failed and the never-run steps run again");
  assert.equal(out.results["a"]?.skipped, true);
  assert.equal(unfinishedPass(journal.records(), "cold-sync"), undefined);
  const st = foldJournal(journal.records());
  assert.equal(st.passes[0]?.state, "finished");
  assert.match(st.next, /bm-migrate verify/);
});

test("a step that waits for an earlier one of its stage starts after it, and not at all when it failed", async () => {
  const order: string[] = [];
  // db ends once rsync has ended (or after 2 s, which then shows in the order): no race with the
  // machine's load, and rsync cannot have waited for db.
  let rsyncEnded: () => void = () => {};
  const slow = (id: string, ms: number, fail = false): Step => ({
    ...step(id, []),
    async run() {
      order.push(`${id} start`);
      if (id === "db")
        await Promise.race([
          new Promise<void>((r) => (rsyncEnded = r)),
          new Promise((r) => setTimeout(r, 2000)),
        ]);
      else await new Promise((r) => setTimeout(r, ms));
      order.push(`${id} end`);
      if (id === "rsync") rsyncEnded();
      if (fail) throw new Error(`${id} broke`);
      return { summary: `${id} ok` };
    },
  });
  const plan = (fail: boolean): Plan => ({
    phase: "hot-sync",
    stages: [
      {
        name: "copy",
        steps: [slow("journal", 30, fail), slow("db", 50), { ...slow("rsync", 1), waitFor: ["journal"] }],
      },
    ],
  });
  await runPlan(plan(false), { ...opts(new MemoryJournal()), pass: "p1" });
  assert.deepEqual(order, ["journal start", "db start", "journal end", "rsync start", "rsync end", "db end"]);

  order.length = 0;
  await assert.rejects(
    runPlan(plan(true), { ...opts(new MemoryJournal()), pass: "p2" }),
    (e: unknown) => e instanceof StepFailed && e.stepId === "journal",
  );
  assert.ok(!order.includes("rsync start"), "the waiting step did not run");
  assert.ok(order.includes("db end"), "the other steps of the stage did");

  // Done in an earlier run (skipped) counts as ended.
  const journal = new MemoryJournal();
  journal.append({ type: "step-done", pass: "p3", step: "journal", summary: "ok" });
  order.length = 0;
  await runPlan(plan(false), { ...opts(journal), pass: "p3", resume: true });
  assert.deepEqual(order.slice(0, 2), ["db start", "rsync start"]);

  // Only earlier steps of the same stage can be waited for (no step can hold a slot forever).
  const backwards: Plan = {
    phase: "hot-sync",
    stages: [{ name: "copy", steps: [{ ...slow("rsync", 1), waitFor: ["journal"] }, slow("journal", 1)] }],
  };
  await assert.rejects(
    runPlan(backwards, { ...opts(new MemoryJournal()), pass: "p4" }),
    /not an earlier step/,
  );
});

test("the runner waits for the journal's records on disk at the end of each stage and of the pass", async () => {
  class FlushSpy extends MemoryJournal {
    marks: string[] = [];
    override append(r: Parameters<MemoryJournal["append"]>[0]): void {
      this.marks.push(`${String(r.type)}${typeof r.step === "string" ? `:${r.step}` : ""}`);
      super.append(r);
    }
    override flush(): Promise<void> {
      this.marks.push("flush");
      return super.flush();
    }
  }
  const journal = new FlushSpy();
  const log: string[] = [];
  const plan: Plan = {
    phase: "cold-sync",
    stages: [
      { name: "stop", steps: [step("a", log)] },
      { name: "copy", steps: [step("b", log)] },
    ],
  };
  await runPlan(plan, { ...opts(journal), pass: "p" });
  assert.deepEqual(journal.marks, [
    "pass-started",
    "step-started:a",
    "step-done:a",
    "flush",
    "step-started:b",
    "step-done:b",
    "flush",
    "pass-finished",
    "flush",
  ]);
});
