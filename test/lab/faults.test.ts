// Faults the migration must survive, in the lab, driven only through bin/bm-migrate: the network
// between the hosts cut during an rsync and during the dump, the origin's PostgreSQL shut down during
// the dump, the target's filesystem full, the origin's PostgreSQL stopped or refusing bj's password, and kill -9 of the tool during the cold
// sync's service stop, database delta and configuration copy, and during verify. Each fault ends
// with a clear message naming the origin and the step; the re-run completes, and the target ends
// identical to the origin.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { Lab } from "../../lab/lab.js";
import {
  compareHosts,
  differences,
  journal,
  jsonLines,
  labForTests,
  manifest,
  ORIGIN,
  waitForJournal,
} from "./support.js";

/** A cut must end the run within this (SSH notices a dead peer after 5 s × 3). */
const CUT_DEADLINE_MS = 60_000;
const BJ_DATA = `PGPASSWORD=bj psql -q -h localhost -U bj -d bj-data`;
const STAGING = "bj-data.bm-migrate-new";
let lab: Lab;

labForTests(
  "f1",
  { scale: 1 },
  (l) => {
    lab = l;
    // Enough rows for the dump and the delta to be caught in the middle.
    lab.must(
      "origin",
      `${BJ_DATA} -c "CREATE TABLE t_bulk (i int PRIMARY KEY, h text); INSERT INTO t_bulk SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, 300000) i"`,
    );
  },
  () => {
    if (lab?.env) link("up");
  },
);

