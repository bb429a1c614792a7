// What a cold sync copies again before its downtime: the paths the last verification ahead, or a
// verification that failed, found different (issue 25, item 10: re-checked but never re-copied,
// they failed every downtime's verification again).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { JournalRecord } from "../../../src/engine/journal.js";
import { aheadDifferences } from "../../../src/phases/recopy.js";

const dirs = ["/var/spool/cyrus", "/var/spool/bm-docs", "/var/lib/cyrus"];

void test("the ahead's differing paths, by directory, with every parent, parents first; a directory compared whole is left to the final copy", () => {
  const records: JournalRecord[] = [
    {
      t: "1",
      type: "verify-ahead",
      files: {
        "/var/spool/cyrus": { paths: ["data/u/1.", "data", "data/u", "."] },
        "/var/spool/bm-docs": { paths: [] },
        "/var/lib/cyrus": { whole: "no change journal runs" },
        "/elsewhere": { paths: ["x"] },
      },
    },
  ];
  assert.deepEqual(
    [...aheadDifferences(records, dirs)],
    [["/var/spool/cyrus", [".", "data", "data/u", "data/u/1."]]],
  );
});

void test("a path that would leave its directory is never copied", () => {
  const records: JournalRecord[] = [
    {
      t: "1",
      type: "verify-ahead",
      files: { "/var/spool/cyrus": { paths: ["../etc/shadow", "/abs", "a/../b", "ok"] } },
    },
  ];
  assert.deepEqual([...aheadDifferences(records, dirs)], [["/var/spool/cyrus", [".", "ok"]]]);
});

void test("a failed verification's file differences too (the separate commands: cold-sync, verify, rollback, cold-sync)", () => {
  const records: JournalRecord[] = [
    {
      t: "2",
      type: "verify-result",
      ok: false,
      differences: [
        { where: "/var/spool/bm-docs/a/doc", what: "content differs" },
        { where: "/var/spool/bm-docs", what: "mtime differs" },
        { where: "bj-data: table public.t", what: "row count differs" },
        { where: "/etc/bm/bm.ini", what: "content differs" },
      ],
      counts: { files: 0, dirs: 0, bytes: 0, tables: 0, rows: 0 },
      durationMs: 1,
    },
  ];
  assert.deepEqual([...aheadDifferences(records, dirs)], [["/var/spool/bm-docs", [".", "a", "a/doc"]]]);
  assert.deepEqual(
    [...aheadDifferences([{ ...records[0]!, ok: true }], dirs)],
    [],
    "a passing verification leaves nothing to copy",
  );
});

void test("the ahead's differing row groups, by database and table, only when numbered as today's verification numbers them", async () => {
  const { GROUPING } = await import("../../../src/database/rowGroups.js");
  const { aheadGroupDifferences } = await import("../../../src/phases/recopy.js");
  const records: JournalRecord[] = [
    {
      t: "1",
      type: "verify-ahead",
      databases: {
        bj: {
          watermark: 1,
          grouping: GROUPING,
          tables: { "public.t_a": ["3", "7"], "public.t_b": "all", "public.t_c": [] },
        },
        "bj-data": { watermark: 1, grouping: "another release's", tables: { "public.t_d": [1] } },
        keycloak: { whole: "no staging copy" },
      },
    },
  ];
  assert.deepEqual(
    [...aheadGroupDifferences(records, ["bj", "bj-data", "keycloak"])].map(([db, m]) => [db, [...m]]),
    [
      [
        "bj",
        [
          ["public.t_a", ["3", "7"]],
          ["public.t_b", "all"],
        ],
      ],
    ],
  );
});
