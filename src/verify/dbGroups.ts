/**
 * Database verification by groups of rows, so that the proof made ahead (while the origin serves)
 * leaves only a few groups to prove during the downtime.
 *
 * Every table's rows fall in stable groups: ranges of 512 values of an integer primary key, 1,024
 * ranges of a bytea key by its first 10 bits (BlueMind's message bodies are keyed by their guid, a
 * hash: evenly spread), else 1,024 buckets of a hash of the key, else the whole table. The group of
 * a row depends on its key alone, never on the table's size, so a group means the same rows ahead
 * and in the downtime. Ranges of a key are read through its index: proving a few groups reads only
 * their rows, where buckets of a hash need the whole table scanned.
 *
 * Ahead: both servers give each group's row count and an order-independent hash of its rows (the
 * sum of 60 bits of each row's md5, as `verify` does for whole tables); the groups that differ are
 * the ones the origin changed since the last hot pass (or a copy got wrong). In the downtime: the
 * origin counts each group's rows and those written since the watermark noted before the ahead
 * read anything (its snapshot's xmin: a row version from a transaction not older than that may not
 * have been seen), the target counts each group's rows; then both hash only the groups that
 * differed ahead, that the origin wrote since, or whose counts differ (a deletion leaves no row
 * version behind, but one row fewer). Every other group was equal ahead and has not changed since.
 */
import { shellQuote } from "../adapters/process.js";
import { rowHash, writtenSince } from "../phases/rowVersions.js";

/** A table as the group queries need it. */
export interface GroupTable {
  /** schema.table, quoted for SQL. */
  ident: string;
  /** Primary key columns, quoted; empty when none. */
  pk: string[];
  /** The type of a one-column primary key, e.g. "bigint". */
  pkType?: string;
}

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
export const GROUPING = "int-ranges/bytea-prefix/hash-1024";

const isBytea = (t: GroupTable): boolean => t.pk.length === 1 && t.pkType === "bytea";

/** A bytea key's group: its first 10 bits; keys shorter than 2 bytes make group -1. */
const BYTEA_PREFIX_BITS = 10;

/** The 2-byte bytea that starts bytea group `n` (hex). */
const byteaBound = (n: number): string => (n << (16 - BYTEA_PREFIX_BITS)).toString(16).padStart(4, "0");

/** The SQL expression of a row's group (the row is aliased `r`). */
export function groupExpr(t: GroupTable): string {
  if (t.pk.length === 1 && INTEGER_TYPES.has(t.pkType ?? ""))
    return `(r.${t.pk[0]}::bigint >> ${GROUP_BITS})`;
  if (isBytea(t)) {
    const k = `r.${t.pk[0]}`;
    return `(CASE WHEN length(${k}) < 2 THEN -1 ELSE (get_byte(${k}, 0) << ${BYTEA_PREFIX_BITS - 8}) | (get_byte(${k}, 1) >> ${16 - BYTEA_PREFIX_BITS}) END)`;
  }
  if (t.pk.length > 0)
    return `(abs(hashtext((${t.pk.map((c) => `r.${c}`).join(", ")})::text)) % ${HASH_BUCKETS})`;
  return "0";
}

