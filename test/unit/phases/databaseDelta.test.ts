// The database delta's pure parts: the marks kept in the staging database's comment, when a
// watermark may be trusted, and the per-group queries both servers run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { groupExpr, groupFilter } from "../../../src/database/rowGroups.js";
import {
  formatMarks,
  groupsAstray,
  rewritten,
  groupChangesSql,
  grouping,
  parseMarks,
  parsePk,
  scanSql,
  splitBySize,
  watermarkOf,
  watermarkUsable,
  differingKeys,
  parseHashes,
} from "../../../src/phases/databaseDelta.js";
import { rowHash, writtenSince } from "../../../src/database/rowVersions.js";
import {
  byRowsObstacle,
  changedRowsCopySql,
  DELETED_ON_ORIGIN,
  dollarQuoteTag,
  parseTableChanges,
  replaceRowsSql,
  rowBatches,
  rowsToReplace,
  tableChangesSql,
} from "../../../src/phases/changedRows.js";
import { preferNewestPostgresBinaries } from "../../../src/adapters/pgTools.js";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FP = "0123456789abcdef0123456789abcdef";

test("the staging marks read back as written, with or without a watermark", () => {
  assert.deepEqual(parseMarks(formatMarks({ fingerprint: FP, since: 4_294_967_396 })), {
    fingerprint: FP,
    since: 4_294_967_396,
  });
  assert.deepEqual(parseMarks(formatMarks({ fingerprint: FP })), { fingerprint: FP });
  // A copy made by an earlier release of bm-migrate: fingerprint only, so the delta hashes.
  assert.deepEqual(parseMarks(`bm-migrate fingerprint ${FP}`), { fingerprint: FP });
  assert.equal(parseMarks("a comment of someone else's"), undefined);
});

test("a watermark is noted only from PostgreSQL 9.4 on (older releases overwrite a frozen row's xmin)", () => {
  assert.equal(watermarkOf("1505", "150018"), 1505);
  assert.equal(watermarkOf("1505", "90400"), 1505);
  assert.equal(watermarkOf("1505", "90326"), undefined);
  assert.equal(watermarkOf("", "150018"), undefined);
  assert.equal(watermarkOf(undefined, undefined), undefined);
});

test("a watermark is trusted only while its transactions cannot have wrapped around", () => {
  assert.ok(watermarkUsable(1000, 5000, 150018));
  assert.ok(!watermarkUsable(undefined, 5000, 150018), "no watermark");
  assert.ok(!watermarkUsable(1000, 5000, 90300), "origin older than 9.4");
  assert.ok(!watermarkUsable(6000, 5000, 150018), "a watermark ahead of the origin: another server");
  assert.ok(!watermarkUsable(1000, 1000 + 2 ** 30, 150018), "a billion transactions since");
  assert.ok(watermarkUsable(2 ** 32 + 10, 2 ** 32 + 20, 150018), "past the first wraparound (64-bit txids)");
});

