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
