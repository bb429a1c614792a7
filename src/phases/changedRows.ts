/**
 * The cold pass's shortest way to bring a table of the staging copy up to date: by the rows the
 * origin wrote since the watermark, found by their xmin, copied with every row that shares their key.
 *
 * The key is the primary key, or for a table without one its row key (TABLES_SQL: a unique index,
 * else the columns of an index that localise its writes, such as `t_mailbox_record`'s folder and
 * uid); a row key need not be unique, duplicate rows included.
 *
 * The origin is still during the cold sync. Call O its rows now (a multiset), N those of them
 * written since the watermark, A the rows of O whose key is the key of a row of N (N is in A; for a
 * primary key A is N), S the staging copy's rows. Every row of O outside A was there, unchanged,
 * when the staging copy was last brought up to date, so it is in S, once for each time it is in O.
 * In one transaction on the staging side, A is loaded into a temporary table, the rows of S with
 * A's keys are deleted, and A is inserted. The result holds O; it holds nothing else exactly when
 * the delete removed |S| - |O| + |A| rows (any more rows left in S were deleted on the origin).
 * Otherwise the transaction is rolled back and the table is compared by groups instead.
 *
 * This reads each origin row's xmin once (one count per table, no grouping; the changed rows are
 * then fetched where that scan found them) and touches only the changed rows on the staging side
 * (through the key's index): the downtime grows with the change, barely with the tables' size. The
 * rows of A are hashed on both servers and must be equal.
 */
import { pipeOriginInto } from "../adapters/pgQuery.js";
import { quoteLiteral, type OriginDb } from "../adapters/postgres.js";
import { keyColumns, type GroupTable } from "../database/rowGroups.js";
import { rowHash, writtenSince } from "../database/rowVersions.js";

/**
 * What the origin holds of a table: its rows, the count of those written since, and the count and
 * hash of the rows sharing a key with them (A above).
 */
export interface TableChanges {
  rows: number;
  since: number;
  /** |A|: for a primary key, `since`. */
  keyed: number;
  /** A's hash. */
  sinceHash: string;
  /** Where those rows are (their ctids, as a PostgreSQL array), when there are not too many. */
  tids?: string;
}

/**
 * Up to this many changed rows, the copy fetches them by their ctid too (a TID scan: no second
 * pass over the table). The origin is still, so a row stays where the scan found it; and should
 * one not, the copied rows' hash would differ from the origin's and the copy be rolled back. (The
 * list goes on psql's command line: at 16 characters a ctid at most, well under Linux's 128 KiB
 * for one argument.)
 */
const MAX_TIDS = 4_000;

/** The key of the rows aliased `alias`, as a row value. */
const keyOf = (t: GroupTable, alias: string): string =>
  `(${keyColumns(t)
    .map((c) => `${alias}.${c}`)
    .join(", ")})`;

/** The rows of `t` (aliased `x`) that share a key with the rows `which` selects (alias r). */
const sharingKey = (t: GroupTable, which: string): string =>
  `${keyOf(t, "x")} IN (SELECT ${keyColumns(t)
    .map((c) => `r.${c}`)
    .join(", ")} FROM ONLY ${t.ident} r WHERE ${which})`;

/**
 * One table's count, and the count and ctids of its rows written since the watermark (`w32`), and
 * the count and hash of the rows sharing a key with them. The scan reads only each row's xmin and
 * ctid; the changed rows are then found where it found them (a TID scan), and for a row key the
 * rows sharing their keys through its index. Hashing inside the scan, even behind a FILTER, cost a
 * whole-row value for every row: twice the scan's time. A statement of its own, its rows tagged
 * (`prefix`, then `tag`): never part of one UNION ALL over every table, whose planning grows with
 * the square of their number.
 */
export function tableChangesSql(t: GroupTable, w32: number, tag: string, prefix?: string): string {
  const since = writtenSince(w32);
  // The changed rows' count is their ctids' (one test of each row's xmin, not two).
  const scan = `SELECT count(*) AS n, array_agg(r.ctid) FILTER (WHERE ${since}) AS tids FROM ONLY ${t.ident} r`;
  // A primary key's rows sharing a key are the changed rows; a table without any key is not
  // brought by its rows (byRowsObstacle): only its changed rows' count matters.
  const keyed =
    t.pk.length || !keyColumns(t).length
      ? `FROM ONLY ${t.ident} x WHERE x.ctid = ANY(c.tids)`
      : `FROM ONLY ${t.ident} x WHERE ${sharingKey(t, "r.ctid = ANY(c.tids)")}`;
  const k = "coalesce(cardinality(c.tids), 0)";
  const tags = [prefix, tag]
    .filter((x) => x !== undefined)
    .map((x) => `${quoteLiteral(x)}, `)
    .join("");
  return `SELECT ${tags}c.n::text, ${k}::text, a.n::text, a.h::text, CASE WHEN ${k} <= ${MAX_TIDS} THEN c.tids::text END FROM (${scan}) c, LATERAL (SELECT count(*) AS n, coalesce(sum(${rowHash("x")}), 0) AS h ${keyed}) a;`;
}