test("the origin counts each group's rows written since the watermark; the staging side only counts", () => {
  const t = { ident: "public.t", pk: ["id"], pkType: "bigint" };
  const g = grouping(t, 10_000);
  const origin = groupChangesSql(t, g, 1505, "public.t");
  assert.match(
    origin,
    /^SELECT 'public\.t', \(\(r\.id::bigint >> 9\)\)::text AS b, count\(\*\), \(count\(\*\) FILTER \(WHERE /,
  );
  assert.ok(origin.includes(writtenSince(1505)));
  assert.match(origin, /GROUP BY \(r\.id::bigint >> 9\);$/);
  const staging = groupChangesSql(t, g, undefined, "public.t", "grp");
  assert.match(staging, /^SELECT 'grp', 'public\.t', /);
  assert.match(staging, /count\(\*\), '0' FROM ONLY public\.t r GROUP BY \(r\.id::bigint >> 9\);$/);
  // Circular xid order by age: the watermark itself and what follows it are "since".
  assert.equal(writtenSince(4_294_967_000), "age(r.xmin) <= (SELECT age('4294967000'::xid))");
});

test("changed ranges next to each other are copied as one range", () => {
  const g = grouping({ ident: "public.t", pk: ["id"], pkType: "integer" }, 10_000);
  assert.equal(
    g.where(["2", "0", "1", "5"]),
    "(r.id >= 0 AND r.id < 1536) OR (r.id >= 2560 AND r.id < 3072)",
  );
  assert.equal(g.where([]), "false");
});

test("bigint keys above 2^53: group numbers and bounds exact, the last range without an upper bound", () => {
  const t = { ident: "public.t", pk: ["id"], pkType: "bigint" };
  const g = grouping(t, 10_000);
  // 2^60 + 1's group is 2^51 + 0 (2^60 >> 9); the row 2^60 + 513 is in the next one. As numbers,
  // (2^60 + 513) >> 9 would be computed from 2^60 + 512 (the nearest double): the wrong group.
  assert.equal(g.where(["2251799813685248"]), "(r.id >= 1152921504606846976 AND r.id < 1152921504606847488)");
  assert.equal(
    g.where(["-18014398509481984"]),
    "(r.id >= -9223372036854775808 AND r.id < -9223372036854775296)",
  );
  assert.equal(g.where(["18014398509481983"]), "(r.id >= 9223372036854775296)", "2^63 is beyond bigint");
  assert.equal(
    g.where(["9007199254740993", "9007199254740992"]),
    "(r.id >= 4611686018427387904 AND r.id < 4611686018427388928)",
    "two groups above 2^53, one apart, make one run",
  );
});

test("in the cold pass a group's rows copied and hashed by its bounds must be the rows counted by its number", () => {
  const counted = parseHashes([
    ["5", "10", "0"],
    ["9", "2", "0"],
  ]);
  assert.equal(
    groupsAstray(
      ["5", "9"],
      counted,
      parseHashes([
        ["5", "10", "1"],
        ["9", "2", "3"],
      ]),
      12,
    ),
    undefined,
  );
  assert.match(
    groupsAstray(["5"], counted, parseHashes([]), 0)!,
    /group 5 counted 10 rows, its bounds hold 0/,
  );
  assert.match(
    groupsAstray(
      ["9"],
      counted,
      parseHashes([
        ["9", "2", "3"],
        ["4", "1", "0"],
      ]),
      3,
    )!,
    /rows of group 4/,
  );
  assert.match(groupsAstray(["9"], counted, parseHashes([["9", "2", "3"]]), 5)!, /5 rows copied, 2 counted/);
});

test("hashed keys make groups of about 16 rows, at most 65,536 of them; a bytea key, the verification's ranges", () => {
  const b = { ident: "public.b", pk: ["guid"], pkType: "bytea" };
  assert.equal(grouping(b, 120_000).expr, groupExpr(b), "the groups the verification hashes next");
  assert.equal(grouping(b, 120_000).where(["7"]), groupFilter(b, ["7"]), "read by ranges of the index");
  const t = { ident: "public.b", pk: ["guid"], pkType: "text" };
  assert.equal(grouping(t, 120_000).expr, "(hashtext(ROW(r.guid)::text) & 8191)");
  assert.match(grouping(t, 100).expr, /& 7\)$/);
  assert.match(grouping(t, 50_000_000).expr, /& 65535\)$/);
  assert.equal(grouping({ ident: "public.n", pk: [] }, 1000).expr, "0");
  const two = { ident: "public.c", pk: ["a", "b"] };
  assert.equal(grouping(two, 1000).expr, "(hashtext(ROW(r.a, r.b)::text) & 63)");
  // No primary key: its row key (duplicate rows in one group), hashed the same way.
  const mr = { ident: "public.t_mailbox_record", pk: [], rowKey: ["container_id", "imap_uid"] };
  assert.equal(grouping(mr, 1000).expr, "(hashtext(ROW(r.container_id, r.imap_uid)::text) & 63)");
  assert.equal(
    grouping(mr, 1000).where(["3", "60"]),
    "(hashtext(ROW(r.container_id, r.imap_uid)::text) & 63) = ANY('{3,60}'::int[])",
  );
});

