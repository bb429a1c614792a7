// Row groups of integer keys, fed seeded random keys around 2^53 and 2^63 (hash- or time-derived
// bigint ids): a group number as PostgreSQL prints it (`key >> 9`, a bigint) must come back from
// the parser as a group of its own, and the range the filter asks for must hold the key. Part of
// issue #25's invariant test (item 6). The seed is printed; BM_PROPERTY_SEED=S replays it.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  GROUP_BITS,
  groupFilter,
  groupMap,
  parseGroupLines,
  type GroupTable,
} from "../../../src/database/rowGroups.js";
import { seededRandom } from "../../../lab/seeded.js";

const SEED = Number(process.env["BM_PROPERTY_SEED"] ?? Date.now() % 1_000_000);
const T: GroupTable = { ident: '"public"."hostile_big"', pk: ['"id"'], pkType: "bigint" };
const MIN = -(2n ** 63n);
const MAX = 2n ** 63n - 1n;

/** Random keys near the edges where a double loses integers, and near the ends of bigint. */
function keys(rng: () => number, n: number): bigint[] {
  const bases = [2n ** 53n, -(2n ** 53n), 2n ** 62n, MAX, MIN, 2n ** 54n + 3n];
  return Array.from({ length: n }, () => {
    const base = bases[Math.floor(rng() * bases.length)]!;
    const k = base + BigInt(Math.floor((rng() - 0.5) * 4096));
    return k > MAX ? MAX : k < MIN ? MIN : k;
  });
}

/** PostgreSQL's `key >> 9` on a bigint: an arithmetic shift (floor), printed in full. */
const pgGroup = (k: bigint): string => (k >> BigInt(GROUP_BITS)).toString();

/** The [lo, hi) bounds the filter's SQL asks for, read back as exact integers (the last range of
 * bigint has no upper bound: 2^63 is beyond bigint). */
function ranges(sql: string): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (const m of sql.matchAll(
    />=\s*\(?(-?[0-9.e+]+)\)?(?:::bigint)?(?:\s+AND\s+\S+\s*<\s*\(?(-?[0-9.e+]+)\)?)?/g,
  )) {
    const lo = m[1]!;
    const hi = m[2] ?? (2n ** 63n).toString();
    assert.match(lo, /^-?\d+$/, `a bound that is not an exact integer: ${lo} in ${sql}`);
    assert.match(hi, /^-?\d+$/, `a bound that is not an exact integer: ${hi} in ${sql}`);
    out.push([BigInt(lo), BigInt(hi)]);
  }
  return out;
}

test(`seeded bigint keys (seed ${SEED}): each key's group is its own and its range holds the key`, (t) => {
  t.diagnostic(`seed ${SEED} (BM_PROPERTY_SEED=${SEED} replays it)`);
  const rng = seededRandom(SEED);
  for (const k of keys(rng, 400)) {
    const g = pgGroup(k);
    // The group beside it too: two groups must stay two once parsed.
    const stdout = `${T.ident}\x1f${g}\x1f1\x1f0\n${T.ident}\x1f${(BigInt(g) + 1n).toString()}\x1f1\x1f0\n`;
    const lines = parseGroupLines(stdout);
    assert.equal(
      groupMap(lines).get(T.ident)?.size,
      2,
      `seed ${SEED}: groups ${g} and ${g} + 1 became one (key ${k})`,
    );
    const sql = groupFilter(T, [lines[0]!.group]);
    const rs = ranges(sql);
    assert.ok(rs.length > 0, `seed ${SEED}: no range read in ${sql}`);
    assert.ok(
      rs.some(([lo, hi]) => lo <= k && k < hi),
      `seed ${SEED}: key ${k} (group ${g}) outside the ranges of ${sql}`,
    );
  }
});