/** Rows restricted to the given groups: index ranges for an integer key, else a filter. */
export function groupFilter(t: GroupTable, groups: readonly number[]): string {
  if (groups.length === 0) return "false";
  if (t.pk.length === 1 && INTEGER_TYPES.has(t.pkType ?? "")) {
    const col = `r.${t.pk[0]}`;
    return runs(groups)
      .map(([a, b]) => `(${col} >= ${a * 2 ** GROUP_BITS} AND ${col} < ${(b + 1) * 2 ** GROUP_BITS})`)
      .join(" OR ");
  }
  if (isBytea(t)) {
    // Byte strings sort as memcmp does: group n is [bound(n), bound(n + 1)), among keys of 2 bytes
    // or more (a shorter key sorts inside those ranges, but is in group -1).
    const k = `r.${t.pk[0]}`;
    const last = 2 ** BYTEA_PREFIX_BITS - 1;
    const parts = runs(groups).flatMap(([a, b]) => {
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
  return `${groupExpr(t)} IN (${groups.join(", ")})`;
}

/** Sorted numbers as runs of consecutive ones: [[a, b], ...]. */
export function runs(numbers: readonly number[]): [number, number][] {
  const s = [...new Set(numbers)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const n of s) {
    const last = out.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** Each group's count and hash (ahead; or only the given groups). Output: ident, group, rows, hash. */
export function groupHashSql(t: GroupTable, groups?: readonly number[]): string {
  const where = groups ? ` WHERE ${groupFilter(t, groups)}` : "";
  return `SELECT ${quote(t.ident)}, ${groupExpr(t)} AS g, count(*), coalesce(sum(${rowHash("r")}), 0) FROM ONLY ${t.ident} r${where} GROUP BY 2;`;
}

/** Each group's count, and on the origin how many of its row versions were written since `w32`. */
export function groupCountSql(t: GroupTable, w32?: number): string {
  const fresh = w32 === undefined ? "0" : `count(*) FILTER (WHERE ${writtenSince(w32)})`;
  return `SELECT ${quote(t.ident)}, ${groupExpr(t)} AS g, count(*), ${fresh} FROM ONLY ${t.ident} r GROUP BY 2;`;
}

/** One line per group: ident, group, two numbers (count and hash, or count and fresh rows). */
export interface GroupLine {
  ident: string;
  group: number;
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
    out.push({ ident, group: Number(g), a, b });
  }
  return out;
}

/** ident -> group -> [a, b]. */
export type GroupMap = Map<string, Map<number, [string, string]>>;

export function groupMap(lines: readonly GroupLine[]): GroupMap {
  const m: GroupMap = new Map();
  for (const l of lines) {
    let t = m.get(l.ident);
    if (!t) m.set(l.ident, (t = new Map<number, [string, string]>()));
    t.set(l.group, [l.a, l.b]);
  }
  return m;
}

/** The groups of each table whose pair differs between the two maps (or is on one side only). */
export function differingGroups(
  tables: readonly GroupTable[],
  a: GroupMap,
  b: GroupMap,
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const t of tables) {
    const x = a.get(t.ident) ?? new Map<number, [string, string]>();
    const y = b.get(t.ident) ?? new Map<number, [string, string]>();
    const diff: number[] = [];
    for (const g of new Set([...x.keys(), ...y.keys()])) {
      const p = x.get(g);
      const q = y.get(g);
      if (!p || !q || p[0] !== q[0] || p[1] !== q[1]) diff.push(g);
    }
    if (diff.length)
      out.set(
        t.ident,
        diff.sort((m, n) => m - n),
      );
  }
  return out;
}

/** What the ahead proof left to prove in one table: some groups, or all of them. */
export type AheadTable = number[] | "all";

/**
 * The groups to hash in the downtime: those that differed ahead, those the origin wrote since the
 * ahead's watermark, and those whose row counts differ now. "all" when the ahead could not tell.
 */
export function groupsToProve(
  t: GroupTable,
  ahead: AheadTable | undefined,
  originCounts: Map<number, [string, string]> | undefined,
  targetCounts: Map<number, [string, string]> | undefined,
): number[] | "all" {
  if (ahead === "all") return "all";
  const set = new Set<number>(ahead ?? []);
  const o = originCounts ?? new Map<number, [string, string]>();
  const tg = targetCounts ?? new Map<number, [string, string]>();
  for (const [g, [rows, fresh]] of o) {
    if (Number(fresh) > 0) set.add(g);
    if (tg.get(g)?.[0] !== rows) set.add(g);
  }
  for (const g of tg.keys()) if (!o.has(g)) set.add(g);
  return [...set].sort((a, b) => a - b);
}

/** psql's arguments for one statement batch (the caller adds connection options). */
export const GROUP_PSQL_ARGS = ["-X", "-w", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1"];

/** For the log: what a batch of group statements does, without the SQL itself. */
export function describeBatch(kind: "hashes" | "counts", tables: number): string {
  return `psql ${shellQuote(`<${kind} of row groups, ${tables} tables>`)}`;
}