test("one scan batch covers every table, a statement each, the staging side in watermark mode counting only", () => {
  const tables = [
    { ident: "public.a", pk: ["id"], pkType: "bigint" },
    { ident: "public.b", pk: [] },
  ];
  const groups = new Map(tables.map((t) => [t.ident, grouping(t, 100)]));
  const origin = scanSql(tables, groups, "watermark", 77);
  assert.ok(!origin.includes("UNION"), "one statement per table: a UNION ALL of 664 plans in quadratic time");
  assert.equal(origin.split("\n").length, 2);
  assert.ok(origin.includes(writtenSince(77)));
  assert.ok(!scanSql(tables, groups, "watermark").includes("xmin"), "the staging side reads no xmin");
  assert.ok(scanSql(tables, groups, "hash").includes("md5((r.*)::text)"));
  assert.equal(scanSql([], groups, "hash"), "");
  // The whole table is one group: no GROUP BY (a constant there is a column position).
  assert.match(origin, /FROM ONLY public\.b r;$/);
});

test("tables are dealt into sessions of about equal size", () => {
  const t = (ident: string) => ({ ident, pk: [] });
  const tables = [t("a"), t("b"), t("c"), t("d")];
  const sizes = new Map([
    ["a", 100],
    ["b", 60],
    ["c", 50],
    ["d", 5],
  ]);
  const names = (parts: { ident: string }[][]) => parts.map((p) => p.map((x) => x.ident));
  assert.deepEqual(names(splitBySize(tables, sizes, 2)), [
    ["a", "d"],
    ["b", "c"],
  ]);
  assert.deepEqual(names(splitBySize(tables, sizes, 1)), [["a", "b", "c", "d"]]);
  assert.deepEqual(names(splitBySize(tables.slice(0, 1), sizes, 4)), [["a"]]);
  assert.deepEqual(
    names(splitBySize([], sizes, 2)),
    [[]],
    "one (empty) part: the session that reads the rest",
  );
});

test("the newest PostgreSQL's own binaries go first in PATH (not Debian's pg_wrapper, a Perl script per call)", () => {
  const root = mkdtempSync(join(tmpdir(), "pg-"));
  for (const [v, tools] of [
    ["9.6", ["psql", "pg_dump"]],
    ["15", ["psql", "pg_dump"]],
    ["16", ["psql"]], // a client-only leftover without pg_dump: not chosen
  ] as const) {
    mkdirSync(join(root, v, "bin"), { recursive: true });
    for (const t of tools) writeFileSync(join(root, v, "bin", t), "");
  }
  const env: NodeJS.ProcessEnv = { PATH: `/usr/bin:${root}/15/bin:/bin` };
  assert.equal(preferNewestPostgresBinaries(env, root), join(root, "15", "bin"));
  assert.equal(env["PATH"], `${root}/15/bin:/usr/bin:/bin`);
  const none: NodeJS.ProcessEnv = { PATH: "/usr/bin" };
  assert.equal(preferNewestPostgresBinaries(none, join(root, "absent")), undefined);
  assert.equal(none["PATH"], "/usr/bin");
});