export function parseTableChanges(rows: string[][]): Map<string, TableChanges> {
  return new Map(
    rows.map(([ident, n, since, keyed, hash, tids]) => [
      ident!,
      {
        rows: Number(n),
        since: Number(since),
        keyed: Number(keyed),
        sinceHash: hash ?? "0",
        ...(tids ? { tids } : {}),
      },
    ]),
  );
}

/**
 * How many staging rows the rows sharing a key with the changed ones must replace
 * (|S| - |O| + |A|); undefined when the counts alone show rows deleted on the origin (fewer than
 * none, or for a primary key more than the changed rows).
 */
export function rowsToReplace(t: GroupTable, stagingRows: number, o: TableChanges): number | undefined {
  const n = stagingRows - o.rows + o.keyed;
  // A primary key replaces at most one row per key; a row key any number, but none without a key.
  const most = t.pk.length || o.keyed === 0 ? o.keyed : Infinity;
  return n >= 0 && n <= most ? n : undefined;
}

/** Why a table cannot be brought by its changed rows at all, if it cannot. */
export function byRowsObstacle(t: GroupTable): string | undefined {
  return keyColumns(t).length ? undefined : "no primary key, no index of NOT NULL columns";
}

/**
 * The staging side's checks are dollar-quoted blocks that name the table and its key: their tag
 * (`$bm$`, else `$bm1$`...) is one that none of those names holds, whatever characters they have.
 */
export function dollarQuoteTag(names: readonly string[]): string {
  for (let i = 0; ; i++) {
    const tag = `$bm${i || ""}$`;
    if (!names.some((n) => n.includes(tag))) return tag;
  }
}

/** Rows deleted on the origin: the staging side rolled back (its message, matched by the caller). */
export const DELETED_ON_ORIGIN = "bm-migrate: rows deleted on the origin";

const TEMP = "bm_migrate_changed_rows";

/**
 * The staging side's statements, in one transaction: `before` the COPY into the temporary table,
 * the rest after it. Any difference from what the origin holds raises an error: rolled back.
 */
export function replaceRowsSql(
  t: GroupTable,
  replaced: number,
  want: TableChanges,
  temp = TEMP,
): { before: string; after: string[] } {
  const cols = keyColumns(t);
  const q = dollarQuoteTag([t.ident, ...cols]);
  const check = `DO ${q}DECLARE n bigint; BEGIN
DELETE FROM ONLY ${t.ident} r USING ${temp} x WHERE ${keyOf(t, "r")} = ${keyOf(t, "x")};
GET DIAGNOSTICS n = ROW_COUNT;
IF n <> ${replaced} THEN RAISE EXCEPTION '${DELETED_ON_ORIGIN} (% rows replaced, ${replaced} expected)', n; END IF;
END${q}`;
  return {
    before: `CREATE TEMPORARY TABLE ${temp} (LIKE ${t.ident}) ON COMMIT DROP`,
    after: [
      `ANALYZE ${temp}`,
      check,
      `INSERT INTO ${t.ident} OVERRIDING SYSTEM VALUE SELECT * FROM ${temp}`,
      // The copied rows as the staging table now holds them (every row with their keys), hashed as
      // the origin's: else roll back.
      `DO ${q}BEGIN IF (SELECT (count(*), coalesce(sum(${rowHash("r")}), 0)::text) <> (${want.keyed}::bigint, ${quoteLiteral(want.sinceHash)}) FROM ONLY ${t.ident} r WHERE ${keyOf(t, "r")} IN (SELECT ${cols.map((c) => `x.${c}`).join(", ")} FROM ${temp} x)) THEN RAISE EXCEPTION 'bm-migrate: the copied rows of % differ from the origin''s', ${quoteLiteral(t.ident)}; END IF; END${q}`,
    ],
  };
}

/**
 * The origin's side of the copy: the changed rows where the count found them (else by xmin again),
 * and for a row key every row sharing a key with them.
 */
