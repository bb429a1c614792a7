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
import { SCHEMA_SQL, USER_RELATION } from "../database/manifest.js";
import { groupExpr, groupFilter, keyColumns, type GroupKey, type GroupTable } from "../database/rowGroups.js";
import { rowHash, SNAPSHOT_TEXT, snapshotQuiet, writtenSince, xid32 } from "../database/rowVersions.js";
import {
  byRowsObstacle,
  parseTableChanges,
  replaceChangedRows,
  replaceChangedRowsBatch,
  rowBatches,
  rowsToReplace,
  type RowsToCopy,
  tableChangesSql,
  type TableChanges,
} from "./changedRows.js";

/**
 * Rows per group: small groups copy little beyond the changed rows, many groups make the scan's
 * answer longer (one line per group). Rows per range of an integer primary key (appends land in
 * the last ranges), and about as many per group of hashed keys (at most 65,536 groups).
 */
const ROWS_PER_HASH_GROUP = 16;

export interface TableHash {
  rows: number;
  hash: string;
}

/** The schema's fingerprint: an md5 over the same catalog records `verify` compares. */
export const FINGERPRINT_SQL = `SELECT md5(string_agg(concat_ws(chr(31), k, n, a), chr(10) ORDER BY k, n, a)) FROM (${SCHEMA_SQL.trim().replace(/;$/, "")}) s(k, n, a);`;

/**
 * Every ordinary table outside extensions: its name, primary key (a JSON array of quoted names) and
 * a one-column key's type; for a table without one, the columns that stand for a key (`rowKey`,
 * JSON) and whether they are unique. BlueMind's 4.x schema has 611 of its 664 tables without a
 * primary key, its biggest among them: `t_mailbox_record`, whose indexes are on (imap_uid),
 * (container_id, imap_uid), (message_body_guid), (item_id) and (container_id, system_flags,
 * imap_uid) (`mailreplica-schema-1.0.0.sql`, parent/mailbackend/net.bluemind.backend.mail.replica.sqlschema).
 * The row key is a valid btree index's plain columns (btree: they have an equality), all NOT NULL
 * (a NULL equals nothing), not a partial index: a unique one first (one row per key), else the
 * narrowest of more than one column (the folder and uid of `t_mailbox_record`: BlueMind writes a
 * message's record by both, and a flag change keeps them, where a wider index's flags would move
 * the row), else the narrowest; ties by name. Any such column set is a correct grouping (a group
 * holds all rows with its values, duplicates included); a good one keeps a change in few groups.
 * One pass over the catalog, each table's indexes through pg_index's index on indrelid: linear in
 * the number of tables.
 */
