// The downtime forecast from the last hot pass.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryJournal } from "../../../src/engine/journal.js";
import { forecastFromPass } from "../../../src/phases/forecast.js";

test("the downtime forecast is the stop plus the slowest copy as the cold sync will make it", () => {
  const first = new MemoryJournal();
  const done = (
    j: MemoryJournal,
    pass: string,
    step: string,
    durationMs: number,
    data: Record<string, unknown> = {},
  ) => j.append({ type: "step-done", phase: "hot-sync", pass, step, durationMs, data });
  // A first pass with the change journal: the directories' listed copies cost little, the
  // database's delta is estimated from its size (111 MB at 250 MB/s, plus 300 ms).
  done(first, "h1", "stop-services:target", 80);
  done(first, "h1", "set-aside:/var/spool/cyrus", 30);
  done(first, "h1", "change-journal:start", 900, { watching: true });
  done(first, "h1", "rsync:/var/spool/cyrus", 9000, { files: 83000, method: "tar" });
  done(first, "h1", "database-staging:bj-data", 2700, { mode: "full", originBytes: 111_000_000 });
  let f = forecastFromPass(first.records(), "h1");
  assert.equal(f?.basis.slowestStep, "database:bj-data");
  assert.equal(f?.downtimeMs, 80 + 200 + 300 + 444);

  // The same without a change journal: the full walk of 83,000 entries is the slowest.
  const walk = new MemoryJournal();
  for (const r of first.records()) if (r["step"] !== "change-journal:start") walk.append(r);
  f = forecastFromPass(walk.records(), "h1");
  assert.equal(f?.basis.slowestStep, "rsync:/var/spool/cyrus");
  assert.equal(f?.downtimeMs, 80 + 200 + 1245);

  // A later pass: the delta as timed, the listed copy of about what this pass moved.
  const later = new MemoryJournal();
  done(later, "h2", "stop-services:target", 50);
  done(later, "h2", "change-journal:start", 5, { watching: true });
  done(later, "h2", "rsync:/var/spool/cyrus", 2500, { transferredFiles: 1000, transferredBytes: 5_000_000 });
  done(later, "h2", "database-staging:bj-data", 900, {
    mode: "delta",
    ms: { about: 100, compare: 200, copy: 150, sequences: 20 },
  });
  f = forecastFromPass(later.records(), "h2");
  assert.equal(f?.basis.slowestStep, "rsync:/var/spool/cyrus");
  assert.equal(f?.downtimeMs, 50 + 200 + 400 + 300 + 100);
  assert.match(f?.basis.how ?? "", /listed copy/);
});
