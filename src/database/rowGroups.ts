/**
 * Database verification by groups of rows, so that the proof made ahead (while the origin serves)
 * leaves only a few groups to prove during the downtime.
 *
 * Every table's rows fall in stable groups: ranges of 512 values of an integer primary key, 65,536
 * ranges of a bytea key by its first 16 bits (BlueMind's message bodies are keyed by their guid, a
 * hash: evenly spread, so a new body lands anywhere; small groups keep the rows hashed for each one
 * few), else 1,024 buckets of a hash of the key, else the whole table. The group of
 * a row depends on its key alone, never on the table's size, so a group means the same rows ahead
 * and in the downtime. Ranges of a key are read through its index: proving a few groups reads only
 * their rows, where buckets of a hash need the whole table scanned.
 *
 * Ahead: both servers give each group's row count and an order-independent hash of its rows (the
 * sum of 60 bits of each row's md5, as `verify` does for whole tables); the groups that differ are
 * the ones the origin changed since the last hot pass (or a copy got wrong). Each side's watermark
 * is noted before the ahead reads it (its snapshot's xmin: a row version from a transaction not
 * older than that may not have been seen), and the origin's count of every group is kept.
 *
 * In the downtime, each side gives each table's row count and the groups holding row versions
 * written since its own watermark (the origin's from the cold copy's own scan, when nothing has
 * committed there since); both hash the groups that differed ahead or were written since on either
 * side. Any other group holds, on each side, only rows it held ahead (rows can only have gone from
 * it: a deletion leaves no row version behind); so when the rows outside the hashed groups add up,
 * on each side, to the ahead's count of those groups, none has gone and they are equal. A table
 * whose rows do not add up is counted by group on both sides, and the groups that lost rows are
 * hashed too. The target's watermark means the proof does not rely on what the copy did to it.
 */
import { shellQuote } from "../adapters/process.js";
import { rowHash, writtenSince } from "./rowVersions.js";

/** A table as the group queries need it. */
export interface GroupTable {
  /** schema.table, quoted for SQL. */
  ident: string;
  /** Primary key columns, quoted; empty when none. */
  pk: string[];
  /** The type of a one-column primary key, e.g. "bigint". */
  pkType?: string;
  /**
   * A table without a primary key: the columns that stand for one (quoted; all NOT NULL), from a
   * unique index (`unique`), else from the narrowest index that localises the table's writes (see
   * databaseDelta.ts's TABLES_SQL). Rows are grouped by them; duplicate rows stay together.
   */
  rowKey?: string[];
  /** Whether `rowKey` is unique (a unique index of NOT NULL columns). */
  rowKeyUnique?: boolean;
  /** The type of the row key's first column, e.g. "integer". */
  rowKeyType?: string;
}

/**
 * A group's number as PostgreSQL writes it, decimal text: exact for every key, where a JavaScript
 * number loses the low bits of a bigint above 2^53 (a range bound or group number would then
 * name other rows, or none).
 */
export type GroupKey = string;

/** A group number read from PostgreSQL's output (an integer's decimal text, kept as it is). */
export function groupKey(text: string): GroupKey {
  if (!/^-?\d+$/.test(text)) throw new Error(`malformed group number: ${JSON.stringify(text.slice(0, 40))}`);
  return text;
}