export const TABLES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname),
       coalesce((SELECT json_agg(quote_ident(a.attname) ORDER BY array_position(i.indkey::int2[], a.attnum))::text
                   FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
                  WHERE i.indrelid = c.oid AND i.indisprimary), ''),
       coalesce((SELECT format_type(a.atttypid, NULL) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1), ''),
       coalesce(rk.cols, ''), coalesce(rk.uniq::text, ''), coalesce(rk.first, '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN LATERAL (
    SELECT i.indisunique AS uniq,
           (SELECT json_agg(quote_ident(a.attname) ORDER BY k.n)::text
              FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att) AS cols,
           (SELECT format_type(a.atttypid, NULL) FROM pg_attribute a
             WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) AS first
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
     WHERE i.indrelid = c.oid AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_index p WHERE p.indrelid = c.oid AND p.indisprimary)
       AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) k(att)
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att
                        WHERE k.att <= 0 OR NOT a.attnotnull)
     ORDER BY i.indisunique DESC, i.indnatts < 2, i.indnatts, ic.relname
     LIMIT 1) rk ON true
 WHERE c.relkind = 'r' AND ${USER_RELATION}
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1;`;

/**
 * Sequences, but not another session's temporary ones (in its pg_temp_N schema, persistence 't'):
 * they are not the origin's data, and setting one on the staging side would fail the delta.
 */
export const SEQUENCES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND ${USER_RELATION}
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
  where(groups: readonly GroupKey[]): string;
}

const WHOLE_TABLE = "0";

export function grouping(t: GroupTable, rows: number): Grouping {
  if (
    (t.pk.length === 1 && /^(smallint|integer|bigint|bytea)$/.test(t.pkType ?? "")) ||
    (!t.pk.length && /^(smallint|integer|bigint)$/.test(t.rowKeyType ?? ""))
  )
    // Ranges of an integer key (index scans to delete and copy a range, and appended rows stay in
    // the last ranges), exact for every bigint; a bytea key (BlueMind's message bodies' guid, a
    // hash) by ranges of its first bits; a row key starting with an integer (a folder) by its
    // values. The verification's groups: the groups a delta copies again are the groups the
    // verification hashes next.
    return { expr: groupExpr(t), where: (g) => groupFilter(t, g) };
  const key = keyColumns(t);
  if (key.length) {
    // Another primary key, or a table's row key (duplicate rows share a group): a hash of it.
    let n = 1;
    while (n < rows / ROWS_PER_HASH_GROUP && n < 65536) n *= 2;
    const expr = `(hashtext(ROW(${key.map((c) => `r.${c}`).join(", ")})::text) & ${n - 1})`;
    return { expr, where: (g) => (g.length ? `${expr} = ANY('{${g.join(",")}}'::int[])` : "false") };
  }
  return { expr: WHOLE_TABLE, where: (g) => (g.length ? "true" : "false") };
}

/**
 * Each group's count and hash. With `tag`, a statement whose rows start with it, after `prefix`
 * if given (several tables in one batch: one statement each, never one UNION ALL of them, whose
 * planning grows with the square of the tables: 15 s for BlueMind's 664).
 */
export function groupHashesSql(
  t: GroupTable,
  g: Grouping,
  where = "",
  tag?: string,
  prefix?: string,
): string {
  return groupSql(t, g, `coalesce(sum(${rowHash("r")}), 0)::text`, where, tag, prefix);
}

/**
 * Each group's count and how many of its row versions were written from the watermark on (`w32`,
 * the watermark's 32-bit xid; without it, 0: the staging side, whose rows are the copy's own).
 * Same shape as the hashes, so that the same comparison finds the groups to copy.
 */
export function groupChangesSql(
  t: GroupTable,
  g: Grouping,
  w32?: number,
  tag?: string,
  prefix?: string,
): string {
  return groupSql(
    t,
    g,
    w32 === undefined ? "'0'" : `(count(*) FILTER (WHERE ${writtenSince(w32)}))::text`,
    "",
    tag,
    prefix,
  );
}

function groupSql(
  t: GroupTable,
  g: Grouping,
  value: string,
  where: string,
  tag?: string,
  prefix?: string,
): string {
  const cols = `(${g.expr})::text AS b, count(*), ${value}`;
  const from = `FROM ONLY ${t.ident} r${where ? ` WHERE ${where}` : ""}`;
  // Grouped by the number itself, not its text (cheaper to hash); the whole table is one group
  // without GROUP BY (a constant there would read as a column position).
  const by = g.expr === WHOLE_TABLE ? "" : ` GROUP BY ${g.expr}`;
  const tags = [prefix, tag]
    .filter((x) => x !== undefined)
    .map((x) => `${quoteLiteral(x)}, `)
    .join("");
  return `SELECT ${tags}${cols} ${from}${by};`;
}

/**
 * A table whose every row is a new version since the watermark, and many: rewritten rather than
 * changed (pg_repack gives every row a new version with the same content). Hashing its groups on
 * both sides costs less than copying them all. (A table most of whose rows were really updated
 * goes by its rows: hashing first would only add to the copy.)
 */
const REWRITE_MIN_ROWS = 1000;
export const rewritten = (o: TableChanges): boolean => o.since >= REWRITE_MIN_ROWS && o.since === o.rows;

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

/**
 * When the rows copied and hashed by the groups' bounds are not the rows counted by their group
 * numbers (the origin still): what is wrong, else undefined. Groups absent from a side have none.
 */
export function groupsAstray(
  groups: readonly GroupKey[],
  counted: Map<string, TableHash>,
  hashed: Map<string, TableHash>,
  copied: number,
): string | undefined {
  let total = 0;
  for (const g of groups) {
    const want = counted.get(g)?.rows ?? 0;
    const got = hashed.get(g)?.rows ?? 0;
    if (want !== got) return `group ${g} counted ${want} rows, its bounds hold ${got}`;
    total += want;
  }
  for (const g of hashed.keys())
    if (!groups.includes(g)) return `the bounds of the groups copied hold rows of group ${g}`;
  return copied === total ? undefined : `${copied} rows copied, ${total} counted in the groups copied`;
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
    tables: rows.filter((r) => r[0] === "table").map(([, ...fields]) => tableOf(fields)),
    sizes: new Map(rows.filter((r) => r[0] === "size").map(([, ident, n]) => [ident!, Number(n)])),
  };
}

/** A table from a row of TABLES_SQL: name, primary key, its type, row key, whether unique. */
export function tableOf([ident, pk, pkType, rowKey, unique, rowKeyType]: readonly (
  string | undefined
)[]): GroupTable {
  return {
    ident: ident ?? "",
    pk: parsePk(pk),
    pkType: pkType ?? "",
    ...(rowKey
      ? { rowKey: parsePk(rowKey), rowKeyUnique: unique === "true", rowKeyType: rowKeyType ?? "" }
      : {}),
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
  JSON.stringify(a.map(tableShape)) === JSON.stringify(b.map(tableShape));

const tableShape = (t: GroupTable): unknown[] => [
  t.ident,
  t.pk,
  t.pkType ?? "",
  t.rowKey ?? [],
  t.rowKeyType ?? "",
];

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
  prefix?: string,
): string {
  return tables
    .map((t) => {
      const g = groups.get(t.ident)!;
      return mode === "hash"
        ? groupHashesSql(t, g, "", t.ident, prefix)
        : groupChangesSql(t, g, w32, t.ident, prefix);
    })
    .join("\n");
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
          ? part.map((x) => tableChangesSql(x, aheadW32, x.ident, "tbl")).join("\n")
          : scanSql(part, aheadGroups!, prepared.mode, aheadW32, "grp"),
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
    // A sequence's value as its text: a bigint above 2^53 is not a JavaScript number.
    .map(([, q, v, called]) => ({ q: q!, v: /^-?\d+$/.test(v ?? "") ? v! : "", called: called === "true" }));
  if (sequences.some((x) => !x.v)) return fail("cannot read the origin's sequences");
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
  const copyGroups = async (
    t: GroupTable,
    originGroups: string[][],
    stagingGroups = stagingByTable.get(t.ident) ?? [],
  ): Promise<void> => {
    const g = groups.get(t.ident)!;
    const counted = parseHashes(originGroups);
    const diff = differingKeys(counted, parseHashes(stagingGroups));
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
    const hashed = parseHashes(want.rows);
    // The origin is still: the rows its groups were counted with (by their group number) are the
    // rows the copy and the hash selected (by the groups' bounds). Any other count means the
    // bounds name other rows than the numbers: nothing here could then be proven.
    const astray = groupsAstray(diff, counted, hashed, c.rows);
    if (astray)
      failure = `${t.ident}: ${astray}; the delta cannot prove this table, report this to bm-migrate's developers`;
    else if (differingKeys(hashed, parseHashes(c.hashes)).length)
      failure = `${t.ident} still differs after the delta`;
  };
  // By rows: each table's plan (nothing to do, its changed rows, or its groups), then the tables
  // going by their rows in batches; a batch that fails, table by table; a table that fails, by groups.
  const rowsPlan = (t: GroupTable, o: TableChanges): RowsToCopy | "same" | "groups" | "rewritten" => {
    const stagingRows = (stagingByTable.get(t.ident) ?? []).reduce((n, [, c]) => n + Number(c), 0);
    if (o.since === 0 && o.rows === stagingRows) return "same";
    changed.push(t.ident);
    if (rewritten(o)) {
      notByRows[t.ident] = "rewritten (every row a new version): compared by group hashes";
      return "rewritten";
    }
    const obstacle = byRowsObstacle(t);
    const replaced = obstacle ? undefined : rowsToReplace(t, stagingRows, o);
    if (replaced !== undefined && w32 !== undefined) return { t, replaced, want: o };
    notByRows[t.ident] = obstacle ?? "rows deleted on the origin";
    return "groups";
  };
  const byGroups = async (t: GroupTable): Promise<void> => {
    // This table's groups, on the origin (the staging side's were read ahead).
    const scan = await originRows(origin, db, groupChangesSql(t, groups.get(t.ident)!, w32), signal);
    if (scan.exitCode !== 0) return void (failure = `cannot compare ${t.ident}: ${scan.stderr.trim()}`);
    await copyGroups(t, scan.rows);
  };
  // A table rewritten (pg_repack, which BlueMind runs on its partitions: every row a new version,
  // the same content): both sides hash their groups at once, and only the groups that differ are
  // copied, where its changed rows would be all of them. The copied groups are then proven as any.
  const byHashes = async (t: GroupTable): Promise<void> => {
    const g = groups.get(t.ident)!;
    const sql = groupHashesSql(t, g);
    const [o, s] = await Promise.all([originRows(origin, db, sql, signal), targetRows(staging, sql, signal)]);
    if (o.exitCode !== 0 || s.exitCode !== 0)
      return void (failure = `cannot hash the groups of ${t.ident}: ${o.stderr.trim()} ${s.stderr.trim()}`);
    await copyGroups(t, o.rows, s.rows);
  };
  const copyOne = async ({ t, replaced, want }: RowsToCopy): Promise<void> => {
    const r = await replaceChangedRows(origin, db, staging, t, w32!, replaced, want, signal);
    if (r.ok) {
      copied += r.rows;
      copiedBy.rows.push(t.ident);
      return;
    }
    notByRows[t.ident] = r.deleted ? "rows deleted on the origin" : r.error.split("\n")[0]!;
    await byGroups(t);
  };
  const copyBatch = async (batch: RowsToCopy[]): Promise<void> => {
    if (failure) return;
    if (batch.length > 1) {
      const r = await replaceChangedRowsBatch(origin, db, staging, batch, w32!, signal);
      if (r.ok) {
        copied += r.rows;
        copiedBy.rows.push(...batch.map((x) => x.t.ident));
        return;
      }
    }
    for (const item of batch) if (!failure) await copyOne(item);
  };
  const copyByRows = async (): Promise<void> => {
    const plans = tables.map((t) => ({
      t,
      plan: rowsPlan(t, rowsWay!.get(t.ident) ?? { rows: 0, since: 0, keyed: 0, sinceHash: "0" }),
    }));
    const rowItems = plans.flatMap(({ plan }) => (typeof plan === "object" ? [plan] : []));
    const others = plans.flatMap(({ t, plan }) =>
      plan === "groups" || plan === "rewritten" ? [{ t, rewritten: plan === "rewritten" }] : [],
    );
    const work = [...rowBatches(rowItems, w32!), ...others];
    await forEachLimited(work, jobs, (x) =>
      Array.isArray(x)
        ? copyBatch(x)
        : failure
          ? Promise.resolve()
          : x.rewritten
            ? byHashes(x.t)
            : byGroups(x.t),
    );
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
    rowsWay
      ? copyByRows()
      : forEachLimited(tables, jobs, async (t) => {
          if (!failure) await copyGroups(t, originByTable.get(t.ident) ?? []);
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
