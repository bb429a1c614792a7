/**
 * Bringing a staging copy of a database up to date with the origin by moving only what changed.
 *
 * The staging copy was loaded in full during a hot sync, while the origin served. Rows are grouped
 * (ranges of an integer primary key, else a hash of the key, else the whole table) and only the
 * groups that changed are deleted and copied again (COPY through the tunnel, triggers and foreign
 * keys off as in a restore). Sequences take the origin's values. The schema must be the one the
 * staging copy was loaded with (its fingerprint is kept in the staging database's comment), else:
 * full copy.
 *
 * Which groups changed is found one of two ways:
 * - By watermark (PostgreSQL 9.4 and later): before each pass reads the origin, the oldest
 *   transaction still running there (its snapshot's xmin) is noted as the next pass's watermark.
 *   A row version written by a transaction older than the watermark was committed before the
 *   pass read the origin, so the staging copy holds it in its group. Hence a group in which the
 *   origin has no row version from the watermark on, and as many rows as the staging copy, is
 *   equal to it; every other group is copied. This reads each origin row's xmin and key, never
 *   its content: the downtime no longer grows with the size of the tables. Row versions keep
 *   their xmin when frozen (9.4 and later), and a subtransaction's xid is never older than its
 *   top transaction's, so nothing written after the watermark can look older.
 * - By hash, otherwise: both servers hash every group (row count and an order-independent sum of
 *   row hashes) and the groups that differ are copied.
 * In the cold pass, every copied group is then hashed on both servers and must be equal: otherwise
 * the caller falls back to a full copy.
 */
import { originRows, pipeOriginInto, targetRows } from "../adapters/pgQuery.js";
import { psqlAsPostgres, quoteIdent, quoteLiteral, type OriginDb } from "../adapters/postgres.js";
import { SCHEMA_SQL } from "../database/manifest.js";
import { groupExpr, groupFilter, type GroupTable } from "../database/rowGroups.js";
import { rowHash, SNAPSHOT_TEXT, snapshotQuiet, writtenSince, xid32 } from "../database/rowVersions.js";
import {
  byRowsObstacle,
  parseTableChanges,
  replaceChangedRows,
  rowsToReplace,
  tableChangesSql,
  type TableChanges,
} from "./changedRows.js";

/**
 * Rows per group: small groups copy little beyond the changed rows, many groups make the scan's
 * answer longer (one line per group). Rows per range of an integer primary key (appends land in
 * the last ranges), and about as many per group of hashed keys (at most 65,536 groups).
 */
export const RANGE_BITS = 9;
export const RANGE = 2 ** RANGE_BITS;
const ROWS_PER_HASH_GROUP = 16;

export interface TableHash {
  rows: number;
  hash: string;
}

/** The schema's fingerprint: an md5 over the same catalog records `verify` compares. */
export const FINGERPRINT_SQL = `SELECT md5(string_agg(concat_ws(chr(31), k, n, a), chr(10) ORDER BY k, n, a)) FROM (${SCHEMA_SQL.trim().replace(/;$/, "")}) s(k, n, a);`;

