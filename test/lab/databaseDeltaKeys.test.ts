// The database delta on keys BlueMind's real schema has (issue #26) and keys beyond a JavaScript
// number (issue #25, item 6), end to end: the cold sync after two hot passes must bring every
// change, copy only the rows or groups that changed, and never turn into a full copy.
// - bigint keys above 2^62 (ids derived from hashes or times): a deletion sends the table by
//   groups, whose numbers and bounds must be exact; a bigint sequence above 2^53 likewise;
// - a table without a primary key, with duplicate rows (BlueMind's t_mailbox_record has no key:
//   its (container_id, imap_uid) index stands for one): one of two identical rows changed, one
//   more duplicate added;
// - a hash-partitioned table without a key (as BlueMind's changeset and conversation partitions):
//   a few folders changed, only their rows copied, the partitions in batches;
// - a table rewritten with the same content (as pg_repack does: every row a new version): nothing
//   of it copied.
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

const TABLES = ["t_big", "t_dup", "t_part", "t_repacked"];
/** Each test table's content as one digest (sorted, every column, duplicates counted), and s_big's value. */
const DIGEST_SQL = [
  ...TABLES.map(
    (t) =>
      `SELECT '${t}', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ${t} x;`,
  ),
  "SELECT 's_big', last_value, is_called FROM s_big;",
].join("\n");
const digests = (role: "origin" | "target"): string =>
  lab.must(role, `runuser -u postgres -- psql -X -At -d bj-data <<'SQL'\n${DIGEST_SQL}\nSQL`);

/** 2^62: every key of t_big is above it, where doubles are 1,024 apart. */
const BIG = "4611686018427387904";
/** s_big starts just above it. */
const BIG_SEQ = "4611686018427387905";
const big = (i: number): string => `${BIG} + ${i * 1000 + 1}`;

labForTests("t-dkeys", { scale: 1 }, (l) => {
  lab = l;
  // Quiet origin: only this test's changes happen between the passes.
  lab.must("origin", "bmctl stop >/dev/null; service postfix stop >/dev/null");
  onOrigin(`
CREATE TABLE t_big (id bigint PRIMARY KEY, v text);
INSERT INTO t_big SELECT ${BIG} + i * 1000 + 1, 'row ' || i FROM generate_series(0, 2999) i;
CREATE SEQUENCE s_big START ${BIG_SEQ};
SELECT nextval('s_big');
CREATE TABLE t_dup (container_id int NOT NULL, imap_uid bigint NOT NULL, flags int NOT NULL, body text);
CREATE INDEX ON t_dup (container_id, imap_uid);
CREATE INDEX ON t_dup (container_id, flags, imap_uid);
INSERT INTO t_dup SELECT i % 50, i / 50, 0, 'body ' || (i / 50) FROM generate_series(0, 19999) i;
INSERT INTO t_dup SELECT container_id, imap_uid, flags, body FROM t_dup WHERE imap_uid < 10;
CREATE TABLE t_part (folder_id int NOT NULL, conversation_id bigint NOT NULL, flags int) PARTITION BY HASH (folder_id);
DO $$ BEGIN FOR i IN 0..15 LOOP
  EXECUTE format('CREATE TABLE t_part_%s PARTITION OF t_part FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i);
END LOOP; END $$;
CREATE INDEX ON t_part (folder_id, conversation_id);
INSERT INTO t_part SELECT i % 200, i, 0 FROM generate_series(1, 20000) i;
CREATE TABLE t_repacked (id int PRIMARY KEY, v text);
INSERT INTO t_repacked SELECT i, 'row ' || i FROM generate_series(1, 5000) i;`);
});

test("the cold sync's delta: exact bigint groups, keyless tables with duplicates by their row key, partitions in batches, a rewritten table not copied", () => {
  for (const pass of [1, 2]) {
    const hot = lab.bm(["hot-sync", ...ORIGIN]);
    assert.equal(hot.code, 0, `hot pass ${pass}: ${hot.stderr}${hot.stdout}`);
  }

  // Between the last hot pass and the cold sync.
  onOrigin(`
DELETE FROM t_big WHERE id = ${big(1500)};
UPDATE t_big SET v = 'changed' WHERE id IN (${big(10)}, ${big(2000)}, ${big(2999)});
SELECT nextval('s_big') FROM generate_series(1, 3);
UPDATE t_dup SET flags = 1 WHERE ctid = (SELECT min(ctid) FROM t_dup WHERE container_id = 3 AND imap_uid = 2);
INSERT INTO t_dup VALUES (7, 5, 0, 'body 5');
UPDATE t_part SET flags = 2 WHERE folder_id IN (5, 6, 7) AND conversation_id < 1000;
BEGIN;
CREATE TEMPORARY TABLE repack ON COMMIT DROP AS SELECT * FROM t_repacked;
DELETE FROM t_repacked;
INSERT INTO t_repacked SELECT * FROM repack;
COMMIT;`);
  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);
  const done = journal(lab).filter((r) => r["type"] === "step-done" && r["step"] === "database:bj-data");
  const data = done.at(-1)?.["data"] as Record<string, unknown> | undefined;
  assert.equal(data?.["mode"], "delta", `the cold sync moved bj-data by delta: ${JSON.stringify(data)}`);
  assert.equal(data?.["by"], "watermark");
  // Everything the delta did, in every failure's message below.
  const did = `copied ${String(data?.["copiedRows"])} rows, by ${JSON.stringify(data?.["copiedBy"])}, not by rows: ${JSON.stringify(data?.["notByRows"])}`;
  const changed = data?.["changedTables"] as string[];
  const parts = changed.filter((t) => t.startsWith("public.t_part_"));
  assert.ok(
    parts.length >= 1 && parts.length <= 3,
    `only the partitions of folders 5, 6, 7: ${parts.join(", ")}`,
  );
  assert.deepEqual(
    changed.filter((t) => !t.startsWith("public.t_part_")),
    ["public.t_big", "public.t_dup", "public.t_repacked"],
    "and the other tables changed",
  );
  assert.match(
    (data?.["notByRows"] as Record<string, string>)["public.t_repacked"] ?? "",
    /^rewritten/,
    `the rewritten table compared by group hashes, not copied row by row (${did})`,
  );
  const by = data?.["copiedBy"] as { rows: string[]; groups: string[] };
  assert.deepEqual(by.groups, ["public.t_big"], `a deletion sends t_big by groups (${did})`);
  assert.deepEqual(
    by.rows,
    ["public.t_dup", ...parts].sort(),
    `the keyless tables by their row key (${did})`,
  );
  // t_big: its 3,000 keys are 1,000 apart, 512 per group: at most one row per group; four groups
  // changed, one of them emptied: 3 rows. t_dup: every row with the two changed keys, (3, 2) and
  // (7, 5): 2 + 3. t_part: 5 rows in each of folders 5, 6, 7 (conversation ids below 1,000).
  // t_repacked: none, its content is the same. Far from the tables' 48,500.
  assert.equal(data?.["copiedRows"], 3 + 5 + 15, "only the changed rows, their groups and keys");

  const want = digests("origin");
  assert.match(want, /^t_big\|2999\|/m, "the origin has the test rows (3,000 − 1)");
  assert.match(want, /^t_dup\|20501\|/m, "and t_dup's duplicates (20,000 + 500 + 1)");
  assert.match(want, /^s_big\|4611686018427387908\|t$/m, "s_big above 2^62");
  assert.equal(digests("target"), want, "each test table and the sequence equal to the origin's");
});

test("verify finds the databases identical after the delta", async () => {
  assert.deepEqual(await compareHosts(lab), [], "the oracle finds no difference");
});
