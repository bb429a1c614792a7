/**
 * Bringing a staging copy of a database up to date with the origin by moving only what changed.
 *
 * The staging copy was loaded in full during a hot sync, while the origin served. At the next pass
 * (or in the downtime) both servers hash every table inside PostgreSQL (row count and an
 * order-independent sum of row hashes); tables that differ are compared bucket by bucket (rows
 * grouped by a hash of their primary key) and only the differing buckets are deleted and copied
 * again (COPY through the tunnel, triggers and foreign keys off as in a restore). Sequences take
 * the origin's values. Then every table is hashed again and must equal the origin's: otherwise
 * the caller falls back to a full copy. The schema must be the one the staging copy was loaded
 * with (its fingerprint is kept in the staging database's comment), else: full copy.
 */
import { run } from "../adapters/process.js";
import { originRows, targetRows, STABLE_TEXT } from "../adapters/pgQuery.js";
import { psqlAsPostgres, quoteIdent, quoteLiteral, type OriginDb } from "../adapters/postgres.js";
import { SCHEMA_SQL } from "../verify/dbManifest.js";
import { shellQuote } from "../adapters/process.js";

export interface TableInfo {
  /** schema.table, quoted for SQL */
  ident: string;
  /** Primary key columns, quoted; empty when none. */
  pk: string[];
}

export interface TableHash {
  rows: number;
  hash: string;
}

const ROW_HASH = (alias: string) => `('x' || substr(md5(${alias}::text), 1, 15))::bit(60)::bigint`;

/** The schema's fingerprint: an md5 over the same catalog records `verify` compares. */
export const FINGERPRINT_SQL = `SELECT md5(string_agg(concat_ws(chr(31), k, n, a), chr(10) ORDER BY k, n, a)) FROM (${SCHEMA_SQL}) s(k, n, a);`;