export const TABLES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname),
       coalesce((SELECT json_agg(quote_ident(a.attname) ORDER BY array_position(i.indkey::int2[], a.attnum))::text
                   FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
                  WHERE i.indrelid = c.oid AND i.indisprimary), ''),
       coalesce((SELECT format_type(a.atttypid, NULL) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1), '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1;`;

export const SEQUENCES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1;`;

/**
 * How a table's rows are grouped for comparison. An integer primary key groups by ranges (index
 * scans to delete and copy a range, and appended rows stay in the last ranges), a bytea key by
 * ranges of its first bits (as the verification does); another primary key by a hash of the key;
 * no primary key: the whole table is one group.
 */
export interface Grouping {
  /** SQL expression of a row's group number (alias r). */
  expr: string;
  /** SQL condition selecting the given groups (alias r). */
  where(groups: number[]): string;
}

const WHOLE_TABLE = "0";

export function grouping(t: GroupTable, rows: number): Grouping {
  if (t.pk.length === 1 && /^(smallint|integer|bigint)$/.test(t.pkType ?? "")) {
    const c = `r.${t.pk[0]!}`;
    return {
      // A shift, not a division: integer arithmetic, and it rounds down below zero too.
      expr: `(${c} >> ${RANGE_BITS})`,
      where: (g) =>
        g.length
          ? adjacentRuns(g)
              .map(([a, b]) => `(${c} >= ${a * RANGE} AND ${c} < ${(b + 1) * RANGE})`)
              .join(" OR ")
          : "false",
    };
  }
  if (t.pk.length === 1 && t.pkType === "bytea")
    // A bytea key (BlueMind's message bodies' guid, a hash): the verification's groups, ranges of
    // its first bits read through its index. The groups a delta copies again are then the groups
    // the verification hashes next, not a spread of rows over all of them.
    return { expr: groupExpr(t), where: (g) => groupFilter(t, g) };
  if (t.pk.length) {
    let n = 1;
    while (n < rows / ROWS_PER_HASH_GROUP && n < 65536) n *= 2;
    const key =
      t.pk.length === 1 ? `r.${t.pk[0]!}::text` : `ROW(${t.pk.map((c) => `r.${c}`).join(", ")})::text`;
    const expr = `(hashtext(${key}) & ${n - 1})`;
    return { expr, where: (g) => `${expr} = ANY('{${g.join(",")}}'::int[])` };
  }
  return { expr: WHOLE_TABLE, where: (g) => (g.length ? "true" : "false") };
}

/** Runs of consecutive numbers, as [first, last] pairs: ranges next to each other make one. */
export function adjacentRuns(numbers: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const n of [...numbers].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && n <= last[1] + 1) last[1] = Math.max(last[1], n);
    else runs.push([n, n]);
  }
  return runs;
}

/** Each group's count and hash; with `tag`, rows start with it (several tables in one query). */
export function groupHashesSql(t: GroupTable, g: Grouping, where = "", tag?: string): string {
  return groupSql(t, g, `coalesce(sum(${rowHash("r")}), 0)::text`, where, tag);
}

/**
 * Each group's count and how many of its row versions were written from the watermark on (`w32`,
 * the watermark's 32-bit xid; without it, 0: the staging side, whose rows are the copy's own).
 * Same shape as the hashes, so that the same comparison finds the groups to copy.
 */
export function groupChangesSql(t: GroupTable, g: Grouping, w32?: number, tag?: string): string {
  return groupSql(
    t,
    g,
    w32 === undefined ? "'0'" : `(count(*) FILTER (WHERE ${writtenSince(w32)}))::text`,
    "",
    tag,
  );
}

function groupSql(t: GroupTable, g: Grouping, value: string, where: string, tag?: string): string {
  const cols = `(${g.expr})::text AS b, count(*), ${value}`;
  const from = `FROM ONLY ${t.ident} r${where ? ` WHERE ${where}` : ""}`;
  // Grouped by the number itself, not its text (cheaper to hash); the whole table is one group
  // without GROUP BY (a constant there would read as a column position).
  const by = g.expr === WHOLE_TABLE ? "" : ` GROUP BY ${g.expr}`;
  return tag === undefined
    ? `SELECT ${cols} ${from}${by};`
    : `(SELECT ${quoteLiteral(tag)}, ${cols} ${from}${by})`;
}

/** The oldest release whose frozen rows keep their xmin (the watermark relies on it). */
const WATERMARK_MIN_VERSION = 90400;
/** A watermark further back than this many transactions is not trusted (xids wrap at 2^32). */
const WATERMARK_MAX_AGE = 2 ** 30;

/** The staging copy's marks, kept in its database's comment. */
export interface StagingMarks {
  /** The origin's schema fingerprint the copy was made from. */
  fingerprint: string;
  /** The watermark: the origin's oldest running transaction (64-bit txid) before the copy read it. */
  since?: number;
}

export function formatMarks(m: StagingMarks): string {
  return `bm-migrate fingerprint ${m.fingerprint}${m.since === undefined ? "" : ` since ${m.since}`}`;
}

export function parseMarks(comment: string): StagingMarks | undefined {
  const m = /bm-migrate fingerprint ([0-9a-f]{32})(?: since (\d+))?/.exec(comment);
  if (!m) return undefined;
  return { fingerprint: m[1]!, ...(m[2] !== undefined ? { since: Number(m[2]) } : {}) };
}

/**
 * The watermark to note for a copy about to read the origin, from its snapshot (xmin, xmax: 64-bit
 * txids) and release; undefined where the watermark cannot be relied on.
 */
export function watermarkOf(xmin: string | undefined, version: string | undefined): number | undefined {
  const w = Number(xmin);
  return Number(version) >= WATERMARK_MIN_VERSION && Number.isSafeInteger(w) && w > 0 ? w : undefined;
}

/** Whether the staging copy's watermark can tell the changed groups, given the origin's xmax now. */
export function watermarkUsable(
  since: number | undefined,
  xmaxNow: number,
  version: number,
): since is number {
  return (
    since !== undefined &&
    version >= WATERMARK_MIN_VERSION &&
    since <= xmaxNow &&
    xmaxNow - since < WATERMARK_MAX_AGE
  );
}

/** The origin's snapshot, first of all (the watermark must not be later than anything read). */
const SNAPSHOT_SQL = `SELECT txid_snapshot_xmin(txid_current_snapshot())::text, txid_snapshot_xmax(txid_current_snapshot())::text, current_setting('server_version_num')`;

const statement = (sql: string): string => sql.trim().replace(/;$/, "");

/** A delta session's snapshot, noted before it reads anything (see SNAPSHOT_TEXT). */
export const SESSION_SNAPSHOT_SQL = `SELECT 'snap2', ${SNAPSHOT_TEXT.replace(/\n\s*/g, " ")};`;

/**
 * Why the cold pass's sessions cannot be trusted to have read one still origin, or undefined:
 * each must have seen the first one's snapshot, and that one no transaction in progress.
 */
export function sessionsDisagree(
  first: string | undefined,
  others: readonly (string | undefined)[],
): string | undefined {
  if (!snapshotQuiet(first))
    return `a transaction was in progress on the origin during the downtime's copy (snapshot ${first ?? "unread"})`;
  if (others.some((s) => s === undefined)) return "a session of the copy did not note its snapshot";
  const other = others.find((s) => s !== first);
  return other === undefined
    ? undefined
    : `the origin's snapshot moved between the copy's sessions (${first ?? ""}, then ${other})`;
}