export function changedRowsCopySql(t: GroupTable, w32: number, want: TableChanges): string {
  const which = want.tids ? `r.ctid = ANY(${quoteLiteral(want.tids)}::tid[])` : writtenSince(w32);
  if (t.pk.length) return `COPY (SELECT * FROM ONLY ${t.ident} r WHERE ${which}) TO STDOUT`;
  return `COPY (SELECT * FROM ONLY ${t.ident} x WHERE ${sharingKey(t, which)}) TO STDOUT`;
}

export interface ReplaceOutcome {
  ok: boolean;
  /** The origin deleted rows of this table: compare it by groups. */
  deleted?: boolean;
  rows: number;
  error: string;
}

/**
 * Copy the rows the origin wrote since the watermark, and those sharing their keys, into the staging
 * table, in place of the rows with those keys; rolled back unless exactly `replaced` rows were
 * replaced and the copied rows hash as the origin's (`want`).
 */
export async function replaceChangedRows(
  origin: OriginDb,
  db: string,
  staging: string,
  t: GroupTable,
  w32: number,
  replaced: number,
  want: TableChanges,
  signal?: AbortSignal,
): Promise<ReplaceOutcome> {
  const select = changedRowsCopySql(t, w32, want);
  const sql = replaceRowsSql(t, replaced, want);
  const r = await pipeOriginInto(
    origin,
    db,
    select,
    staging,
    [sql.before, `COPY ${TEMP} FROM STDIN`, ...sql.after],
    signal,
  );
  const ok = r.exitCode === 0;
  const error = ok ? "" : r.stderr.trim() || `exit ${r.exitCode}`;
  return {
    ok,
    ...(error.includes(DELETED_ON_ORIGIN) ? { deleted: true } : {}),
    rows: ok ? want.keyed : 0,
    error,
  };
}

/** One table's part of a batch: its changed rows to copy in place of the rows with their keys. */
export interface RowsToCopy {
  t: GroupTable;
  replaced: number;
  want: TableChanges;
}

/**
 * Up to this many characters of SQL in one batch: the whole pipeline is one argument of bash, and
 * Linux takes at most 128 KiB for one (a table's changed rows' places can take 64 KiB).
 */
const MAX_BATCH_SQL = 96 * 1024;
/** Tables in one batch at most: a batch that fails is done again table by table. */
const MAX_BATCH_TABLES = 64;

/**
 * The tables to copy by their changed rows, in batches: BlueMind's triggers spread a few changes
 * over hundreds of partitions (the changesets', the conversations'), and one pipeline each (an
 * origin session and a staging transaction) cost more than their rows.
 */
export function rowBatches(items: readonly RowsToCopy[], w32: number): RowsToCopy[][] {
  const out: RowsToCopy[][] = [];
  let size = 0;
  for (const item of items) {
    const n =
      changedRowsCopySql(item.t, w32, item.want).length +
      2 * replaceRowsSql(item.t, item.replaced, item.want).after.join("").length;
    const last = out.at(-1);
    if (last && last.length < MAX_BATCH_TABLES && size + n <= MAX_BATCH_SQL) {
      last.push(item);
      size += n;
    } else {
      out.push([item]);
      size = n;
    }
  }
  return out;
}

/**
 * Several tables' changed rows in one pipeline and one staging transaction (each table its own
 * temporary table and checks, as replaceChangedRows): all or nothing. A batch that fails is done
 * again table by table by the caller, so that one table's deletions do not send the others by groups.
 */
export async function replaceChangedRowsBatch(
  origin: OriginDb,
  db: string,
  staging: string,
  batch: readonly RowsToCopy[],
  w32: number,
  signal?: AbortSignal,
): Promise<{ ok: boolean; rows: number; error: string }> {
  const statements = batch.flatMap(({ t, replaced, want }, i) => {
    const temp = `${TEMP}_${i}`;
    const sql = replaceRowsSql(t, replaced, want, temp);
    return [sql.before, `COPY ${temp} FROM STDIN`, ...sql.after];
  });
  const r = await pipeOriginInto(
    origin,
    db,
    batch.map(({ t, want }) => changedRowsCopySql(t, w32, want)),
    staging,
    statements,
    signal,
  );
  const ok = r.exitCode === 0;
  return {
    ok,
    rows: ok ? batch.reduce((n, x) => n + x.want.keyed, 0) : 0,
    error: ok ? "" : r.stderr.trim() || `exit ${r.exitCode}`,
  };
}
