// The database delta by watermark, end to end: the cold sync copies only the row groups the origin
// changed since the last pass, found from the rows' xmin and counts, never their content. Every
// kind of change an administrator's server makes must arrive: updates that keep the row count,
// deletes, a delete and an insert in the same group, a key moved within its group, rows of a
// table without a key, rows frozen by VACUUM FREEZE after their update, and rows written by a
// transaction that was open during the hot sync and committed after it: one by the transaction
// itself (its xid is the watermark), one in a savepoint of it. In the cold pass, a table the origin
// only updated and added to is brought by its changed rows alone (one and two-column keys); a
// table with a row deleted goes by groups, even when an insert keeps its count.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN } from "./support.js";

let lab: Lab;

/** SQL on the origin's bj-data, as its owner (what BlueMind itself would do). */
const onOrigin = (sql: string): string =>
  lab.must(
    "origin",
    `PGPASSWORD=bj psql -X -q -v ON_ERROR_STOP=1 -h localhost -U bj -d bj-data <<'SQL'\n${sql}\nSQL`,
  );

/** Each test table's content as one digest, on either host (sorted, every column). */
const DIGEST_SQL = [
  "t_delta_int",
  "t_delta_text",
  "t_delta_nokey",
  "t_delta_upd",
  "t_delta_pair",
  "t_delta_bulk",
]
  .map(
    (t) =>
      `SELECT '${t}', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ${t} x;`,
  )
  .join("\n");
const digests = (role: "origin" | "target"): string =>
  lab.must(role, `runuser -u postgres -- psql -X -At -d bj-data <<'SQL'\n${DIGEST_SQL}\nSQL`);

/** A transaction held open on the origin (psql reading a fifo kept open by a sleeping writer). */
const TX_FIFO = "/root/delta-tx.fifo";
const txSend = (sql: string): string =>
  lab.must("origin", `printf '%s\\n' ${JSON.stringify(sql)} > ${TX_FIFO}`);

labForTests(
  "t-delta",
  { scale: 1 },
  (l) => {
    lab = l;
    // Quiet origin: only this test's changes happen between the passes.
    lab.must("origin", "bmctl stop >/dev/null; service postfix stop >/dev/null");
    onOrigin(`
CREATE TABLE t_delta_int (id bigint PRIMARY KEY, v text);
INSERT INTO t_delta_int SELECT i * 2, 'row ' || i FROM generate_series(1, 10000) i;
CREATE TABLE t_delta_text (k text PRIMARY KEY, n int);
INSERT INTO t_delta_text SELECT 'key-' || i, i FROM generate_series(1, 3000) i;
CREATE TABLE t_delta_nokey (v text, n int);
INSERT INTO t_delta_nokey SELECT 'same', i % 3 FROM generate_series(1, 300) i;
CREATE TABLE t_delta_upd (id bigint PRIMARY KEY, v text, at timestamptz);
INSERT INTO t_delta_upd SELECT i, 'row ' || i, '2024-01-01' FROM generate_series(1, 5000) i;
CREATE TABLE t_delta_pair (a int, b text, n numeric, PRIMARY KEY (a, b));
INSERT INTO t_delta_pair SELECT i % 50, 'b' || i, i / 7.0 FROM generate_series(1, 2000) i;
CREATE TABLE t_delta_bulk (id int PRIMARY KEY, v text);
INSERT INTO t_delta_bulk SELECT i, 'row ' || i FROM generate_series(1, 6000) i;`);
  },
  // The fifo's writer, by its pid (the lab's hosts share the machine's processes).
  () => lab?.sh("origin", `kill "$(cat ${TX_FIFO}.pid)"; rm -f ${TX_FIFO} ${TX_FIFO}.pid`),
);