/** Everything the delta needs to know of the origin, in one session: tagged rows. */
export const ABOUT_SQL = `SELECT 'snap', s.*, ${SNAPSHOT_TEXT.replace(/\n\s*/g, " ")} FROM (${SNAPSHOT_SQL}) s;
SELECT 'fp', (${statement(FINGERPRINT_SQL)});
SELECT 'table', t.* FROM (${statement(TABLES_SQL)}) t;
SELECT 'size', format('%I.%I', schemaname, relname), n_live_tup FROM pg_stat_user_tables;
SELECT format('SELECT %L, %L, last_value::text, is_called::text FROM %s', 'seq', q, q) FROM (${statement(SEQUENCES_SQL)}) s(q) \\gexec
`;

export function parseHashes(rows: string[][]): Map<string, TableHash> {
  return new Map(rows.map(([k, n, h]) => [k!, { rows: Number(n), hash: h! }]));
}

export function differingKeys(a: Map<string, TableHash>, b: Map<string, TableHash>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys]
    .filter((k) => a.get(k)?.rows !== b.get(k)?.rows || a.get(k)?.hash !== b.get(k)?.hash)
    .sort();
}

export interface DeltaOutcome {
  ok: boolean;
  /** Why a full copy is needed instead. */
  reason?: string;
  tables: number;
  changedTables: string[];
  copiedRows: number;
  /** How the changed groups were found. */
  by?: "watermark" | "hash";
  /** The marks the staging copy has once this pass is done (the next pass's watermark). */
  marks?: StagingMarks;
  /**
   * Cold pass by watermark: the tables brought up to date by their rows written since the
   * watermark, and those compared and copied by groups instead (`notByRows` says why).
   */
  copiedBy?: { rows: string[]; groups: string[] };
  notByRows?: Record<string, string>;
  /** Where the time went (ms): reading the origin, comparing, copying and proving (the sequences meanwhile). */
  ms?: { about: number; compare: number; copy: number; sequences: number };
  /** Cold pass by watermark: what the scan of the still origin found, for the verification next. */
  originScan?: OriginScan;
  /** Why the scan is not handed to the verification (its sessions did not read one still origin). */
  scanNotUsed?: string;
}

