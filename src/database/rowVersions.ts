/**
 * What the delta reads of a PostgreSQL row version: whether it was written since a watermark (its
 * xmin), and a hash of its content (both servers compute the same one for the same row).
 */

/**
 * A row version written by a transaction not older than the watermark (`w32`, its 32-bit xid):
 * its xmin's age (transactions since, in PostgreSQL's circular xid order) is at most the
 * watermark's. Every visible row's xmin is older than the statement's reference xid, and an
 * unfrozen one by less than 2^31; the special xids below 3 (bootstrap, frozen by a release older
 * than 9.4) are infinitely old. A row frozen so long ago that its age wraps looks new: copied
 * for nothing, never missed. (`age` reads integers; a cast of xmin through text cost twice as much.)
 * The watermark's age is a sub-select: computed once per statement (an InitPlan), not per row.
 */
export function writtenSince(w32: number): string {
  return `age(r.xmin) <= (SELECT age('${w32}'::xid))`;
}

/** A 64-bit txid's 32-bit xid, as rows' xmin hold it. */
export const xid32 = (txid: number): number => txid % 2 ** 32;

/**
 * A row's hash: 60 bits of the md5 of its text (summed per group, so order does not matter).
 * `alias.*` is the whole row whatever the table's columns are called (a bare `alias` would be a
 * column of that name, if the table has one).
 */
export const rowHash = (alias: string): string =>
  `('x' || substr(md5((${alias}.*)::text), 1, 15))::bit(60)::bigint`;

/**
 * The server's snapshot as text ("xmin:xmax:xip"), followed by the transaction ids other sessions
 * hold (" held 930,931") and prepared transactions keep (" prepared 925"). The snapshot alone
 * cannot tell "nothing in progress": its xmax is the newest completed transaction's successor, so
 * a transaction holding the newest id is in neither its xmax nor its list ("930:930:" while 930
 * writes). Two equal texts mean nothing committed in between; see snapshotQuiet for "nothing in
 * progress". (`backend_xid` is PostgreSQL 9.4's: read through row_to_json, an older server lists
 * none; json's `->>` is 9.3's.)
 */
export const SNAPSHOT_TEXT = `txid_current_snapshot()::text
  || coalesce(' held ' || (SELECT string_agg((row_to_json(a)->>'backend_xid'), ',' ORDER BY (row_to_json(a)->>'backend_xid')) FROM pg_stat_activity a WHERE (row_to_json(a)->>'backend_xid') IS NOT NULL AND a.pid <> pg_backend_pid()), '')
  || coalesce(' prepared ' || (SELECT string_agg(p.transaction::text, ',' ORDER BY p.transaction::text) FROM pg_prepared_xacts p), '')`;

/**
 * Whether a snapshot read with SNAPSHOT_TEXT had no transaction in progress: no running one below
 * its xmax (xmin = xmax, an empty list), none holding an id (the newest included), none prepared.
 */
export function snapshotQuiet(snapshot: string | undefined): boolean {
  const m = /^(\d+):(\d+):$/.exec(snapshot ?? "");
  return Boolean(m && m[1] === m[2]);
}

/**
 * A watermark (32-bit xid) more than this many transactions behind the server's xid now is not
 * trusted: xids compare in a circle of 2^32, so past 2^31 a row written since looks older than
 * it, and well before that a row can be frozen and its age wrap. The delta's own guard is the same.
 */
export const WATERMARK_MAX_AGE = 2 ** 30;

/** Whether a watermark (`w32`) is recent enough against the server's xid now (`now32`, 32 bits). */
export function watermarkFresh(w32: number | undefined, now32: number | undefined): boolean {
  if (w32 === undefined || now32 === undefined || !Number.isInteger(w32) || !Number.isInteger(now32))
    return false;
  return (((now32 - w32) % 2 ** 32) + 2 ** 32) % 2 ** 32 < WATERMARK_MAX_AGE;
}