test("the cold pass replaces changed rows only when the counts allow no deletion on the origin", () => {
  const pk = { ident: "public.t", pk: ["id"] };
  const o = (rows: number, since: number, keyed = since) => ({ rows, since, keyed, sinceHash: "0" });
  assert.equal(rowsToReplace(pk, 100, o(105, 5)), 0, "five rows added: none replaced");
  assert.equal(rowsToReplace(pk, 100, o(100, 3)), 3, "three rows updated: three replaced");
  assert.equal(rowsToReplace(pk, 100, o(103, 5)), 2, "two updated, three added");
  // A deletion and an insert keep the count: the counts cannot tell, the staging side's delete
  // will (it replaces fewer rows than expected, and the transaction is rolled back).
  assert.equal(rowsToReplace(pk, 100, o(100, 1)), 1);
  assert.equal(rowsToReplace(pk, 100, o(99, 0)), undefined, "a row deleted, nothing written");
  assert.equal(rowsToReplace(pk, 100, o(90, 20)), undefined, "more replaced than written: deletions");
  // A row key: the rows sharing the changed rows' keys (duplicates, the folder's other rows with
  // the same uid) are replaced too; any number of them.
  const rk = { ident: "public.m", pk: [], rowKey: ["container_id", "imap_uid"] };
  assert.equal(
    rowsToReplace(rk, 100, o(100, 1, 3)),
    3,
    "one of three duplicate rows updated: all three replaced",
  );
  assert.equal(rowsToReplace(rk, 100, o(101, 1, 4)), 3, "a fourth duplicate added");
  assert.equal(rowsToReplace(rk, 100, o(98, 0, 0)), undefined, "two rows deleted, nothing written");
});

test("the origin's side of the cold pass: one count per table, and the changed rows' count and hash", () => {
  const t = { ident: "public.t", pk: ["a", "b"], pkType: "" };
  const sql = tableChangesSql(t, 1505, "public.t", "tbl");
  assert.match(
    sql,
    /^SELECT 'tbl', 'public\.t', c\.n::text, coalesce\(cardinality\(c\.tids\), 0\)::text, a\.n::text, a\.h::text, /,
  );
  assert.ok(
    sql.includes(
      `FROM (SELECT count(*) AS n, array_agg(r.ctid) FILTER (WHERE ${writtenSince(1505)}) AS tids FROM ONLY public.t r) c, LATERAL`,
    ),
    "one scan reads every row's xmin and ctid, nothing else, and tests each xmin once",
  );
  assert.ok(
    sql.includes(`sum(${rowHash("x")}), 0) AS h FROM ONLY public.t x WHERE x.ctid = ANY(c.tids)`),
    "the changed rows are hashed where the scan found them",
  );
  assert.ok(!/GROUP BY/.test(sql), "no grouping");
  assert.ok(
    sql.includes("CASE WHEN coalesce(cardinality(c.tids), 0) <= 4000 THEN c.tids::text END"),
    "their places are sent unless there are too many for a command line",
  );
  assert.deepEqual(
    parseTableChanges([["public.t", "12", "2", "2", "-77", '{"(0,3)","(7,1)"}']]).get("public.t"),
    {
      rows: 12,
      since: 2,
      keyed: 2,
      sinceHash: "-77",
      tids: '{"(0,3)","(7,1)"}',
    },
  );
  const many = parseTableChanges([["public.t", "9000", "5000", "5000", "12", ""]]).get("public.t")!;
  assert.equal(many.tids, undefined);
  assert.equal(
    changedRowsCopySql(t, 1505, {
      rows: 12,
      since: 2,
      keyed: 2,
      sinceHash: "-77",
      tids: '{"(0,3)","(7,1)"}',
    }),
    `COPY (SELECT * FROM ONLY public.t r WHERE r.ctid = ANY('{"(0,3)","(7,1)"}'::tid[])) TO STDOUT`,
    "a few changed rows: fetched where they are",
  );
  assert.equal(
    changedRowsCopySql(t, 1505, many),
    `COPY (SELECT * FROM ONLY public.t r WHERE ${writtenSince(1505)}) TO STDOUT`,
    "many: found by their xmin again",
  );
  // A table without a primary key: every row sharing a changed row's row key, duplicates included,
  // on both sides (counted and hashed in the scan, copied, then checked on the staging side).
  const none = tableChangesSql({ ident: "public.n", pk: [] }, 1505, "public.n");
  assert.ok(
    none.includes("FROM ONLY public.n x WHERE x.ctid = ANY(c.tids)"),
    "no key at all: no key to share",
  );
  const mr = { ident: "public.t_mailbox_record", pk: [], rowKey: ["container_id", "imap_uid"] };
  const rk = tableChangesSql(mr, 1505, "public.t_mailbox_record");
  assert.ok(
    rk.includes(
      "FROM ONLY public.t_mailbox_record x WHERE (x.container_id, x.imap_uid) IN (SELECT r.container_id, r.imap_uid FROM ONLY public.t_mailbox_record r WHERE r.ctid = ANY(c.tids))",
    ),
    rk,
  );
  assert.equal(
    changedRowsCopySql(mr, 1505, { rows: 12, since: 1, keyed: 3, sinceHash: "-77", tids: '{"(0,3)"}' }),
    `COPY (SELECT * FROM ONLY public.t_mailbox_record x WHERE (x.container_id, x.imap_uid) IN (SELECT r.container_id, r.imap_uid FROM ONLY public.t_mailbox_record r WHERE r.ctid = ANY('{"(0,3)"}'::tid[]))) TO STDOUT`,
  );
  const { after } = replaceRowsSql(mr, 2, { rows: 12, since: 1, keyed: 3, sinceHash: "-77" });
  const script = after.join("\n");
  assert.ok(script.includes("WHERE (r.container_id, r.imap_uid) = (x.container_id, x.imap_uid)"));
  assert.ok(
    script.includes("IF n <> 2 THEN"),
    "the rows of the staging side with those keys: all of them, exactly",
  );
  assert.ok(script.includes("<> (3::bigint, '-77')"), "the three rows with the key, as the origin's");
});