/**
 * What the cold pass's scan read of the origin, once its services were stopped: each table's rows,
 * and the count and places of its rows written since the watermark. The verification that follows
 * in the same session relies on it instead of reading every row again, as long as the origin's
 * snapshot has not changed since (nothing committed there).
 */
export interface OriginScan {
  /** txid_current_snapshot() when the scan began ("xmin:xmax:xip"). */
  snapshot: string;
  /** The watermark its fresh rows were counted from (64-bit txid). */
  since: number;
  /** The origin's tables, with their keys. */
  list: GroupTable[];
  tables: Map<string, TableChanges>;
}

/** Read the marks kept in the staging database's comment. */
export async function stagingMarks(staging: string, signal?: AbortSignal): Promise<StagingMarks | undefined> {
  const r = await targetRows(
    "postgres",
    `SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = ${quoteLiteral(staging)};`,
    signal,
  );
  if (r.exitCode !== 0) return undefined;
  return parseMarks(r.rows[0]?.[0] ?? "");
}

export async function setStagingMarks(
  staging: string,
  marks: StagingMarks,
  signal?: AbortSignal,
): Promise<void> {
  await psqlAsPostgres(
    `COMMENT ON DATABASE ${quoteIdent(staging)} IS ${quoteLiteral(formatMarks(marks))};`,
    "postgres",
    signal,
  );
}

/** The marks for a full copy about to read the origin: its schema's fingerprint and the watermark. */
export async function originMarks(
  origin: OriginDb,
  db: string,
  signal?: AbortSignal,
): Promise<StagingMarks | undefined> {
  const r = await originRows(
    origin,
    db,
    `SELECT s.*, (${statement(FINGERPRINT_SQL)}) FROM (${SNAPSHOT_SQL}) s;`,
    signal,
  );
  const [xmin, , version, fingerprint] = r.rows[0] ?? [];
  if (r.exitCode !== 0 || !fingerprint) return undefined;
  const since = watermarkOf(xmin, version);
  return { fingerprint, ...(since !== undefined ? { since } : {}) };
}

/**
 * Replace rows of one table in staging by the origin's: in one transaction on the staging side,
 * delete the groups, then COPY them from the origin through the tunnel (a kill in between leaves
 * the staging copy as it was). With `hashes`, that query's rows (run on the staging side in the
 * same transaction, after the COPY) come back too.
 */
async function copyRows(
  origin: OriginDb,
  db: string,
  staging: string,
  t: GroupTable,
  where: string,
  signal?: AbortSignal,
  hashes?: string,
): Promise<{ ok: boolean; rows: number; hashes: string[][]; error: string }> {
  const select = `COPY (SELECT * FROM ONLY ${t.ident} r${where ? ` WHERE ${where}` : ""}) TO STDOUT`;
  const r = await pipeOriginInto(
    origin,
    db,
    select,
    staging,
    [
      `DELETE FROM ONLY ${t.ident} r WHERE ${where || "true"}`,
      `COPY ${t.ident} FROM STDIN`,
      ...(hashes ? [hashes] : []),
    ],
    signal,
  );
  const lines = r.stdout.split("\n");
  const m = lines.map((l) => /^COPY (\d+)$/.exec(l)).find(Boolean);
  return {
    ok: r.exitCode === 0,
    rows: m ? Number(m[1]) : 0,
    hashes: lines.filter((l) => l.split("\t").length === 3).map((l) => l.split("\t")),
    error: r.stderr.trim(),
  };
}