function link(state: "up" | "down"): void {
  const r = spawnSync("ip", ["-n", lab.env.LAB_LAN_NS, "link", "set", "origin", state], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Start bm-migrate on the target; `done` settles with its exit code and output. */
function start(args: string[]): {
  child: ReturnType<Lab["bmSpawn"]>;
  stdout: () => string;
  done: Promise<Finished>;
} {
  const child = lab.bmSpawn(args);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Finished>((res) => child.on("close", (code) => res({ code, stdout, stderr })));
  return { child, stdout: () => stdout, done };
}

/** Run, cut the network once `ready` resolves, and measure how long the run takes to fail. */
async function cutDuring(
  t: TestContext,
  args: string[],
  ready: () => Promise<void>,
): Promise<Finished & { ms: number }> {
  const run = start(args);
  try {
    await ready();
    link("down");
    const t0 = Date.now();
    const hung = sleep(CUT_DEADLINE_MS + 30_000).then(() => undefined);
    const r = await Promise.race([run.done, hung]);
    const ms = Date.now() - t0;
    if (!r) {
      run.child.kill("SIGKILL");
      assert.fail(`still running ${ms} ms after the cut: the run hangs`);
    }
    t.diagnostic(`failed ${(ms / 1000).toFixed(1)} s after the network cut`);
    return { ...r, ms };
  } finally {
    link("up");
  }
}

async function killWhen(args: string[], ready: () => Promise<void>): Promise<void> {
  const run = start(args);
  await ready();
  run.child.kill("SIGKILL");
  await run.done;
}

const started = (phase: string, step: string) => (r: Record<string, unknown>) =>
  r["type"] === "step-started" && r["phase"] === phase && r["step"] === step;
/** The step's latest failure (the journal keeps the records of every earlier test). */
const lastFailure = (step: string): Record<string, unknown> | undefined =>
  journal(lab)
    .filter((r) => r["type"] === "step-failed" && r["step"] === step)
    .at(-1);
const doneInJournal = (phase: string, step: string): boolean =>
  journal(lab).some((r) => r["type"] === "step-done" && r["phase"] === phase && r["step"] === step);

/** Poll inside a host every 10 ms until the SQL counts at least one row (true), or give up. */
function pollSql(role: "origin" | "target", sql: string, tries = 6000): boolean {
  const r = lab.sh(
    role,
    `for i in $(seq 1 ${tries}); do n=$(runuser -u postgres -- psql -Atc ${JSON.stringify(sql)}); [ "\${n:-0}" -ge 1 ] && exit 0; sleep 0.01; done; exit 1`,
  );
  return r.code === 0;
}

test("the network cut during an rsync: the run fails in bounded time naming the origin; the re-run completes", async (t) => {
  lab.must("origin", "head -c 30000000 /dev/urandom > /var/spool/bm-filehosting/cut-during-rsync.bin");
  const r = await cutDuring(t, ["hot-sync", ...ORIGIN, "--bwlimit", "2000"], async () => {
    await waitForJournal(lab, started("hot-sync", "rsync:/var/spool/bm-filehosting"));
    await sleep(1500);
  });
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.ms < CUT_DEADLINE_MS, `failed after ${r.ms} ms`);
  assert.match(r.stderr, /root@bm-origin/);
  assert.match(r.stderr, /Copy (\/var\/spool\/\S+|database \S+ ahead)/, "the step is named");
  assert.match(r.stderr, /run the same command again/);
  const failed = lastFailure("rsync:/var/spool/bm-filehosting");
  assert.match(String(failed?.["error"]), /connection to the origin root@bm-origin was lost while copying/);
  const again = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(again.code, 0, again.stderr + again.stdout);
});

test("the network cut during the dump: the run fails in bounded time naming the origin; the re-run completes", async (t) => {
  // A new table changes the schema: the next pass dumps bj-data in full.
  lab.must(
    "origin",
    `${BJ_DATA} -c "CREATE TABLE t_bulk2 AS SELECT i, repeat(md5(i::text), 6) AS h FROM generate_series(1, 400000) i"`,
  );
  const r = await cutDuring(t, ["hot-sync", ...ORIGIN], () => {
    assert.ok(
      pollSql("origin", `select count(*) from pg_stat_activity where query ilike 'COPY %t_bulk2%'`),
      "the dump of t_bulk2 was seen",
    );
    return Promise.resolve();
  });
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.ms < CUT_DEADLINE_MS, `failed after ${r.ms} ms`);
  assert.match(r.stderr, /root@bm-origin/);
  assert.match(r.stderr, /run the same command again/);
  const failed = lastFailure("database-staging:bj-data");
  assert.match(
    String(failed?.["error"]),
    /connection to the origin root@bm-origin was lost while (dumping|reading) database bj-data/,
  );
  const again = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(again.code, 0, again.stderr + again.stdout);
});

test("the origin's PostgreSQL shut down during the dump: said as such, not as a network fault; the re-run completes", async () => {
  // A new table changes the schema: the next pass dumps bj-data in full.
  lab.must(
    "origin",
    `${BJ_DATA} -c "CREATE TABLE t_bulk3 AS SELECT i, repeat(md5(i::text), 6) AS h FROM generate_series(1, 400000) i"`,
  );
  const run = start(["hot-sync", ...ORIGIN]);
  try {
    assert.ok(
      pollSql(
        "origin",
        `select count(*) from pg_stat_activity where query ilike 'COPY %t_bulk3%' and wait_event = 'ClientWrite'`,
      ),
      "the dump of t_bulk3 was seen waiting for its reader",
    );
    // A fast shutdown. A backend blocked writing to its client (its reader is slower, as the wait
    // above made sure: the common case on a loaded machine) ends without its "terminating
    // connection due to administrator command" line (ProcessClientWriteInterrupt in
    // src/backend/tcop/postgres.c): the dump sees only a closed connection, and the origin itself
    // must tell that its PostgreSQL stopped.
    lab.must("origin", "service postgresql stop");
    const r = await run.done;
    assert.equal(r.code, 1, r.stderr);
    const failed = lastFailure("database-staging:bj-data");
    assert.match(
      String(failed?.["error"]),
      /PostgreSQL on the origin root@bm-origin was shut down while dumping database bj-data/,
    );
    assert.doesNotMatch(r.stderr, /check the network/);
    assert.match(r.stderr, /service postgresql start/);
  } finally {
    lab.must("origin", "service postgresql start");
    // The re-run always completes the pass, so that the next test starts from a finished one.
    const again = lab.bm(["hot-sync", ...ORIGIN]);
    assert.equal(again.code, 0, again.stderr + again.stdout);
  }
});