test("the staging side replaces by the whole key, and rolls back on a deletion or a difference", () => {
  const t = { ident: "public.t", pk: ["a", "b"], pkType: "" };
  const { before, after } = replaceRowsSql(t, 3, { rows: 10, since: 4, keyed: 4, sinceHash: "99" });
  assert.match(before, /^CREATE TEMPORARY TABLE \w+ \(LIKE public\.t\) ON COMMIT DROP$/);
  const script = after.join("\n");
  assert.ok(script.includes("USING bm_migrate_changed_rows x WHERE (r.a, r.b) = (x.a, x.b)"));
  assert.ok(script.includes(`IF n <> 3 THEN RAISE EXCEPTION '${DELETED_ON_ORIGIN}`));
  assert.ok(script.includes("INSERT INTO public.t OVERRIDING SYSTEM VALUE SELECT * FROM"));
  assert.ok(script.includes("<> (4::bigint, '99')"), "the copied rows' count and hash as the origin's");
  assert.ok(
    after.indexOf(after.find((s) => s.startsWith("INSERT"))!) > after.findIndex((s) => s.includes("DELETE")),
  );
});

test("a table goes by groups only when it has no key: any name goes by its changed rows", () => {
  assert.equal(byRowsObstacle({ ident: "public.t", pk: ["id"] }), undefined);
  assert.equal(byRowsObstacle({ ident: "public.t", pk: [], rowKey: ["a"] }), undefined);
  assert.equal(byRowsObstacle({ ident: "public.t", pk: [] }), "no primary key, no index of NOT NULL columns");
  assert.equal(byRowsObstacle({ ident: 'public."a$bm$b"', pk: ["id"] }), undefined);
  assert.equal(byRowsObstacle({ ident: "public.t", pk: ['"k$"'] }), undefined);
});

test("the staging side's dollar-quoted checks use a tag no name holds", () => {
  assert.equal(dollarQuoteTag(["public.t", "id"]), "$bm$");
  assert.equal(dollarQuoteTag(['public."a$bm$b"', '"$"']), "$bm1$");
  assert.equal(dollarQuoteTag(['public."$bm$"', '"$bm1$"']), "$bm2$");
  const t = { ident: 'public."we$bm$ird"', pk: ['"k$bm1$"'], pkType: "" };
  const { after } = replaceRowsSql(t, 1, { rows: 1, since: 1, keyed: 1, sinceHash: "1" });
  for (const block of after.filter((x) => x.startsWith("DO "))) {
    assert.ok(block.startsWith("DO $bm2$") && block.endsWith("$bm2$"), block);
    assert.equal(block.split("$bm2$").length, 3, "the tag opens and closes the block only");
  }
});

