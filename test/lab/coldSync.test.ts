// The downtime only starts when it can finish: without a complete staging copy of each database on
// the target, the cold sync would have to copy it in full with the origin stopped, and a failure
// there would leave the origin stopped for nothing. So it refuses before stopping anything, or
// (when catching up is allowed) first makes the copies with a hot pass while the origin serves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { journal, labForTests, ORIGIN } from "./support.js";

let lab: Lab;

labForTests("t-ready", { scale: 1 }, (l) => (lab = l));

const coldSteps = (): unknown[] =>
  journal(lab).filter((r) => r["phase"] === "cold-sync" && String(r["type"]).startsWith("step"));

test("no hot sync yet and --catch-up-after never: refused before anything is stopped", () => {
  const r = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(
    r.stderr,
    /the downtime has not started: bj, bj-data have no complete staging copy on the target.*\(nothing was stopped\)/,
  );
  assert.match(r.stderr, /run bm-migrate hot-sync first/);
  assert.deepEqual(coldSteps(), [], "no step of the cold sync ran");
  assert.equal(lab.sh("origin", "bmctl status").code, 0, "BlueMind still runs on the origin");
  assert.equal(lab.sh("origin", "service postfix status").code, 0, "postfix too");
});

test("a staging copy that never finished counts as none; with catching up allowed, a hot pass makes it first", () => {
  const hot = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(hot.code, 0, hot.stderr + hot.stdout);
  // As after a copy cut before its end: the staging database is there, its completion mark is not.
  lab.must(
    "target",
    `runuser -u postgres -- psql -Xq -c 'COMMENT ON DATABASE "bj-data.bm-migrate-new" IS NULL'`,
  );
  const refused = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(refused.code, 1, refused.stderr + refused.stdout);
  assert.match(refused.stderr, /the downtime has not started: bj-data has no complete staging copy/);
  assert.deepEqual(coldSteps(), []);
  assert.equal(lab.sh("origin", "bmctl status").code, 0);

  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);
  assert.match(
    cold.stdout + cold.stderr,
    /Catching up before the downtime: no complete staging copy of bj-data/,
  );
  const dbStep = journal(lab).findLast((r) => r["phase"] === "cold-sync" && r["step"] === "database:bj-data");
  assert.equal(
    (dbStep?.["data"] as { mode?: string } | undefined)?.mode,
    "delta",
    "the downtime only brought it up to date",
  );
});
