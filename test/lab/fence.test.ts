// The origin's write fence for the downtime (issue 25, item 7) and the swap refused while a
// service runs on the target (item 5): after the cold sync's stop nothing else commits to the
// origin's databases until the swap or a rollback; a session still open there at the stop is
// ended (its write rolled back) and named; a rollback lifts the fence. The target checked against
// the origin with the lab's own oracle, never with verify.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN, timedBm } from "./support.js";

let lab: Lab;

/** bj's password, from the origin's bm.ini (as BlueMind and any other local writer log in). */
const BJ_PW = `PGPASSWORD="$(awk -F' = ' '/^password/ { gsub(/"/, "", $2); print $2 }' /etc/bm/bm.ini)"`;
const asBj = (sql: string): string =>
  `${BJ_PW} psql -X -q -At -h localhost -U bj -d bj -v ON_ERROR_STOP=1 -c "${sql}"`;

labForTests("fence", { scale: 1 }, (l) => {
  lab = l;
  lab.must("origin", asBj("CREATE TABLE fence_probe (id int PRIMARY KEY, note text)"));
});

const probeRows = (role: "origin" | "target", where: string): string =>
  lab
    .must(
      role,
      role === "origin"
        ? asBj(`SELECT count(*) FROM fence_probe WHERE ${where}`)
        : `runuser -u postgres -- psql -X -At -d bj -c "SELECT count(*) FROM fence_probe WHERE ${where}"`,
    )
    .trim();

void test("the cold sync fences the origin: an open writer is ended and named, later writes refused, verify and the oracle agree", async () => {
  const hot = timedBm(lab, ["hot-sync", ...ORIGIN]);
  assert.equal(hot.code, 0, hot.out);
  // A writer outside BlueMind with a transaction open across the stop (a cron job, an admin's psql).
  lab.must(
    "origin",
    `cat > /var/tmp/fence-writer.sh <<'EOS'
export ${BJ_PW}
psql -X -q -h localhost -U bj -d bj <<'SQL'
BEGIN; INSERT INTO fence_probe VALUES (1, 'open at the stop'); SELECT pg_sleep(600); COMMIT;
SQL
EOS
setsid nohup bash /var/tmp/fence-writer.sh >/var/tmp/fence-writer.log 2>&1 </dev/null &`,
  );
  for (let i = 0; i < 100; i++) {
    const held = lab.must(
      "origin",
      `runuser -u postgres -- psql -X -At -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bj' AND backend_xid IS NOT NULL AND query LIKE '%pg_sleep%'"`,
    );
    if (held.trim() === "1") break;
    await sleep(100);
  }
  const cold = timedBm(lab, ["cold-sync", "--yes", ...ORIGIN]);
  assert.equal(cold.code, 0, cold.out);
  // Its write was rolled back; a new one is refused until the swap or a rollback.
  assert.equal(probeRows("origin", "id = 1"), "0", "the open transaction did not commit");
  const late = lab.sh("origin", asBj("INSERT INTO fence_probe VALUES (2, 'after the stop')"));
  assert.notEqual(late.code, 0, "a write after the fence is refused");
  assert.match(late.stderr, /read-only transaction/);
  assert.equal(probeRows("origin", "true"), "0");

  assert.match(
    cold.out,
    /session\(s\) on its databases after BlueMind's stop, now ended .*pid \d+ \(bj on bj, from [^)]*xid \d+/,
  );
  const fence = journal(lab).findLast((r) => r["step"] === "fence:origin" && r["type"] === "step-done");
  const ended = (fence?.["data"] as { ended?: { pid: number; xid: string }[] } | undefined)?.ended ?? [];
  // What the fence costs the downtime: its step runs after the origin's stop, before the copy.
  process.stdout.write(`# [fence] fence step: ${String(fence?.["durationMs"])} ms after the origin's stop\n`);
  assert.ok(
    ended.some((s) => s.pid > 0 && s.xid !== ""),
    `the writer is named in the journal: ${JSON.stringify(fence)}`,
  );

  const verify = timedBm(lab, ["verify", ...ORIGIN]);
  assert.equal(verify.code, 0, verify.out);
  assert.deepEqual(await compareHosts(lab), [], "the oracle finds the target equal to the origin");
  assert.equal(probeRows("target", "true"), "0");
  // The fence's setting stays on the origin: never carried to the target.
  assert.equal(
    lab
      .must(
        "target",
        `runuser -u postgres -- psql -X -At -c "SELECT count(*) FROM pg_db_role_setting WHERE 'default_transaction_read_only=on' = ANY(setconfig)"`,
      )
      .trim(),
    "0",
  );
  const status = lab.bm(["status"]);
  assert.match(
    status.stdout,
    /the origin's databases are FENCED \(read-only\) since .*: bj, bj-data \(1 session\(s\) connected then were ended\)/,
  );
});

void test("a BlueMind started on the target during the downtime keeps the swap shut, with the reason", () => {
  // Its core alone, idle (as bmctl's stand-in starts it): nothing differs yet, but it could write
  // behind the proof at any moment, so the gate stays shut while it runs.
  lab.must(
    "target",
    `. /etc/default/bm-lab-core; setsid "$LAB_NODE" --import "$LAB_REPO/node_modules/tsx/dist/loader.mjs" "$LAB_REPO/lab/standin/core.ts" >>/var/log/bm-lab-core.log 2>&1 </dev/null & echo $! > /run/bm-core.pid
for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/8090) 2>/dev/null && exit 0; sleep 0.1; done; exit 1`,
  );
  try {
    const verify = timedBm(lab, ["verify", ...ORIGIN]);
    assert.equal(verify.code, 1, verify.out);
    assert.match(
      verify.out,
      /target: BlueMind: runs during the verification .*the swap is refused while it runs/,
    );
    const swap = timedBm(lab, ["swap", "--apply", "--keep-target-ip", ...ORIGIN]);
    assert.equal(swap.code, 1, swap.out);
    assert.match(swap.out, /found \d+ difference/);
  } finally {
    lab.must("target", "bmctl stop >/dev/null 2>&1 || true");
  }
});

void test("rollback lifts the fence: the origin takes writes again", () => {
  const rollback = timedBm(lab, ["rollback", "--yes", ...ORIGIN]);
  assert.equal(rollback.code, 0, rollback.out);
  lab.must("origin", asBj("INSERT INTO fence_probe VALUES (3, 'after the rollback')"));
  assert.equal(probeRows("origin", "id = 3"), "1");
  assert.doesNotMatch(lab.bm(["status"]).stdout, /FENCED/);
});

void test("the swap lifts the fence: the origin kept up (--origin-power keep) has no read-only database left", () => {
  for (const args of [
    ["cold-sync", "--yes"],
    ["verify"],
    ["swap", "--apply", "--keep-target-ip", "--origin-power", "keep"],
  ]) {
    const r = timedBm(lab, [...args, ...ORIGIN]);
    assert.equal(r.code, 0, r.out);
    if (args[0] === "swap") assert.match(r.out, /disabled at boot on the origin, the fence lifted/);
  }
  assert.equal(
    lab
      .must(
        "origin",
        `runuser -u postgres -- psql -X -At -c "SELECT count(*) FROM pg_db_role_setting WHERE 'default_transaction_read_only=on' = ANY(setconfig)"`,
      )
      .trim(),
    "0",
  );
  assert.doesNotMatch(lab.bm(["status"]).stdout, /FENCED/);
});