export const TABLES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname),
       coalesce((SELECT string_agg(quote_ident(a.attname), ',' ORDER BY array_position(i.indkey::int2[], a.attnum))
                   FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
                  WHERE i.indrelid = c.oid AND i.indisprimary), '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1;`;

export const SEQUENCES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1;`;

export function tableHashesSql(tables: TableInfo[]): string {
  if (!tables.length) return "SELECT '', 0, '0' WHERE false;";
  return (
    tables
      .map(
        (t) =>
          `SELECT ${quoteLiteral(t.ident)}, count(*), coalesce(sum(${ROW_HASH("r")}), 0)::text FROM ONLY ${t.ident} r`,
      )
      .join("\nUNION ALL\n") + ";"
  );
}

/** Bucket of a row: a hash of its primary key, masked to the bucket count (a power of two). */
export function bucketExpr(t: TableInfo, mask: number, alias = "r"): string {
  const key = t.pk.map((c) => `${alias}.${c}`).join(", ");
  return `(('x' || substr(md5(ROW(${key})::text), 1, 8))::bit(32)::int & ${mask})`;
}

export function bucketHashesSql(t: TableInfo, mask: number): string {
  return `SELECT ${bucketExpr(t, mask)} AS b, count(*), coalesce(sum(${ROW_HASH("r")}), 0)::text FROM ONLY ${t.ident} r GROUP BY 1;`;
}

/** Buckets sized for ~64 rows each, at most 65,536. */
export function bucketMask(rows: number): number {
  let n = 1;
  while (n < rows / 64 && n < 65536) n *= 2;
  return n - 1;
}

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
}

/** Read the fingerprint kept in the staging database's comment. */
export async function stagingFingerprint(staging: string, signal?: AbortSignal): Promise<string | undefined> {
  const r = await targetRows(
    "postgres",
    `SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = ${quoteLiteral(staging)};`,
    signal,
  );
  if (r.exitCode !== 0) return undefined;
  const m = /bm-migrate fingerprint ([0-9a-f]{32})/.exec(r.rows[0]?.[0] ?? "");
  return m?.[1];
}

export async function setStagingFingerprint(
  staging: string,
  fingerprint: string,
  signal?: AbortSignal,
): Promise<void> {
  await psqlAsPostgres(
    `COMMENT ON DATABASE ${quoteIdent(staging)} IS ${quoteLiteral(`bm-migrate fingerprint ${fingerprint}`)};`,
    "postgres",
    signal,
  );
}

export async function originFingerprint(
  origin: OriginDb,
  db: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const r = await originRows(origin, db, FINGERPRINT_SQL, signal);
  return r.exitCode === 0 ? r.rows[0]?.[0] : undefined;
}

/** Copy rows of one table from the origin into staging (COPY through the tunnel). */
async function copyRows(
  origin: OriginDb,
  db: string,
  staging: string,
  t: TableInfo,
  where: string,
  signal?: AbortSignal,
): Promise<{ ok: boolean; rows: number; error: string }> {
  const select = `COPY (SELECT * FROM ONLY ${t.ident} r${where ? ` WHERE ${where}` : ""}) TO STDOUT`;
  const script = `set -o pipefail
PGPASSWORD="$BM_ORIGIN_PW" PGOPTIONS="$BM_OPTS -c default_transaction_read_only=on" psql -X -w -q -h ${shellQuote(origin.host)} -p ${origin.port} -U ${shellQuote(origin.user)} -d ${shellQuote(db)} -c ${shellQuote(select)} \\
 | runuser -u postgres -- env PGOPTIONS="$BM_OPTS -c session_replication_role=replica" psql -X -q -v ON_ERROR_STOP=1 -d ${shellQuote(staging)} -c ${shellQuote(`COPY ${t.ident} FROM STDIN`)}`;
  const r = await run("bash", ["-c", script], {
    env: { BM_ORIGIN_PW: origin.password, BM_OPTS: STABLE_TEXT, PGCONNECT_TIMEOUT: "15" },
    ...(signal ? { signal } : {}),
  });
  const m = /COPY (\d+)/.exec(r.stdout);
  return { ok: r.exitCode === 0, rows: m ? Number(m[1]) : 0, error: r.stderr.trim() };
}

/** Run SQL on the staging database with triggers and foreign keys off, as a restore does. */
function onStaging(staging: string, sql: string, signal?: AbortSignal) {
  return psqlAsPostgres(`SET session_replication_role = replica;\n${sql}`, staging, signal);
}

export async function deltaSync(
  origin: OriginDb,
  db: string,
  staging: string,
  expectedFingerprint: string,
  signal?: AbortSignal,
): Promise<DeltaOutcome> {
  const fail = (reason: string): DeltaOutcome => ({
    ok: false,
    reason,
    tables: 0,
    changedTables: [],
    copiedRows: 0,
  });
  const fp = await originFingerprint(origin, db, signal);
  if (!fp) return fail("cannot read the origin's schema");
  if (fp !== expectedFingerprint)
    return fail("the origin's schema changed since the staging copy was loaded");
  const list = await originRows(origin, db, TABLES_SQL, signal);
  if (list.exitCode !== 0) return fail(`cannot list tables: ${list.stderr.trim()}`);
  const tables: TableInfo[] = list.rows.map(([ident, pk]) => ({
    ident: ident!,
    pk: pk ? pk.split(",") : [],
  }));
  const sql = tableHashesSql(tables);
  const [o, s] = await Promise.all([originRows(origin, db, sql, signal), targetRows(staging, sql, signal)]);
  if (o.exitCode !== 0 || s.exitCode !== 0)
    return fail(`cannot hash tables: ${(o.stderr + s.stderr).trim()}`);
  const originHashes = parseHashes(o.rows);
  const changed = differingKeys(originHashes, parseHashes(s.rows));
  let copied = 0;
  for (const ident of changed) {
    const t = tables.find((x) => x.ident === ident);
    if (!t) return fail(`table ${ident} exists on one side only`);
    if (t.pk.length === 0) {
      const del = await onStaging(staging, `DELETE FROM ONLY ${t.ident};`, signal);
      if (del.exitCode !== 0) return fail(`cannot empty ${ident}: ${del.stderr.trim()}`);
      const c = await copyRows(origin, db, staging, t, "", signal);
      if (!c.ok) return fail(`cannot copy ${ident}: ${c.error}`);
      copied += c.rows;
      continue;
    }
    const mask = bucketMask(Math.max(originHashes.get(ident)?.rows ?? 0, 1));
    const bsql = bucketHashesSql(t, mask);
    const [ob, sb] = await Promise.all([
      originRows(origin, db, bsql, signal),
      targetRows(staging, bsql, signal),
    ]);
    if (ob.exitCode !== 0 || sb.exitCode !== 0)
      return fail(`cannot hash ${ident} by bucket: ${(ob.stderr + sb.stderr).trim()}`);
    const buckets = differingKeys(parseHashes(ob.rows), parseHashes(sb.rows));
    if (!buckets.length) continue;
    const inList = `${bucketExpr(t, mask)} = ANY('{${buckets.join(",")}}'::int[])`;
    const del = await onStaging(staging, `DELETE FROM ONLY ${t.ident} r WHERE ${inList};`, signal);
    if (del.exitCode !== 0) return fail(`cannot delete changed rows of ${ident}: ${del.stderr.trim()}`);
    const c = await copyRows(origin, db, staging, t, inList, signal);
    if (!c.ok) return fail(`cannot copy changed rows of ${ident}: ${c.error}`);
    copied += c.rows;
  }
  // Sequences take the origin's values.
  const seqs = await originRows(origin, db, SEQUENCES_SQL, signal);
  if (seqs.exitCode !== 0) return fail(`cannot list sequences: ${seqs.stderr.trim()}`);
  if (seqs.rows.length) {
    const values = await originRows(
      origin,
      db,
      seqs.rows.map(([q]) => `SELECT ${quoteLiteral(q!)}, last_value, is_called FROM ${q};`).join("\n"),
      signal,
    );
    if (values.exitCode !== 0) return fail(`cannot read sequences: ${values.stderr.trim()}`);
    const setvals = values.rows
      .map(([q, v, called]) => `SELECT setval(${quoteLiteral(q!)}, ${Number(v)}, ${called === "t"});`)
      .join("\n");
    const sv = await onStaging(staging, setvals, signal);
    if (sv.exitCode !== 0) return fail(`cannot set sequences: ${sv.stderr.trim()}`);
  }
  // Proof: every changed table now hashes as the origin's.
  if (changed.length) {
    const recheck = tableHashesSql(tables.filter((t) => changed.includes(t.ident)));
    const s2 = await targetRows(staging, recheck, signal);
    if (s2.exitCode !== 0) return fail(`cannot re-hash: ${s2.stderr.trim()}`);
    const after = parseHashes(s2.rows);
    const still = changed.filter(
      (k) =>
        after.get(k)?.rows !== originHashes.get(k)?.rows || after.get(k)?.hash !== originHashes.get(k)?.hash,
    );
    if (still.length) return fail(`tables still differ after the delta: ${still.join(", ")}`);
  }
  return { ok: true, tables: tables.length, changedTables: changed, copiedRows: copied };
}