test("the target's filesystem full during the hot sync: the error names the directory and the need; the origin is untouched", async () => {
  // The origin's picture with its writer stopped (the hot sync itself never stops it).
  lab.must("origin", "bmctl stop");
  lab.must("origin", "head -c 4000000 /dev/urandom > /var/spool/bm-docs/large-document.bin");
  const before = manifest(lab, "origin");
  // A 2 MiB filesystem over one data directory; the preflight would refuse it, so its disk check
  // is skipped: the fault is the disk filling up during the copy.
  lab.must("target", "mount -t tmpfs -o size=2M tmpfs /var/spool/bm-docs");
  let r;
  try {
    r = lab.bm(["hot-sync", ...ORIGIN, "--skip-check", "disk-space"]);
  } finally {
    lab.must("target", "umount /var/spool/bm-docs");
  }
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(
    r.stderr,
    /Copy \/var\/spool\/bm-docs: the target's filesystem for \/var\/spool\/bm-docs is full: [\d.]+ MiB needed for \/var\/spool\/bm-docs \(its size on the origin\), [\d.]+ (B|KiB|MiB) free/,
  );
  assert.match(r.stderr, /at least [\d.]+ [KM]iB more\), then run the same command again/);
  assert.deepEqual(
    (await differences(before, manifest(lab, "origin"))).map((d) => d.message),
    [],
    "the origin is untouched",
  );
  const again = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assert.deepEqual(
    await compareHosts(lab, { ignore: ["/etc", "/usr", "/var/lib/bm-ca", "db:bj", "db:bj-data"] }),
    [],
    "the data directories are identical (the databases move in the cold sync)",
  );
});

