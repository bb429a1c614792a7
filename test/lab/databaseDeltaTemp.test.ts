// Another session's temporary objects on the origin at the cold sync (issue #26, finding 5): a
// temporary sequence of an idle session (BlueMind's core or an administrator's psql) is not the
// origin's data. Reading it is refused by PostgreSQL ("cannot access temporary tables of other
// sessions"), which turned the database delta into a full copy inside the downtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN } from "./support.js";

let lab: Lab;

/** SQL on the origin's bj-data, as its owner (what BlueMind itself would do). */
const onOrigin = (sql: string): string =>
  lab.must(
    "origin",
    `PGPASSWORD=bj psql -X -q -At -v ON_ERROR_STOP=1 -h localhost -U bj -d bj-data <<'SQL'\n${sql}\nSQL`,
  );

/** Another session on the origin, idle, holding a temporary sequence (psql reading a fifo). */
const FIFO = "/root/delta-temp.fifo";

labForTests(
  "t-dtemp",
  { scale: 1 },
  (l) => {
    lab = l;
    lab.must("origin", "bmctl stop >/dev/null; service postfix stop >/dev/null");
    onOrigin(`CREATE TABLE t_temp_test (id int PRIMARY KEY, v text);
INSERT INTO t_temp_test SELECT i, 'row ' || i FROM generate_series(1, 1000) i;`);
  },
  // The fifo's writer, by its pid (the lab's hosts share the machine's processes).
  () => lab?.sh("origin", `kill "$(cat ${FIFO}.pid)"; rm -f ${FIFO} ${FIFO}.pid`),
);

test("another session's temporary sequence at the cold sync leaves the delta a delta", () => {
  for (const pass of [1, 2]) {
    const hot = lab.bm(["hot-sync", ...ORIGIN]);
    assert.equal(hot.code, 0, `hot pass ${pass}: ${hot.stderr}${hot.stdout}`);
  }
  onOrigin("UPDATE t_temp_test SET v = 'changed' WHERE id = 7;");
  lab.must(
    "origin",
    `rm -f ${FIFO}; mkfifo ${FIFO}
(sleep 86401 > ${FIFO} 2>/dev/null </dev/null & echo $! > ${FIFO}.pid)
(PGPASSWORD=bj psql -X -q -h localhost -U bj -d bj-data < ${FIFO} > /root/delta-temp.log 2>&1 &)
printf '%s\\n' "CREATE TEMPORARY SEQUENCE another_sessions_seq; SELECT nextval('another_sessions_seq');" > ${FIFO}
for i in $(seq 50); do
  [ "$(runuser -u postgres -- psql -X -At -d bj-data -c "select count(*) from pg_class where relname = 'another_sessions_seq'")" = 1 ] && exit 0
  sleep 0.1
done; exit 1`,
  );

  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);
  const done = journal(lab).filter((r) => r["type"] === "step-done" && r["step"] === "database:bj-data");
  const data = done.at(-1)?.["data"] as Record<string, unknown> | undefined;
  assert.equal(data?.["mode"], "delta", `the cold sync moved bj-data by delta: ${JSON.stringify(data)}`);
  assert.deepEqual(data?.["changedTables"], ["public.t_temp_test"]);
  assert.equal(data?.["copiedRows"], 1, "the one changed row");
  const row = lab
    .must(
      "target",
      `runuser -u postgres -- psql -X -At -d bj-data -c "select v from t_temp_test where id = 7"`,
    )
    .trim();
  assert.equal(row, "changed");
});

test("verify finds the databases identical after the delta", async () => {
  assert.deepEqual(await compareHosts(lab), [], "the oracle finds no difference");
});