test("the cold sync's database delta by watermark carries every kind of change, and only the changed groups", () => {
  // A transaction opens before the first hot sync and updates a row itself (its xid becomes the
  // pass's watermark: the boundary, which counts as "since"), then one in a savepoint (a
  // subtransaction, whose xid is not in a snapshot's list of running transactions); updates keep
  // the counts. It commits after the pass.
  lab.must(
    "origin",
    `rm -f ${TX_FIFO}; mkfifo ${TX_FIFO}
(sleep 86400 > ${TX_FIFO} 2>/dev/null </dev/null & echo $! > ${TX_FIFO}.pid)
(PGPASSWORD=bj psql -X -q -h localhost -U bj -d bj-data < ${TX_FIFO} > /root/delta-tx.log 2>&1 &)`,
  );
  txSend(
    "BEGIN; UPDATE t_delta_int SET v = 'written by the open transaction' WHERE id = 18000; SAVEPOINT s; UPDATE t_delta_int SET v = 'written in a savepoint' WHERE id = 16000; RELEASE SAVEPOINT s;",
  );
  // The update has been done (its xids assigned) before the hot sync reads anything.
  lab.must(
    "origin",
    `for i in $(seq 50); do
       [ "$(runuser -u postgres -- psql -X -At -c "select count(*) from pg_stat_activity where state = 'idle in transaction' and query like 'RELEASE SAVEPOINT%'")" = 1 ] && exit 0
       sleep 0.1
     done; exit 1`,
  );

  // Another transaction commits after it: the snapshots' xmax moves past the savepoint's xid,
  // which only the xmin of a snapshot still covers.
  onOrigin("INSERT INTO t_delta_text VALUES ('committed after the savepoint', 0);");
  const hot1 = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(hot1.code, 0, hot1.stderr + hot1.stdout);
  txSend("COMMIT;");

  // Between the two hot passes: updates in place and deletes. (Key ranges of 512 ids: each change
  // below stays in ranges of its own, away from the open transaction's rows, ids 16000 and 18000.)
  onOrigin(`
UPDATE t_delta_int SET v = v || ' updated' WHERE id % 1000 = 0 AND id < 4096;
DELETE FROM t_delta_int WHERE id BETWEEN 5000 AND 5010;
UPDATE t_delta_text SET n = -n WHERE k = 'key-17';`);
  const hot2 = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(hot2.code, 0, hot2.stderr + hot2.stdout);
  const hotDelta = journal(lab).filter(
    (r) => r["type"] === "step-done" && r["step"] === "database-staging:bj-data",
  );
  assert.equal(
    (hotDelta.at(-1)?.["data"] as Record<string, unknown> | undefined)?.["by"],
    "watermark",
    "the second hot pass found its changes by watermark",
  );

  const row = (db: string, id: number): string =>
    lab
      .must(
        "target",
        `runuser -u postgres -- psql -X -At -d ${db} -c "select v from t_delta_int where id = ${id}"`,
      )
      .trim();
  assert.equal(
    row("bj-data.bm-migrate-new", 16000),
    "written in a savepoint",
    "the second hot pass brought the row the open transaction had updated in a savepoint",
  );
  assert.equal(
    row("bj-data.bm-migrate-new", 18000),
    "written by the open transaction",
    "and the row it had updated itself (its xid is the watermark)",
  );

  // Between the last hot pass and the cold sync: changes that keep every count.
  onOrigin(`
DELETE FROM t_delta_int WHERE id = 7000; INSERT INTO t_delta_int VALUES (7001, 'instead of 7000');
UPDATE t_delta_int SET id = 8001 WHERE id = 8000;
UPDATE t_delta_int SET v = 'changed, then frozen' WHERE id = 12000;
UPDATE t_delta_nokey SET n = 7 WHERE ctid = (SELECT min(ctid) FROM t_delta_nokey);
DELETE FROM t_delta_text WHERE k = 'key-5'; INSERT INTO t_delta_text VALUES ('key-5bis', 5);
UPDATE t_delta_upd SET v = v || ' updated', at = now() WHERE id % 500 = 0;
INSERT INTO t_delta_upd SELECT i, 'new ' || i, now() FROM generate_series(5001, 5020) i;
UPDATE t_delta_pair SET n = -n WHERE b IN ('b10', 'b999');
INSERT INTO t_delta_pair VALUES (7, 'new', 1.5), (8, 'new', 0);
UPDATE t_delta_bulk SET v = v || ' again' WHERE id <= 4500;`);
  lab.must("origin", `runuser -u postgres -- psql -X -q -d bj-data -c 'VACUUM FREEZE t_delta_int'`);

  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);
  const done = journal(lab).filter((r) => r["type"] === "step-done" && r["step"] === "database:bj-data");
  const data = done.at(-1)?.["data"] as Record<string, unknown> | undefined;
  assert.equal(data?.["mode"], "delta", "the cold sync moved bj-data by delta");
  assert.equal(data?.["by"], "watermark", "and found the changed groups by watermark");
  assert.deepEqual(
    data?.["changedTables"],
    [
      "public.t_delta_bulk",
      "public.t_delta_int",
      "public.t_delta_nokey",
      "public.t_delta_pair",
      "public.t_delta_text",
      "public.t_delta_upd",
    ],
    "exactly the tables changed since the last pass",
  );
  assert.deepEqual(
    data?.["copiedBy"],
    {
      rows: ["public.t_delta_bulk", "public.t_delta_pair", "public.t_delta_upd"],
      groups: ["public.t_delta_int", "public.t_delta_nokey", "public.t_delta_text"],
    },
    "updates and inserts alone went by their rows; a deletion (even with an insert keeping the count) or no key, by groups",
  );
  assert.deepEqual(data?.["notByRows"], {
    "public.t_delta_int": "rows deleted on the origin",
    "public.t_delta_nokey": "no primary key, no index of NOT NULL columns",
    "public.t_delta_text": "rows deleted on the origin",
  });
  // Only the changed rows and groups: 4,500 of t_delta_bulk (too many to fetch by ctid: found by
  // xmin again), 10 + 20 of t_delta_upd, 2 + 2 of t_delta_pair, 3 of t_delta_int's 40 key ranges
  // (512 ids, 256 rows each), two key-hash groups of t_delta_text (about 12 rows each), and the
  // whole of t_delta_nokey (300 rows): far from the tables' 26,316.
  const copied = Number(data?.["copiedRows"]);
  assert.ok(copied >= 4_500 && copied < 4_500 + 1_200, `copied ${String(data?.["copiedRows"])} rows`);

  const want = digests("origin");
  assert.match(want, /^t_delta_int\|9994\|/m, "the origin has the test rows (10,000 − 6)");
  assert.equal(digests("target"), want, "each test table equal to the origin's");
  assert.equal(row("bj-data", 16000), "written in a savepoint");
  assert.equal(row("bj-data", 18000), "written by the open transaction");
});

test("verify finds the databases identical after the delta", async () => {
  assert.deepEqual(await compareHosts(lab), [], "the oracle finds no difference");
});
