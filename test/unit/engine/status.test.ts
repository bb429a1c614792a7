import { test } from "node:test";
import assert from "node:assert/strict";
import type { JournalRecord } from "../../../src/engine/journal.js";
import { foldJournal, outageOf } from "../../../src/engine/status.js";
import { MemoryJournal } from "../../../src/engine/journal.js";

const at = (s: number): string => new Date(Date.UTC(2026, 11, 4, 22, 0, 0) + s * 1000).toISOString();

/** A cold sync from 0 s (stop 0.3 s) to 1 s, verification 1.2–1.7 s, swap 2–2.4 s, answering at 4 s. */
function journalOfAMigration(): JournalRecord[] {
  return [
    { t: at(0), type: "pass-started", phase: "cold-sync", pass: "c1" },
    { t: at(0), type: "step-started", phase: "cold-sync", pass: "c1", step: "stop-services:origin" },
    {
      t: at(0.3),
      type: "step-done",
      phase: "cold-sync",
      pass: "c1",
      step: "stop-services:origin",
      durationMs: 300,
    },
    { t: at(1), type: "pass-finished", phase: "cold-sync", pass: "c1", durationMs: 1000 },
    {
      t: at(1),
      type: "downtime",
      phase: "cold-sync",
      pass: "c1",
      startedAt: at(0),
      endedAt: at(1),
      ms: 1000,
    },
    { t: at(1.7), type: "verify-result", ok: true, startedAt: at(1.2), durationMs: 500, differences: [] },
    { t: at(2), type: "pass-started", phase: "swap", pass: "s1" },
    { t: at(2.4), type: "step-started", phase: "swap", pass: "s1", step: "start:target" },
    {
      t: at(4.1),
      type: "step-done",
      phase: "swap",
      pass: "s1",
      step: "check:target",
      durationMs: 1500,
      data: { answeringAt: at(4) },
    },
    { t: at(4.2), type: "pass-finished", phase: "swap", pass: "s1", durationMs: 2200 },
  ];
}

void test("outage: from the origin's stop until BlueMind answers, made of stop, copy, verification, swap, start and the gaps", () => {
  const o = outageOf(journalOfAMigration());
  assert.ok(o);
  assert.equal(o.ongoing, false);
  assert.equal(o.ms, 4000);
  assert.equal(o.endedAt, at(4));
  const parts = Object.fromEntries(o.parts.map((p) => [p.name, p.ms]));
  assert.deepEqual(parts, { stop: 300, copy: 700, verification: 500, swap: 400, start: 1600, between: 500 });
  assert.equal(
    o.parts.reduce((a, p) => a + p.ms, 0),
    o.ms,
    "the parts add up to the outage",
  );
  assert.equal(foldJournal(journalOfAMigration()).outage?.ms, 4000);
});

void test("outage: ongoing until the swap's check saw BlueMind answer; none after a rollback", () => {
  const records = journalOfAMigration().slice(0, 6);
  const o = outageOf(records);
  assert.equal(o?.ongoing, true);
  assert.equal(o?.ms, undefined);
  assert.equal(outageOf([...records, { t: at(3), type: "rollback" }]), undefined);
  assert.equal(outageOf([]), undefined);
});

void test("outage in the report: headline card, the table row with its make-up, and its window on the timeline", async () => {
  const { buildReportModel } = await import("../../../src/report/model.js");
  const { renderReport } = await import("../../../src/report/html.js");
  const m = buildReportModel(journalOfAMigration(), { now: Date.parse(at(10)) });
  assert.equal(m.outage?.ms, 4000);
  const html = renderReport(m);
  assert.ok(html.includes('class="outage-window"'));
  assert.ok(html.includes("Outage (origin stopped → BlueMind answering on the target)"));
  assert.match(
    html,
    /stop 300 ms, copy 700 ms, verification 500 ms, swap 400 ms, start 1\.6 s, between commands 500 ms/,
  );
});

test("status tells the next command at each point of the migration", () => {
  const j = new MemoryJournal();
  assert.match(foldJournal(j.records()).next, /bm-migrate check, then bm-migrate hot-sync/);
  j.append({ type: "pass-started", phase: "hot-sync", pass: "h1" });
  assert.match(foldJournal(j.records()).next, /hot-sync \(resumes pass h1\)/);
  j.append({ type: "pass-finished", phase: "hot-sync", pass: "h1", durationMs: 5 });
  assert.match(foldJournal(j.records()).next, /cold-sync when ready/);
  j.append({ type: "pass-started", phase: "cold-sync", pass: "c1" });
  assert.match(foldJournal(j.records()).next, /cold-sync \(resumes pass c1.*rollback/);
  j.append({ type: "rollback" });
  j.append({ type: "pass-abandoned", phase: "cold-sync", pass: "c1" });
  assert.match(foldJournal(j.records()).next, /hot-sync again/);
});

void test("the origin's fence: up from its step's start (a crash after it counts), named by its end, lifted by rollback or swap", () => {
  const base: JournalRecord[] = [
    { t: at(0), type: "pass-started", phase: "cold-sync", pass: "c1" },
    { t: at(1), type: "step-started", phase: "cold-sync", pass: "c1", step: "fence:origin" },
  ];
  assert.deepEqual(foldJournal(base).fence, { since: at(1), databases: [], ended: 0 }, "a crash mid-fence");
  const done: JournalRecord[] = [
    ...base,
    {
      t: at(1.2),
      type: "step-done",
      phase: "cold-sync",
      pass: "c1",
      step: "fence:origin",
      data: { databases: ["bj", "bj-data"], ended: [{ pid: 42 }] },
    },
  ];
  assert.deepEqual(foldJournal(done).fence, { since: at(1), databases: ["bj", "bj-data"], ended: 1 });
  for (const step of ["rollback:origin", "origin:disable"])
    assert.equal(
      foldJournal([
        ...done,
        { t: at(5), type: "pass-started", phase: "rollback", pass: "r1" },
        {
          t: at(6),
          type: "step-done",
          phase: "rollback",
          pass: "r1",
          step,
          data: { fenceLifted: ["bj", "bj-data", "keycloak"] },
        },
      ]).fence,
      undefined,
      `lifted by ${step}`,
    );
  assert.ok(
    foldJournal([
      ...done,
      { t: at(6), type: "step-done", phase: "swap", pass: "s1", step: "origin:disable", data: {} },
    ]).fence,
    "a swap that could not lift it leaves it shown",
  );
});
