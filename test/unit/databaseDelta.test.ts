// The database delta's pure parts: the marks kept in the staging database's comment, when a
// watermark may be trusted, and the per-group queries both servers run.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatMarks,
  groupChangesSql,
  grouping,
  parseMarks,
  watermarkOf,
  watermarkUsable,
  writtenSince,
} from "../../src/phases/databaseDelta.js";
import { preferNewestPostgresBinaries } from "../../src/adapters/pgTools.js";
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
    /^\(SELECT 'public\.t', \(floor\(r\.id \/ 2048\.0\)::bigint\)::text AS b, count\(\*\), sum\(CASE WHEN/,
  );
  assert.ok(origin.includes(writtenSince(1505)));
  assert.match(origin, /GROUP BY 2\)$/);
  const staging = groupChangesSql(t, g, undefined, "public.t");
  assert.match(staging, /count\(\*\), '0' FROM ONLY public\.t r GROUP BY 2\)$/);
  // Circular xid order: the watermark itself and what follows it are "since"; frozen/bootstrap xids never.
  assert.equal(
    writtenSince(4_294_967_000),
    "(r.xmin::text::bigint >= 3 AND (r.xmin::text::bigint - 4294967000 + 4294967296) % 4294967296 < 2147483648)",
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
