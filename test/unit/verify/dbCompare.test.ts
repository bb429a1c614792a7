// The comparison of database manifests, with what a PostgreSQL major upgrade implies.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDifference } from "../../../src/verify/compare.js";
import type { DbManifest } from "../../../src/database/manifest.js";
import { compareDbManifests } from "../../../src/verify/dbCompare.js";

void test("database differences: rows, content, sequence values, owners, missing and extra objects", () => {
  const m = (rows: [string, string, Record<string, unknown>][]): DbManifest =>
    new Map(rows.map(([k, n, a]) => [`${k}\x1f${n}`, a]));
  const origin = m([
    ["table", "public.t_mailbox_record", { owner: "bj", grants: "", definition: "x" }],
    ["rows", "public.t_mailbox_record", { rows: 8000, hash: "1" }],
    ["table", "public.t_same_count", { owner: "bj", grants: "", definition: "y" }],
    ["rows", "public.t_same_count", { rows: 5, hash: "1" }],
    ["sequence value", "public.s", { last_value: 123, is_called: true }],
    ["table", "public.only_origin", { owner: "bj", grants: "", definition: "z" }],
    ["rows", "public.only_origin", { rows: 1, hash: "1" }],
  ]);
  const target = m([
    ["table", "public.t_mailbox_record", { owner: "postgres", grants: "", definition: "x" }],
    ["rows", "public.t_mailbox_record", { rows: 7998, hash: "1" }],
    ["table", "public.t_same_count", { owner: "bj", grants: "", definition: "y" }],
    ["rows", "public.t_same_count", { rows: 5, hash: "2" }],
    ["sequence value", "public.s", { last_value: 120, is_called: true }],
    ["view", "public.only_target", { owner: "bj", grants: "", definition: "v" }],
  ]);
  const { differences, counts } = compareDbManifests("bj-data", origin, target);
  assert.deepEqual(differences.map(formatDifference).sort(), [
    "bj-data: sequence public.s: last_value 123 vs 120",
    "bj-data: table public.only_origin: missing on target",
    "bj-data: table public.t_mailbox_record: 8000 rows vs 7998",
    "bj-data: table public.t_mailbox_record: owner differs: bj vs postgres",
    "bj-data: table public.t_same_count: content differs (5 rows on both)",
    "bj-data: view public.only_target: extra on target",
  ]);
  assert.deepEqual(counts, { tables: 3, rows: 8006 });
});
