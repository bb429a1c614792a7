// When the cold sync first catches up with a hot pass, while the origin still serves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { catchUpReason } from "../../../src/phases/coldSync.js";

const T0 = Date.parse("2026-11-27T10:00:00Z");
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();
const hotPass = (pass: string, start: number, end?: number) => [
  { t: at(start), type: "pass-started", phase: "hot-sync", pass },
  ...(end === undefined ? [] : [{ t: at(end), type: "pass-finished", phase: "hot-sync", pass }]),
];

test("the cold sync catches up when the last hot pass is old or unfinished, and not otherwise", () => {
  const records = [...hotPass("h1", 0, 100), ...hotPass("h2", 200, 230)];
  assert.equal(catchUpReason(records, T0 + 250_000, 60), undefined, "20 s after the last hot pass");
  assert.equal(
    catchUpReason(records, T0 + 3_830_000, 60),
    "the last hot sync ended 1 h 0 min ago (more than 1 min 0 s)",
  );
  assert.equal(catchUpReason(records, T0 + 3_830_000, null), undefined, "catch-up-after = never");
  assert.match(catchUpReason(records, T0 + 231_000, 0) ?? "", /ended .* ago/, "0: always");
  assert.match(
    catchUpReason([...records, ...hotPass("h3", 300)], T0 + 310_000, 60) ?? "",
    /the last hot sync pass \(h3\) did not finish/,
  );
  assert.equal(catchUpReason([], T0, 60), undefined, "no hot sync at all: nothing to catch up");
  // Only hot passes count: a cold pass of its own is not a catch-up.
  const cold = [{ t: at(240), type: "pass-started", phase: "cold-sync", pass: "c1" }];
  assert.equal(catchUpReason([...records, ...cold], T0 + 250_000, 60), undefined);
});