test("row hashes read the whole row, even when a column is named like the alias", () => {
  assert.match(rowHash("x"), /md5\(\(x\.\*\)::text\)/);
  const t = { ident: "public.t", pk: ['"x"'], pkType: "" };
  assert.ok(!/md5\(x::text\)/.test(tableChangesSql(t, 5, "public.t")));
});

test("primary key columns come as a JSON array: a name may hold a comma or a quote", () => {
  assert.deepEqual(parsePk('["id", "\\"a,b\\"", "\\"Mixed \\"\\"Case\\"\\"\\""]'), [
    "id",
    '"a,b"',
    '"Mixed ""Case"""',
  ]);
  assert.deepEqual(parsePk(""), []);
});

test("database delta groups rows by integer key ranges, else by key hash, else the whole table", () => {
  const byRange = grouping({ ident: "public.t", pk: ["id"], pkType: "bigint" }, 100000);
  assert.equal(byRange.expr, "(r.id::bigint >> 9)");
  assert.equal(byRange.where(["0", "2"]), "(r.id >= 0 AND r.id < 512) OR (r.id >= 1024 AND r.id < 1536)");
  const byHash = grouping({ ident: "public.b", pk: ["guid"], pkType: "text" }, 100000);
  assert.equal(byHash.expr, "(hashtext(ROW(r.guid)::text) & 8191)");
  assert.equal(grouping({ ident: "public.n", pk: [] }, 10).where(["0"]), "true");
  const a = parseHashes([
    ["1", "10", "abc"],
    ["2", "5", "def"],
  ]);
  const b = parseHashes([
    ["1", "10", "abc"],
    ["2", "5", "xyz"],
    ["3", "1", "q"],
  ]);
  assert.deepEqual(differingKeys(a, b), ["2", "3"]);
});

test("a table whose every row is a new version is rewritten (pg_repack), compared by group hashes rather than copied", () => {
  const o = (rows: number, since: number) => ({ rows, since, keyed: since, sinceHash: "0" });
  assert.ok(rewritten(o(100_000, 100_000)), "every row a new version");
  assert.ok(!rewritten(o(6_000, 4_500)), "three quarters updated: by its rows");
  assert.ok(!rewritten(o(100_000, 10_000)), "a tenth changed: by its rows");
  assert.ok(!rewritten(o(500, 500)), "a small table: copied, no faster to hash");
});

test("changed rows go in batches of tables, each batch's SQL within one command-line argument", () => {
  const item = (i: number, tids = "") => ({
    t: { ident: `public.t_part_${i}`, pk: [], rowKey: ["folder_id", "conversation_id"] },
    replaced: 1,
    want: { rows: 100, since: 1, keyed: 1, sinceHash: "5", ...(tids ? { tids } : {}) },
  });
  const few = Array.from({ length: 200 }, (_, i) => item(i, '{"(0,1)"}'));
  const batches = rowBatches(few, 77);
  assert.ok(batches.length >= 4 && batches.length <= 8, `${batches.length} batches of 200 partitions`);
  assert.deepEqual(
    batches.flat().map((x) => x.t.ident),
    few.map((x) => x.t.ident),
    "every table once, in order",
  );
  // Two tables whose changed rows' places take 56 KiB each never share a batch (Linux takes at
  // most 128 KiB for one argument).
  const places = `{${Array.from({ length: 4000 }, () => '"(123456,12)"').join(",")}}`;
  const mixed = rowBatches([item(1), item(998, places), item(999, places), item(2)], 77);
  assert.deepEqual(
    mixed.map((b) => b.map((x) => x.t.ident)),
    [
      ["public.t_part_1", "public.t_part_998"],
      ["public.t_part_999", "public.t_part_2"],
    ],
  );
});
