/**
 * The cold pass's shortest way to bring a table of the staging copy up to date: by the rows the
 * origin wrote since the watermark, found by their xmin, copied by their key.
 *
 * The origin is still during the cold sync. Call O its rows now, N those of them written since the
 * watermark, S the staging copy's rows. Every row of O outside N was there, unchanged, when the
 * staging copy was last brought up to date, so it is in S as it is in O. In one transaction on the
 * staging side, the rows of N are loaded into a temporary table, the rows of S with the same keys
 * are deleted, and N is inserted. The result holds O; it holds nothing else exactly when the delete
 * removed |S| - |O| + |N| rows (the rows of S that N replaces; any more in S were deleted on the
 * origin). Otherwise the transaction is rolled back and the table is compared by groups instead.
 *
 * This reads each origin row's xmin once (one count per table, no grouping; the changed rows are
 * then fetched where that scan found them) and touches only the changed rows on the staging side
 * (through its primary key): the downtime grows with the change, barely with the tables' size. The
 * rows of N are hashed on both servers and must be equal.
 */
import { pipeOriginInto } from "../adapters/pgQuery.js";
import { quoteLiteral, type OriginDb } from "../adapters/postgres.js";
import type { GroupTable } from "../database/rowGroups.js";
import { rowHash, writtenSince } from "../database/rowVersions.js";

/** What the origin holds of a table: its rows, and the count and hash of those written since. */
export interface TableChanges {
  rows: number;
  since: number;
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

/**
 * One table's count, and the count, hash and ctids of its rows written since the watermark (`w32`).
 * The scan reads only each row's xmin and ctid; the changed rows are then hashed where it found
 * them (a TID scan). Hashing inside the scan, even behind a FILTER, cost a whole-row value for
 * every row: twice the scan's time.
 */
export function tableChangesSql(t: GroupTable, w32: number, tag: string): string {
  const since = writtenSince(w32);
  // The changed rows' count is their ctids' (one test of each row's xmin, not two).
  const scan = `SELECT count(*) AS n, array_agg(r.ctid) FILTER (WHERE ${since}) AS tids FROM ONLY ${t.ident} r`;
  const hash = `SELECT coalesce(sum(${rowHash("x")}), 0) FROM ONLY ${t.ident} x WHERE x.ctid = ANY(c.tids)`;
  const k = "coalesce(cardinality(c.tids), 0)";
  return `(SELECT ${quoteLiteral(tag)}, c.n::text, ${k}::text, (${hash})::text, CASE WHEN ${k} <= ${MAX_TIDS} THEN c.tids::text END FROM (${scan}) c)`;
}

export function parseTableChanges(rows: string[][]): Map<string, TableChanges> {
  return new Map(
    rows.map(([ident, n, since, hash, tids]) => [
      ident!,
      { rows: Number(n), since: Number(since), sinceHash: hash ?? "0", ...(tids ? { tids } : {}) },
    ]),
  );
}

/**
 * How many staging rows the changed rows must replace (|S| - |O| + |N|); undefined when the counts
 * alone show rows deleted on the origin (fewer than none, or more than the changed rows).
 */
export function rowsToReplace(stagingRows: number, o: TableChanges): number | undefined {
  const n = stagingRows - o.rows + o.since;
  return n >= 0 && n <= o.since ? n : undefined;
}

/** Why a table cannot be brought by its changed rows at all, if it cannot. */
export function byRowsObstacle(t: GroupTable): string | undefined {
  return t.pk.length ? undefined : "no primary key";
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
): { before: string; after: string[] } {
  const key = (alias: string): string => `(${t.pk.map((c) => `${alias}.${c}`).join(", ")})`;
  const q = dollarQuoteTag([t.ident, ...t.pk]);
  const check = `DO ${q}DECLARE n bigint; BEGIN
DELETE FROM ONLY ${t.ident} r USING ${TEMP} x WHERE ${key("r")} = ${key("x")};
GET DIAGNOSTICS n = ROW_COUNT;
IF n <> ${replaced} THEN RAISE EXCEPTION '${DELETED_ON_ORIGIN} (% rows replaced, ${replaced} expected)', n; END IF;
END${q}`;
  return {
    before: `CREATE TEMPORARY TABLE ${TEMP} (LIKE ${t.ident}) ON COMMIT DROP`,
    after: [
      `ANALYZE ${TEMP}`,
      check,
      `INSERT INTO ${t.ident} OVERRIDING SYSTEM VALUE SELECT * FROM ${TEMP}`,
      // The copied rows as the staging table now holds them, hashed as the origin's: else roll back.
      `DO ${q}BEGIN IF (SELECT (count(*), coalesce(sum(${rowHash("r")}), 0)::text) <> (${want.since}::bigint, ${quoteLiteral(want.sinceHash)}) FROM ONLY ${t.ident} r WHERE ${key("r")} IN (SELECT ${t.pk.map((c) => `x.${c}`).join(", ")} FROM ${TEMP} x)) THEN RAISE EXCEPTION 'bm-migrate: the copied rows of % differ from the origin''s', ${quoteLiteral(t.ident)}; END IF; END${q}`,
    ],
  };
}

/** The origin's side of the copy: the changed rows where the count found them, else by xmin again. */
export function changedRowsCopySql(t: GroupTable, w32: number, want: TableChanges): string {
  const where = want.tids ? `r.ctid = ANY(${quoteLiteral(want.tids)}::tid[])` : writtenSince(w32);
  return `COPY (SELECT * FROM ONLY ${t.ident} r WHERE ${where}) TO STDOUT`;
}

export interface ReplaceOutcome {
  ok: boolean;
  /** The origin deleted rows of this table: compare it by groups. */
  deleted?: boolean;
  rows: number;
  error: string;
}

/**
 * Copy the rows the origin wrote since the watermark into the staging table, in place of the rows
 * with their keys; rolled back unless exactly `replaced` rows were replaced and the copied rows
 * hash as the origin's (`want`).
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
    rows: ok ? want.since : 0,
    error,
  };
}