/** Run SQL on the staging database with triggers and foreign keys off, as a restore does. */
function onStaging(staging: string, sql: string, signal?: AbortSignal) {
  return psqlAsPostgres(`SET session_replication_role = replica;\n${sql}`, staging, signal);
}

/**
 * The staging side of a comparison, read ahead: before the cold sync's downtime begins, while the
 * origin still serves (the staging copy changes only by the delta, which has not run yet). In the
 * downtime, only the origin is then scanned.
 */
export interface StagingState {
  marks: StagingMarks;
  tables: GroupTable[];
  /** Row estimates the hash groupings are sized from (the origin's scan uses the same). */
  sizes: Map<string, number>;
  /** What each group holds: counts (watermark mode) or counts and hashes (no watermark). */
  mode: "watermark" | "hash";
  rows: string[][];
  ms: number;
}

const STAGING_ABOUT_SQL = `SELECT 'marks', coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database();
SELECT 'table', t.* FROM (${statement(TABLES_SQL)}) t;
SELECT 'size', format('%I.%I', schemaname, relname), n_live_tup FROM pg_stat_user_tables;
`;

/** Read the staging copy's marks, tables and groups; undefined when there is no usable copy. */
export async function readStagingState(
  staging: string,
  signal?: AbortSignal,
): Promise<StagingState | undefined> {
  const t0 = Date.now();
  const about = await targetRows(staging, STAGING_ABOUT_SQL, signal);
  if (about.exitCode !== 0) return undefined;
  const marks = parseMarks(about.rows.find((r) => r[0] === "marks")?.[1] ?? "");
  if (!marks) return undefined;
  const { tables, sizes } = tablesOf(about.rows);
  const mode = marks.since === undefined ? "hash" : "watermark";
  const scan = await targetRows(staging, scanSql(tables, groupingsOf(tables, sizes), mode), signal);
  if (scan.exitCode !== 0) return undefined;
  return { marks, tables, sizes, mode, rows: scan.rows, ms: Date.now() - t0 };
}

function tablesOf(rows: string[][]): { tables: GroupTable[]; sizes: Map<string, number> } {
  return {
    tables: rows
      .filter((r) => r[0] === "table")
      .map(([, ident, pk, pkType]) => ({ ident: ident!, pk: parsePk(pk), pkType: pkType ?? "" })),
    sizes: new Map(rows.filter((r) => r[0] === "size").map(([, ident, n]) => [ident!, Number(n)])),
  };
}

/** The primary key's quoted column names, sent as a JSON array (a name may hold a comma). */
export function parsePk(json: string | undefined): string[] {
  return json ? (JSON.parse(json) as string[]) : [];
}

const groupingsOf = (tables: GroupTable[], sizes: Map<string, number>): Map<string, Grouping> =>
  new Map(tables.map((t) => [t.ident, grouping(t, sizes.get(t.ident) ?? 0)]));

/** Tables dealt into at most `n` parts of about equal size (the largest first, each to the lightest part). */
export function splitBySize(tables: GroupTable[], sizes: Map<string, number>, n: number): GroupTable[][] {
  const parts = Array.from({ length: Math.max(1, Math.min(n, tables.length)) }, () => ({
    rows: 0,
    tables: [] as GroupTable[],
  }));
  const size = (t: GroupTable): number => Math.max(0, sizes.get(t.ident) ?? 0);
  for (const t of [...tables].sort((a, b) => size(b) - size(a) || a.ident.localeCompare(b.ident))) {
    const lightest = parts.reduce((a, b) => (b.rows < a.rows ? b : a));
    lightest.tables.push(t);
    lightest.rows += size(t);
  }
  return parts.map((p) => p.tables);
}