/** Group numbers in numeric order (exact, as big integers). */
export const compareGroups = (a: GroupKey, b: GroupKey): number => {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** The columns a table's rows are grouped by: its primary key, else its row key, else none. */
export const keyColumns = (t: GroupTable): string[] => (t.pk.length ? t.pk : (t.rowKey ?? []));

/** Rows per range of an integer key; buckets of a hashed key. */
export const GROUP_BITS = 9;
export const HASH_BUCKETS = 1024;
/** Beyond this many differing groups in one table, the downtime hashes the whole table. */
export const MAX_GROUPS_KEPT = 4096;

const INTEGER_TYPES = new Set(["smallint", "integer", "bigint"]);

/**
 * Which grouping an ahead record's groups were made with: a record made otherwise (by another
 * release of bm-migrate) numbers its groups differently, and its databases are compared whole.
 */
export const GROUPING = "int-ranges-exact/bytea-prefix-16/hash-1024-masked/rowkey-first-int";

const isBytea = (t: GroupTable): boolean => t.pk.length === 1 && t.pkType === "bytea";

/** A bytea key's group: its first 16 bits; keys shorter than 2 bytes make group -1. */
const BYTEA_PREFIX_BITS = 16;

/** The 2-byte bytea that starts bytea group `n` (hex). */
const byteaBound = (n: number): string => (n << (16 - BYTEA_PREFIX_BITS)).toString(16).padStart(4, "0");

/**
 * A table without a primary key whose row key starts with an integer (BlueMind's folder, as
 * `t_mailbox_record`'s container_id): one group per value of that column, read through the row
 * key's index; BlueMind writes a folder's records together, so a change makes few groups.
 */
const byRowKeyValue = (t: GroupTable): string | undefined =>
  !t.pk.length && t.rowKey?.length && INTEGER_TYPES.has(t.rowKeyType ?? "") ? `r.${t.rowKey[0]}` : undefined;

/** The SQL expression of a row's group (the row is aliased `r`). */
export function groupExpr(t: GroupTable): string {
  const v = byRowKeyValue(t);
  if (v) return `(${v}::bigint)`;
  if (t.pk.length === 1 && INTEGER_TYPES.has(t.pkType ?? ""))
    return `(r.${t.pk[0]}::bigint >> ${GROUP_BITS})`;
  if (isBytea(t)) {
    const k = `r.${t.pk[0]}`;
    const low = 16 - BYTEA_PREFIX_BITS;
    return `(CASE WHEN length(${k}) < 2 THEN -1 ELSE (get_byte(${k}, 0) << ${BYTEA_PREFIX_BITS - 8}) | (get_byte(${k}, 1)${low ? ` >> ${low}` : ""}) END)`;
  }
  const key = keyColumns(t);
  // Masked, not abs() % n: abs(-2^31) overflows an integer and fails the whole statement.
  if (key.length > 0)
    return `(hashtext(ROW(${key.map((c) => `r.${c}`).join(", ")})::text) & ${HASH_BUCKETS - 1})`;
  return "0";
}

const INT8_MAX = 2n ** 63n - 1n;

/** Rows restricted to the given groups: index ranges for an integer key, else a filter. */
export function groupFilter(t: GroupTable, groups: readonly GroupKey[]): string {
  if (groups.length === 0) return "false";
  if (t.pk.length === 1 && INTEGER_TYPES.has(t.pkType ?? "")) {
    // Bounds in big integers: exact for every bigint, and the last range (whose upper bound would
    // be 2^63, beyond bigint) has none.
    const col = `r.${t.pk[0]}`;
    return runs(groups)
      .map(([a, b]) => {
        const hi = (b + 1n) << BigInt(GROUP_BITS);
        const upper = hi > INT8_MAX ? "" : ` AND ${col} < ${hi}`;
        return `(${col} >= ${a << BigInt(GROUP_BITS)}${upper})`;
      })
      .join(" OR ");
  }
  const v = byRowKeyValue(t);
  if (v)
    return runs(groups)
      .map(([a, b]) => (a === b ? `${v} = ${a}` : `(${v} >= ${a} AND ${v} <= ${b})`))
      .join(" OR ");
  if (isBytea(t)) {
    // Byte strings sort as memcmp does: group n is [bound(n), bound(n + 1)), among keys of 2 bytes
    // or more (a shorter key sorts inside those ranges, but is in group -1).
    const k = `r.${t.pk[0]}`;
    const last = 2 ** BYTEA_PREFIX_BITS - 1;
    const parts = runs(groups).flatMap(([x, y]) => {
      const [a, b] = [Number(x), Number(y)];
      const out: string[] = [];
      if (a < 0) out.push(`length(${k}) < 2`);
      const lo = Math.max(a, 0);
      if (b < lo) return out;
      const upper = b >= last ? "" : ` AND ${k} < decode('${byteaBound(b + 1)}', 'hex')`;
      out.push(`(${k} >= decode('${byteaBound(lo)}', 'hex')${upper} AND length(${k}) >= 2)`);
      return out;
    });
    return parts.join(" OR ");
  }
  return `${groupExpr(t)} IN (${[...new Set(groups.map((g) => BigInt(g)))].join(", ")})`;
}

/** Group numbers as runs of consecutive ones, in order, exact: [[a, b], ...]. */
export function runs(groups: readonly GroupKey[]): [bigint, bigint][] {
  const s = [...new Set(groups.map((g) => BigInt(g)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const n of s) {
    const last = out.at(-1);
    if (last && n === last[1] + 1n) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** Each group's count and hash (ahead; or only the given groups). Output: ident, group, rows, hash. */
export function groupHashSql(t: GroupTable, groups?: readonly GroupKey[]): string {
  const where = groups ? ` WHERE ${groupFilter(t, groups)}` : "";
  return `SELECT ${quote(t.ident)}, ${groupExpr(t)} AS g, count(*), coalesce(sum(${rowHash("r")}), 0) FROM ONLY ${t.ident} r${where} GROUP BY 2;`;
}

/** Each group's count, and on the origin how many of its row versions were written since `w32`. */
export function groupCountSql(t: GroupTable, w32?: number): string {
  const fresh = w32 === undefined ? "0" : `count(*) FILTER (WHERE ${writtenSince(w32)})`;
  return `SELECT ${quote(t.ident)}, ${groupExpr(t)} AS g, count(*), ${fresh} FROM ONLY ${t.ident} r GROUP BY 2;`;
}

/**
 * A table's row count, and the groups holding row versions written since `w32` (the side's own
 * watermark; comma-separated). One scan with no grouping: the groups are computed for the fresh
 * rows only. Output: ident, rows, groups.
 */
export function tableTotalSql(t: GroupTable, w32: number): string {
  return `SELECT ${quote(t.ident)}, count(*), coalesce(array_to_string(array_agg(DISTINCT ${groupExpr(t)}) FILTER (WHERE ${writtenSince(w32)}), ','), '') FROM ONLY ${t.ident} r;`;
}

/**
 * The groups of the rows at the given places (ctids, a PostgreSQL array) written since `w32`: the
 * fresh rows the cold copy's own scan found, when the origin has not changed since it.
 */
export function freshGroupsAtSql(t: GroupTable, tids: string, w32: number): string {
  return `SELECT ${quote(t.ident)}, count(*), coalesce(array_to_string(array_agg(DISTINCT ${groupExpr(t)}), ','), '') FROM ONLY ${t.ident} r WHERE r.ctid = ANY(${quote(tids)}::tid[]) AND ${writtenSince(w32)};`;
}

/** A table's total: its rows, and the groups written since the watermark. */
export interface TableTotal {
  rows: number;
  fresh: GroupKey[];
}

/** psql output of the two statements above: ident -> total. */
export function parseTotals(stdout: string): Map<string, TableTotal> {
  const out = new Map<string, TableTotal>();
  for (const line of stdout.split("\n")) {
    if (!line.trim()) continue;
    const [ident, n, groups] = line.split("\x1f");
    if (ident === undefined || n === undefined || groups === undefined || !/^\d+$/.test(n))
      throw new Error(`malformed table total: ${JSON.stringify(line.slice(0, 200))}`);
    out.set(ident, { rows: Number(n), fresh: groups ? groups.split(",").map(groupKey) : [] });
  }
  return out;
}

/**
 * Whether the groups of one table that were not hashed are equal on both sides, from the totals.
 * Each was equal on both sides ahead, with `counts` rows (the ahead's, by group), and has no row
 * version written since on either side: every row it holds now it held then, on each side. Rows
 * can only have gone; so when each side's rows outside the hashed groups add up to the ahead's
 * count of those groups, none has, on either side, and they are equal.
 */
export function totalsProve(
  counts: ReadonlyMap<GroupKey, number>,
  hashed: readonly GroupKey[],
  origin: { rows: number; hashed: Map<GroupKey, [string, string]> | undefined },
  target: { rows: number; hashed: Map<GroupKey, [string, string]> | undefined },
): boolean {
  let rest = 0;
  for (const n of counts.values()) rest += n;
  for (const g of hashed) rest -= counts.get(g) ?? 0;
  const outside = (side: typeof origin): number =>
    hashed.reduce((n, g) => n - Number(side.hashed?.get(g)?.[0] ?? 0), side.rows);
  return outside(origin) === rest && outside(target) === rest;
}

/**
 * Whether the groups a side's totals found rows in (by their group numbers) hold rows when hashed
 * (by their bounds), on a side that did not change in between: the first group that does not,
 * else undefined. One that does not means the bounds select other rows than the numbers name
 * (a key beyond a JavaScript number's precision did): the proof would hash the same wrong rows on
 * both sides, so it must fail rather than pass.
 */
export function groupAstray(
  fresh: readonly GroupKey[],
  hashed: ReadonlyMap<GroupKey, [string, string]> | undefined,
): GroupKey | undefined {
  return fresh.find((g) => Number(hashed?.get(g)?.[0] ?? 0) === 0);
}

/** One line per group: ident, group, two numbers (count and hash, or count and fresh rows). */
export interface GroupLine {
  ident: string;
  group: GroupKey;
  a: string;
  b: string;
}

/** psql -A -t -F '\x1f' output of the statements above. */
export function parseGroupLines(stdout: string): GroupLine[] {
  const out: GroupLine[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.trim()) continue;
    const [ident, g, a, b] = line.split("\x1f");
    if (ident === undefined || g === undefined || a === undefined || b === undefined)
      throw new Error(`malformed group line: ${JSON.stringify(line.slice(0, 200))}`);
    out.push({ ident, group: groupKey(g), a, b });
  }
  return out;
}

/** ident -> group -> [a, b]. */
export type GroupMap = Map<string, Map<GroupKey, [string, string]>>;

export function groupMap(lines: readonly GroupLine[]): GroupMap {
  const m: GroupMap = new Map();
  for (const l of lines) setGroup(m, l.ident, l.group, [l.a, l.b]);
  return m;
}

/** Add `from`'s groups to `into` (a group in both takes `from`'s pair). */
export function mergeGroups(into: GroupMap, from: GroupMap): void {
  for (const [ident, groups] of from) for (const [g, pair] of groups) setGroup(into, ident, g, pair);
}

function setGroup(m: GroupMap, ident: string, group: GroupKey, pair: [string, string]): void {
  let t = m.get(ident);
  if (!t) m.set(ident, (t = new Map<GroupKey, [string, string]>()));
  t.set(group, pair);
}

/** The groups of each table whose pair differs between the two maps (or is on one side only). */
export function differingGroups(
  tables: readonly GroupTable[],
  a: GroupMap,
  b: GroupMap,
): Map<string, GroupKey[]> {
  const out = new Map<string, GroupKey[]>();
  for (const t of tables) {
    const x = a.get(t.ident) ?? new Map<GroupKey, [string, string]>();
    const y = b.get(t.ident) ?? new Map<GroupKey, [string, string]>();
    const diff: GroupKey[] = [];
    for (const g of new Set([...x.keys(), ...y.keys()])) {
      const p = x.get(g);
      const q = y.get(g);
      if (!p || !q || p[0] !== q[0] || p[1] !== q[1]) diff.push(g);
    }
    if (diff.length) out.set(t.ident, diff.sort(compareGroups));
  }
  return out;
}

/** What the ahead proof left to prove in one table: some groups, or all of them. */
export type AheadTable = GroupKey[] | "all";

/**
 * When the totals of a table do not add up (rows went from groups that were not hashed, on one
 * side or both): the groups outside those hashed whose counts now differ from the ahead's on
 * either side, or that hold rows written since (`b` of a count line). Hashing them too proves
 * the table: every other group holds, on each side, exactly the rows it held ahead.
 */
export function groupsBeyondTotals(
  counts: ReadonlyMap<GroupKey, number>,
  hashed: readonly GroupKey[],
  origin: Map<GroupKey, [string, string]> | undefined,
  target: Map<GroupKey, [string, string]> | undefined,
): GroupKey[] {
  const done = new Set(hashed);
  const o = origin ?? new Map<GroupKey, [string, string]>();
  const t = target ?? new Map<GroupKey, [string, string]>();
  const out: GroupKey[] = [];
  for (const g of new Set([...counts.keys(), ...o.keys(), ...t.keys()])) {
    if (done.has(g)) continue;
    const want = String(counts.get(g) ?? 0);
    const [on = "0", of = "0"] = o.get(g) ?? [];
    const [tn = "0", tf = "0"] = t.get(g) ?? [];
    if (on !== want || tn !== want || Number(of) > 0 || Number(tf) > 0) out.push(g);
  }
  return out.sort(compareGroups);
}

/** psql's arguments for one statement batch (the caller adds connection options). */
export const GROUP_PSQL_ARGS = ["-X", "-w", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1"];

/** For the log: what a batch of group statements does, without the SQL itself. */
export function describeBatch(kind: "hashes" | "counts", tables: number): string {
  return `psql ${shellQuote(`<${kind} of row groups, ${tables} tables>`)}`;
}