test("the origin's PostgreSQL stopped: a clear error before anything is copied", () => {
  lab.must("origin", "service postgresql stop");
  try {
    const pre = lab.bm(["hot-sync", ...ORIGIN]);
    assert.equal(pre.code, 3, "the preflight refuses");
    assert.match(pre.stderr, /\[pg-origin\]/);
    const skipped = lab.bm(["hot-sync", ...ORIGIN, "--skip-check", "pg-origin"]);
    assert.equal(skipped.code, 1, skipped.stderr);
    assert.match(
      skipped.stderr,
      /PostgreSQL on the origin root@bm-origin does not accept connections \(reading database bj(-data)?; the target's bj(-data)? is untouched\)/,
    );
    assert.match(skipped.stderr, /service postgresql start.*run the same command again/);
  } finally {
    lab.must("origin", "service postgresql start");
  }
  const again = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(again.code, 0, again.stderr + again.stdout);
});

test("kill -9 during the cold sync's service stop, database delta and configuration copy: each re-run resumes", async () => {
  // Slow enough to be caught: bmctl stop takes 4 s; every row of t_bulk changes after the last
  // hot pass (the delta copies them all); a 20 MB configuration file under a bandwidth limit.
  lab.must(
    "origin",
    `mv /usr/bin/bmctl /usr/bin/bmctl.real && printf '#!/bin/sh\\n[ "$1" = stop ] && sleep 4\\nexec /usr/bin/bmctl.real "$@"\\n' > /usr/bin/bmctl && chmod 755 /usr/bin/bmctl`,
  );
  lab.must("origin", `${BJ_DATA} -c "UPDATE t_bulk SET h = md5(h)"`);
  lab.must("origin", "head -c 20000000 /dev/urandom > /etc/bm/large-config.bin");
  lab.must(
    "target",
    `runuser -u postgres -- psql -q -d bj-data -c "CREATE TABLE t_marker AS SELECT 'own' AS m"`,
  );
  // Straight to the downtime (no catch-up pass first): the kills below aim at its own steps.
  const cold = ["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"];

  await killWhen(cold, async () => {
    await waitForJournal(lab, started("cold-sync", "stop-services:origin"));
    await sleep(1000);
  });
  assert.ok(
    !doneInJournal("cold-sync", "stop-services:origin"),
    "killed while the origin's services stopped",
  );

  // Under the bandwidth limit here too: the configuration copy must still be unfinished when this
  // kill comes, for the next one to catch it (the delta alone is quick).
  await killWhen([...cold, "--bwlimit", "1500"], () => {
    const seen = pollSql(
      "target",
      `select count(*) from pg_stat_activity where datname = '${STAGING}' and state = 'active' and (query ilike 'COPY%' or query ilike 'DELETE%' or query ilike '%sum(%' or query ilike '%count(*)%')`,
    );
    assert.ok(seen, "the delta into the staging database was seen");
    return Promise.resolve();
  });
  assert.ok(!doneInJournal("cold-sync", "database:bj-data"), "killed during the database delta");
  assert.equal(
    lab.must("target", `runuser -u postgres -- psql -Atc "select m from t_marker" bj-data`).trim(),
    "own",
    "the target's own bj-data is replaced only after a complete copy",
  );

  await killWhen([...cold, "--bwlimit", "1500"], async () => {
    await waitForJournal(lab, started("cold-sync", "config"));
    await sleep(2000);
  });
  assert.ok(!doneInJournal("cold-sync", "config"), "killed during the configuration copy");
  assert.equal(lab.sh("origin", "bmctl status").code, 3, "the downtime goes on: BlueMind stays stopped");
});

test("bj's password wrong on the origin: a clear error, and the target's databases are kept", () => {
  lab.must("origin", `runuser -u postgres -- psql -q -c "ALTER ROLE bj PASSWORD 'no-longer-bj'"`);
  try {
    const pre = lab.bm(["cold-sync", ...ORIGIN, "--yes"]);
    assert.equal(pre.code, 3, pre.stderr);
    assert.match(pre.stderr, /\[pg-origin\] the origin's PostgreSQL refuses bj's password/);
    const skipped = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--skip-check", "pg-origin"]);
    assert.equal(skipped.code, 1, skipped.stderr);
    assert.match(
      skipped.stderr,
      /the origin's PostgreSQL \(root@bm-origin\) refuses bj's password from its \/etc\/bm\/bm\.ini while reading database bj(-data)? \(the target's bj(-data)? is untouched\)/,
    );
    assert.match(skipped.stderr, /then run the same command again/);
    assert.equal(
      lab.must("target", `runuser -u postgres -- psql -Atc "select m from t_marker" bj-data`).trim(),
      "own",
      "nothing dropped on the target",
    );
  } finally {
    lab.must("origin", `runuser -u postgres -- psql -q -c "ALTER ROLE bj PASSWORD 'bj'"`);
  }
  const r = lab.bm(["cold-sync", ...ORIGIN, "--yes"]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /by delta/, "the database moved by delta into the staging copy");
});

test("kill -9 during verify: the re-run passes, and the oracle agrees", async () => {
  const run = start(["verify", ...ORIGIN, "--json"]);
  const t0 = Date.now();
  while (!jsonLines(run.stdout()).some((e) => e["type"] === "step-started") && Date.now() - t0 < 120_000)
    await sleep(20);
  run.child.kill("SIGKILL");
  await run.done;
  assert.ok(!journal(lab).some((r) => r["type"] === "verify-result"), "killed before verify's result");
  const r = lab.bm(["verify", ...ORIGIN]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Verified: the target holds what the origin holds/);
  lab.must("origin", "mv /usr/bin/bmctl.real /usr/bin/bmctl");
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin after all the faults");
});
