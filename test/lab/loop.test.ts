// A difference the verification ahead found is copied again before the downtime (issue 25, item
// 10), not only re-checked: a target file with the origin's path, size and mtime but other content
// (rsync's quick check keeps it, the change journal never lists it) no longer fails the downtime's
// verification of every cold sync. Checked with the lab's own oracle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN, timedBm } from "./support.js";

let lab: Lab;

labForTests("loop", { scale: 1 }, (l) => (lab = l));

void test("run: what differed ahead is copied again before the downtime, and the downtime's verification passes", async () => {
  const hot = timedBm(lab, ["hot-sync", ...ORIGIN]);
  assert.equal(hot.code, 0, hot.out);
  // Behind bm-migrate's back, on the target: the same size and mtime, another first byte.
  const file = lab.must("target", "find /var/spool/bm-docs -type f -size +1 | sort | head -1").trim();
  assert.ok(file, "a document to spoil");
  lab.must(
    "target",
    `m=$(stat -c %Y '${file}'); b=$(head -c1 '${file}'); if [ "$b" = X ]; then c=Y; else c=X; fi
printf %s "$c" | dd of='${file}' bs=1 count=1 conv=notrunc status=none; touch -d "@$m" '${file}'`,
  );
  assert.notDeepEqual(await compareHosts(lab), [], "the oracle sees the spoiled file");
  const run = timedBm(lab, ["run", ...ORIGIN, "--yes", "--stop-after", "verify"]);
  assert.equal(run.code, 0, run.out);
  assert.match(
    run.out,
    /Copied again, before the downtime, the \d+ path\(s\) the verification ahead found different/,
  );
  const ahead = journal(lab).findLast((r) => r["type"] === "verify-ahead");
  assert.ok(
    JSON.stringify(ahead?.["files"]).includes(file.slice("/var/spool/bm-docs/".length)),
    "the ahead found the spoiled file",
  );
  const v = journal(lab).findLast((r) => r["type"] === "verify-result");
  assert.equal(v?.["ok"], true, JSON.stringify(v));
  assert.equal(v?.["scope"], "changed", "the downtime's own verification, from the ahead");
  assert.deepEqual(await compareHosts(lab), [], "the oracle finds the target equal to the origin");
});