const sameTables = (a: GroupTable[], b: GroupTable[]): boolean =>
  JSON.stringify(a.map((t) => [t.ident, t.pk, t.pkType ?? ""])) ===
  JSON.stringify(b.map((t) => [t.ident, t.pk, t.pkType ?? ""]));

/**
 * One scan of every table, as one query of tagged rows (table, group, count, value): the value is
 * the group's hash (hash mode), or in watermark mode how many of its row versions the origin wrote
 * since the watermark (`w32`; on the staging side, always 0: its rows are the copy's own).
 */
export function scanSql(
  tables: GroupTable[],
  groups: Map<string, Grouping>,
  mode: "watermark" | "hash",
  w32?: number,
): string {
  if (!tables.length) return "SELECT '', '0', '0', '0' WHERE false;";
  return (
    tables
      .map((t) => {
        const g = groups.get(t.ident)!;
        return mode === "hash" ? groupHashesSql(t, g, "", t.ident) : groupChangesSql(t, g, w32, t.ident);
      })
      .join("\nUNION ALL\n") + ";"
  );
}

export async function deltaSync(
  origin: OriginDb,
  db: string,
  staging: string,
  expected: StagingMarks,
  signal?: AbortSignal,
  /** Re-hash what was copied and require it equal to the origin's (only meaningful once the origin is still). */
  prove = true,
  /** Tables worked on at once. */
  jobs = 2,
  /** The staging side, read ahead (its marks are then `expected`): only the origin is scanned now. */
  prepared?: StagingState,
): Promise<DeltaOutcome> {
  const fail = (reason: string): DeltaOutcome => ({
    ok: false,
    reason,
    tables: 0,
    changedTables: [],
    copiedRows: 0,
  });
  // 1. One round trip for what the origin is: its snapshot (this pass's watermark), schema
  //    fingerprint, tables with their keys and sizes, sequence values (the origin is still during
  //    the cold sync, so reading them first is exact). With the staging side read ahead, the
  //    origin's scan for the comparison comes in the same round trip: in the cold pass by
  //    watermark, each table's count and its rows written since (see changedRows.ts); otherwise
  //    each group's.
  let t = Date.now();
  const lap = (): number => -t + (t = Date.now());
  const aheadGroups = prepared && groupingsOf(prepared.tables, prepared.sizes);
  const aheadW32 = prepared?.marks.since === undefined ? undefined : xid32(prepared.marks.since);
  const byRows = prove && prepared?.mode === "watermark" && aheadW32 !== undefined;
  // The origin's scans, in `jobs` sessions of about equal size: the first one's with the above.
  const aheadScans = prepared
    ? splitBySize(prepared.tables, prepared.sizes, jobs).map((part) =>
        byRows
          ? `SELECT 'tbl', s.* FROM (${part.map((x) => tableChangesSql(x, aheadW32, x.ident)).join("\nUNION ALL\n")}) s;\n`
          : `SELECT 'grp', s.* FROM (${statement(scanSql(part, aheadGroups!, prepared.mode, aheadW32))}) s;\n`,
      )
    : [""];
  // Each other session notes its snapshot first: in the cold pass all must have read the same
  // still origin (see sessionsAgree).
  const [about, ...moreScans] = await Promise.all(
    aheadScans.map((sql, i) =>
      originRows(origin, db, i === 0 ? ABOUT_SQL + sql : `${SESSION_SNAPSHOT_SQL}\n${sql}`, signal),
    ),
  );
  const ms = { about: lap(), compare: 0, copy: 0, sequences: 0 };
  if (!about || about.exitCode !== 0)
    return fail(`cannot read the origin's database: ${about?.stderr.trim() ?? ""}`);
  if (moreScans.some((r) => r.exitCode !== 0))
    return fail(`cannot compare the tables: ${moreScans.map((r) => r.stderr.trim()).join(" ")}`);
  const [, xmin, xmax, version, snapshot] = about.rows.find((r) => r[0] === "snap") ?? [];
  // The cold pass reads the origin in several sessions at once, each with its own snapshot: they
  // read the same rows only if nothing could commit in between. The fence (phases/fenceSteps.ts)
  // makes it so; this proves it held: every session saw the same snapshot, with nothing in progress.
  // Otherwise its scan does not stand for the origin's count in the verification next, which then
  // counts the origin itself (and finds any row a session missed).
  const disagree =
    prove && prepared
      ? sessionsDisagree(
          snapshot,
          moreScans.map((r) => r.rows.find((x) => x[0] === "snap2")?.[1]),
        )
      : undefined;
  const fp = about.rows.find((r) => r[0] === "fp")?.[1];
  if (!fp) return fail("cannot read the origin's schema");
  if (fp !== expected.fingerprint)
    return fail("the origin's schema changed since the staging copy was loaded");
  const { tables, sizes } = tablesOf(about.rows);
  const sequences = about.rows
    .filter((r) => r[0] === "seq")
    .map(([, q, v, called]) => ({ q: q!, v: Number(v), called: called === "true" }));
  const next = watermarkOf(xmin, version);
  const marks: StagingMarks = { fingerprint: fp, ...(next !== undefined ? { since: next } : {}) };

  // 2. Each group's count on both sides, and either how many of its origin rows were written since
  //    the watermark, or (no usable watermark) its hash: read ahead on the staging side and in the
  //    round trip above on the origin's, else one scan of every table on each side, at once.
  const since = expected.since;
  const byWatermark = watermarkUsable(since, Number(xmax), Number(version));
  const mode = byWatermark ? "watermark" : "hash";
  const w32 = byWatermark ? xid32(since) : undefined;
  const scanned = [about, ...moreScans].flatMap((r) => r.rows);
  const tagged = (tag: string): string[][] => scanned.filter((x) => x[0] === tag).map((x) => x.slice(1));
  const ready = prepared && aheadGroups && prepared.mode === mode && sameTables(prepared.tables, tables);
  let groups: Map<string, Grouping>;
  let originScan: string[][];
  let stagingScan: string[][];
  if (ready) {
    groups = aheadGroups;
    originScan = byRows ? [] : tagged("grp");
    stagingScan = prepared.rows;
  } else {
    groups = groupingsOf(tables, sizes);
    const parts = splitBySize(tables, sizes, jobs);
    const scans = await Promise.all([
      ...parts.map((part) => originRows(origin, db, scanSql(part, groups, mode, w32), signal)),
      ...parts.map((part) => targetRows(staging, scanSql(part, groups, mode), signal)),
    ]);
    if (scans.some((r) => r.exitCode !== 0))
      return fail(`cannot compare the tables: ${scans.map((r) => r.stderr.trim()).join(" ")}`);
    originScan = scans.slice(0, parts.length).flatMap((r) => r.rows);
    stagingScan = scans.slice(parts.length).flatMap((r) => r.rows);
  }
  const rowsWay = ready && byRows ? parseTableChanges(tagged("tbl")) : undefined;
  ms.compare = lap();
  const originByTable = byTable(originScan);
  const stagingByTable = byTable(stagingScan);

  // 3. Only what differs is copied again, table by table: the rows written since the watermark
  //    when that is enough, else the groups that differ.
  let copied = 0;
  const changed: string[] = [];
  const copiedBy: { rows: string[]; groups: string[] } = { rows: [], groups: [] };
  const notByRows: Record<string, string> = {};
  let failure: string | undefined;
  const copyGroups = async (t: GroupTable, originGroups: string[][]): Promise<void> => {
    const g = groups.get(t.ident)!;
    const diff = differingKeys(parseHashes(originGroups), parseHashes(stagingByTable.get(t.ident) ?? [])).map(
      Number,
    );
    if (!diff.length) return;
    if (!changed.includes(t.ident)) changed.push(t.ident);
    copiedBy.groups.push(t.ident);
    const where = g.where(diff);
    // Proof (cold pass): the groups copied hash as the origin's. The origin is still then, so its
    // side is hashed while the copy runs; the staging side in the copy's own transaction.
    const hashes = prove ? groupHashesSql(t, g, where) : undefined;
    const [c, want] = await Promise.all([
      copyRows(origin, db, staging, t, where, signal, hashes),
      hashes ? originRows(origin, db, hashes, signal) : undefined,
    ]);
    if (!c.ok) return void (failure = `cannot copy changed rows of ${t.ident}: ${c.error}`);
    copied += c.rows;
    if (!want) return;
    if (want.exitCode !== 0) return void (failure = `cannot re-hash ${t.ident}: ${want.stderr.trim()}`);
    if (differingKeys(parseHashes(want.rows), parseHashes(c.hashes)).length)
      failure = `${t.ident} still differs after the delta`;
  };
  const copyChanges = async (t: GroupTable, o: TableChanges): Promise<void> => {
    const stagingRows = (stagingByTable.get(t.ident) ?? []).reduce((n, [, c]) => n + Number(c), 0);
    if (o.since === 0 && o.rows === stagingRows) return;
    changed.push(t.ident);
    const obstacle = byRowsObstacle(t);
    const replaced = obstacle ? undefined : rowsToReplace(stagingRows, o);
    if (replaced !== undefined && w32 !== undefined) {
      const r = await replaceChangedRows(origin, db, staging, t, w32, replaced, o, signal);
      if (r.ok) {
        copied += r.rows;
        copiedBy.rows.push(t.ident);
        return;
      }
      notByRows[t.ident] = r.deleted ? "rows deleted on the origin" : r.error.split("\n")[0]!;
    } else {
      notByRows[t.ident] = obstacle ?? "rows deleted on the origin";
    }
    // By groups instead: this table's, on the origin (the staging side's were read ahead).
    const scan = await originRows(origin, db, groupChangesSql(t, groups.get(t.ident)!, w32), signal);
    if (scan.exitCode !== 0) return void (failure = `cannot compare ${t.ident}: ${scan.stderr.trim()}`);
    await copyGroups(t, scan.rows);
  };
  // The sequences take the origin's values meanwhile.
  const setSequences = async (): Promise<void> => {
    const t0 = Date.now();
    if (sequences.length) {
      const setvals = sequences
        .map(({ q, v, called }) => `SELECT setval(${quoteLiteral(q)}, ${v}, ${called});`)
        .join("\n");
      const sv = await onStaging(staging, setvals, signal);
      if (sv.exitCode !== 0) failure ??= `cannot set sequences: ${sv.stderr.trim()}`;
    }
    ms.sequences = Date.now() - t0;
  };
  await Promise.all([
    forEachLimited(tables, jobs, async (t) => {
      if (failure) return;
      if (rowsWay) await copyChanges(t, rowsWay.get(t.ident) ?? { rows: 0, since: 0, sinceHash: "0" });
      else await copyGroups(t, originByTable.get(t.ident) ?? []);
    }),
    setSequences(),
  ]);
  ms.copy = lap();
  if (failure) return fail(failure);
  return {
    ok: true,
    tables: tables.length,
    changedTables: changed.sort(),
    copiedRows: copied,
    by: byWatermark ? "watermark" : "hash",
    ...(rowsWay
      ? { copiedBy: { rows: copiedBy.rows.sort(), groups: copiedBy.groups.sort() }, notByRows }
      : {}),
    marks,
    ms,
    ...(rowsWay && snapshot && prepared?.marks.since !== undefined && !disagree
      ? { originScan: { snapshot, since: prepared.marks.since, list: tables, tables: rowsWay } }
      : {}),
    ...(disagree ? { scanNotUsed: disagree } : {}),
  };
}

const byTable = (rows: string[][]): Map<string, string[][]> => {
  const m = new Map<string, string[][]>();
  for (const [ident, ...rest] of rows) (m.get(ident!) ?? m.set(ident!, []).get(ident!)!).push(rest);
  return m;
};

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
