// kill -9 of the tool in the middle of the hot sync, of the final rsync and of the database
// restore: each time a re-run resumes, completes, and the target ends identical to the origin.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN, waitForJournal } from "./support.js";

let lab: Lab;

labForTests("t-resume", { scale: 2 }, (l) => (lab = l));

async function killWhen(args: string[], ready: () => Promise<void>): Promise<void> {
  const child = lab.bmSpawn(args);
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  await ready();
  child.kill("SIGKILL");
  await exited;
}

test("kill -9 in the middle of a hot sync: the re-run resumes the same pass and completes", async () => {
  // A bandwidth limit keeps the first copy going long enough to be cut in the middle.
  await killWhen(["hot-sync", ...ORIGIN, "--bwlimit", "3000"], async () => {
    await waitForJournal(
      lab,
      (r) =>
        r["type"] === "step-started" &&
        r["phase"] === "hot-sync" &&
        r["step"] === "rsync:/var/spool/bm-elasticsearch",
    );
    await sleep(1500);
  });
  const cut = journal(lab);
  assert.ok(!cut.some((r) => r["type"] === "pass-finished"), "the pass was cut before its end");
  assert.equal(lab.sh("target", "test -f /var/lib/bm-migrate/lock").code, 0, "the killed run left its lock");
  const r = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.ok(
    journal(lab).some((x) => x["type"] === "pass-resumed" && x["phase"] === "hot-sync"),
    "the same pass was resumed",
  );
  assert.match(
    r.stdout,
    /Stop BlueMind and postfix on the target: already done/,
    "done steps are not run again",
  );
  assert.match(r.stdout, /warning: stopped rsync \(pid \d+\) left running by an earlier run that was killed/);
});

test("kill -9 during the final rsync of the cold sync: the re-run resumes the downtime pass", async () => {
  // 40 MB of new documents on the origin make the final pass long enough to be cut.
  lab.must("origin", "head -c 40000000 /dev/urandom > '/var/spool/bm-filehosting/Große Präsentation.mp4'");
  await killWhen(
    ["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never", "--bwlimit", "4000"],
    async () => {
      await waitForJournal(
        lab,
        (r) =>
          r["type"] === "step-started" &&
          r["phase"] === "cold-sync" &&
          r["step"] === "rsync:/var/spool/bm-filehosting",
      );
      await sleep(2000);
    },
  );
  assert.ok(!journal(lab).some((r) => r["type"] === "pass-finished" && r["phase"] === "cold-sync"));
  assert.equal(
    lab.sh("origin", "bmctl status").code,
    3,
    "the origin's BlueMind stays stopped: the downtime goes on",
  );
  const st = lab.bm(["status"]);
  assert.match(st.stdout, /Next: bm-migrate cold-sync \(resumes pass/);
});

test("kill -9 during the database restore: the target's database is replaced only by a complete copy", async () => {
  // Finish the interrupted cold pass first, then give the service back and start a new downtime
  // whose restore has enough rows to be cut in the middle.
  const resumed = lab.bm(["cold-sync", ...ORIGIN, "--yes"]);
  assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
  assert.equal(lab.bm(["rollback", ...ORIGIN, "--yes"]).code, 0);
  lab.must(
    "origin",
    `PGPASSWORD=bj psql -q -h localhost -U bj -d bj-data -c "CREATE TABLE t_bulk AS SELECT i, md5(i::text) AS h FROM generate_series(1, 600000) i"`,
  );
  const marker = "target-own-row";
  lab.must(
    "target",
    `runuser -u postgres -- psql -q -d bj-data -c "CREATE TABLE t_marker AS SELECT '${marker}'::text AS m"`,
  );
  // The downtime only starts once every database has a complete staging copy: after the rollback
  // there is none, so this cold sync first loads one in a catch-up pass, and the kill aims at that load.
  await killWhen(["cold-sync", ...ORIGIN, "--yes"], () => {
    // Polled inside the target, every 10 ms: the staging database exists and is being loaded.
    const w = lab.sh(
      "target",
      `for i in $(seq 1 12000); do
      n=$(runuser -u postgres -- psql -Atc "select count(*) from pg_stat_activity where datname = 'bj-data.bm-migrate-new' and query ilike 'COPY %'")
      [ "$n" = 1 ] && exit 0; sleep 0.01; done; exit 1`,
    );
    assert.equal(w.code, 0, "the load into the staging database was seen");
    return sleep(200);
  });
  const kept = lab.sh("target", `runuser -u postgres -- psql -Atc "select m from t_marker" bj-data`);
  assert.equal(
    kept.stdout.trim(),
    marker,
    "the target's own bj-data is still there: it is dropped only after a complete load",
  );
  const r = lab.bm(["cold-sync", ...ORIGIN, "--yes"]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /The cold phase took [\d.]+ (ms|s|min).*the outage goes on/);
  const staging = lab.must(
    "target",
    `runuser -u postgres -- psql -Atc "select count(*) from pg_database where datname like '%bm-migrate-new'"`,
  );
  assert.equal(staging.trim(), "0", "no staging database left behind");
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin after the interrupted runs");
});

test("a second bm-migrate started while one runs is refused, naming the running one", async () => {
  // Earlier tests' cold syncs made hot passes of their own (their catch-ups): wait for this one's.
  const hotPasses = () =>
    journal(lab).filter((x) => x["type"] === "pass-started" && x["phase"] === "hot-sync");
  const before = hotPasses().length;
  const child = lab.bmSpawn(["hot-sync", ...ORIGIN, "--bwlimit", "100"]);
  const exited = new Promise<void>((res) => child.on("exit", () => res()));
  try {
    await waitForJournal(
      lab,
      (r) => r["type"] === "pass-started" && r["phase"] === "hot-sync" && hotPasses().length > before,
      60_000,
    );
    const second = lab.bm(["hot-sync", ...ORIGIN]);
    assert.equal(second.code, 1);
    assert.match(
      second.stderr,
      new RegExp(`another bm-migrate is running: pid ${child.pid}, \`bm-migrate hot-sync\``),
    );
  } finally {
    child.kill("SIGINT");
    await exited;
  }
  const st = lab.bm(["status"]);
  assert.match(
    st.stdout,
    /hot-sync: \d+ passes; last \S+ (FAILED|unfinished)/,
    "Ctrl-C ends the pass cleanly as failed, resumable",
  );
  assert.equal(lab.sh("target", "test -f /var/lib/bm-migrate/lock").code, 1, "Ctrl-C releases the lock");
});
