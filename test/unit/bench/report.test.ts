// The benchmark report's account of where bm-migrate's downtime went: medians of the journaled
// steps per scale, the service stop apart from the copies that run side by side.
import { test } from "node:test";
import assert from "node:assert/strict";
import { downtimeStepLines, type BenchResult, type SideRun } from "../../../bench/report.js";

const run = (stepMs: Record<string, number>): SideRun => ({
  side: "bm-migrate",
  lab: "b",
  notes: [],
  cold: { wallMs: 1, movedFiles: 0, movedBytes: 0, stepMs },
});

test("the report names the service stop and the slowest copies, as medians per scale", () => {
  const result: BenchResult = {
    startedAt: "",
    finishedAt: "",
    host: { cpus: 2, loadAverageAtStart: [], loadAverageAtEnd: [] },
    options: { scales: [5], repeat: 3, changes: 200, seed: 42 },
    scales: [100, 300, 200].map((db, i) => ({
      scale: 5,
      repetition: i,
      first: "bm-migrate",
      originFiles: 1,
      originRows: 1,
      runs: [
        run({
          "stop-services:origin": 150 + i,
          "stop-services:target": 40,
          "database:bj-data": db,
          "rsync:/var/spool/cyrus": 250,
          config: 90,
          "database:bj": 10,
          "change-journal:stop": 3,
        }),
      ],
    })),
  };
  assert.deepEqual(downtimeStepLines(result), [
    "",
    "Where bm-migrate's downtime went (medians of the journaled steps):",
    "- scale 5: stopping the services 151 ms, then the slowest copies: rsync:/var/spool/cyrus 250 ms, database:bj-data 200 ms, config 90 ms",
  ]);
});
