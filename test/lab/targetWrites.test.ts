// Changes made on the target after the verification ahead (its own BlueMind, a cron job, an
// administrator: nothing the origin's change journal can see) are re-checked in the downtime
// (issue 25, item 5): the swap is refused with the path, never done over a target that differs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN, timedBm } from "./support.js";

let lab: Lab;

labForTests("twrite", { scale: 1 }, (l) => (lab = l));

void test("run: a target file changed after the ahead (same size and mtime) fails the downtime's verification, naming it", async () => {
  const hot = timedBm(lab, ["hot-sync", ...ORIGIN]);
  assert.equal(hot.code, 0, hot.out);
  const file = lab.must("target", "find /var/spool/bm-docs -type f -size +1 | sort | tail -1").trim();
  assert.ok(file, "a document to change");
  // Once the ahead is journaled: the file changed in place, its size and mtime kept.
  lab.must(
    "target",
    `cat > /var/tmp/twrite.sh <<'EOS'
for i in $(seq 1 1200); do grep -q '"verify-ahead"' /var/lib/bm-migrate/journal.jsonl 2>/dev/null && break; sleep 0.1; done
f='${file}'; m=$(stat -c %Y "$f"); b=$(head -c1 "$f"); if [ "$b" = X ]; then c=Y; else c=X; fi
printf %s "$c" | dd of="$f" bs=1 count=1 conv=notrunc status=none; touch -d "@$m" "$f"; echo done
EOS
setsid nohup bash /var/tmp/twrite.sh >/var/tmp/twrite.log 2>&1 </dev/null &`,
  );
  const run = timedBm(lab, ["run", ...ORIGIN, "--yes", "--stop-after", "verify"]);
  assert.equal(
    lab.must("target", "cat /var/tmp/twrite.log").trim(),
    "done",
    "the file was changed after the ahead",
  );
  const differs = (await compareHosts(lab)).filter((d) => d.includes(file));
  assert.ok(differs.length, "the oracle sees the change");
  // The invariant: the swap refused with the reason, since the target differs.
  assert.equal(run.code, 1, run.out);
  assert.ok(run.out.includes(`${file}: content differs`), run.out);
  const v = journal(lab).findLast((r) => r["type"] === "verify-result");
  assert.equal(v?.["ok"], false);
  assert.equal(v?.["scope"], "changed", "the downtime's own verification, from the ahead");
});
