/**
 * The database manifest of one host: what `verify` compares for each BlueMind database, computed
 * inside PostgreSQL so no data leaves the server. The schema (database encoding, collation and
 * owner; extensions; schemas, tables, views, sequences, indexes, constraints, triggers and
 * functions with their owners, grants and hashed definitions), sequence values, and per-table row
 * counts with an order-independent content hash.
 *
 * Each record is `KIND \x1f NAME \x1f JSON-ATTRIBUTES`, NUL-terminated (psql -A -t -F .. -0).
 * Only catalogs PostgreSQL 9.4 already had are read, so the origin's older server answers the same
 * queries as the target's. The session is read-only (default_transaction_read_only).
 */
import { run, type ProcessResult } from "../adapters/process.js";

/** Objects outside the system schemas and not members of an extension (those follow the extension). */
const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;
const notExtensionMember = (catalog: string, oid: string): string =>
  `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '${catalog}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`;

/**
 * Definitions are hashed after normalising what PostgreSQL versions print differently:
 * runs of white space, and EXECUTE PROCEDURE (before 11) versus EXECUTE FUNCTION.
 */
const norm = (expr: string): string =>
  `md5(replace(regexp_replace(${expr}, '\\s+', ' ', 'g'), 'EXECUTE PROCEDURE', 'EXECUTE FUNCTION'))`;

export const SCHEMA_SQL = `
SELECT 'server', 'postgresql', json_build_object('major', current_setting('server_version_num')::int / 10000)::text
UNION ALL
SELECT 'database', current_database(), json_build_object(
    'encoding', pg_encoding_to_char(d.encoding), 'collation', d.datcollate, 'ctype', d.datctype,
    'owner', pg_get_userbyid(d.datdba), 'grants', coalesce(d.datacl::text, ''))::text
  FROM pg_database d WHERE d.datname = current_database()
UNION ALL
SELECT 'extension', e.extname, json_build_object('schema', n.nspname)::text
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
UNION ALL
SELECT 'schema', n.nspname, json_build_object('owner', pg_get_userbyid(n.nspowner), 'grants', coalesce(n.nspacl::text, ''))::text
  FROM pg_namespace n WHERE ${USER_SCHEMA} AND ${notExtensionMember("pg_namespace", "n.oid")}
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'foreign table' END,
       format('%I.%I', n.nspname, c.relname),
       json_build_object('owner', pg_get_userbyid(c.relowner), 'grants', coalesce(c.relacl::text, ''),
         'definition', CASE WHEN c.relkind IN ('v', 'm') THEN ${norm("pg_get_viewdef(c.oid)")}
           ELSE (SELECT md5(string_agg(format('%I %s %s %s', a.attname, format_type(a.atttypid, a.atttypmod),
                   a.attnotnull, coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')), ', ' ORDER BY a.attnum))
                 FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) END)::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_SCHEMA} AND ${notExtensionMember("pg_class", "c.oid")}
UNION ALL
SELECT 'index', format('%I.%I', n.nspname, c.relname), json_build_object('definition', ${norm("pg_get_indexdef(c.oid)")})::text
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE ${USER_SCHEMA} AND ${notExtensionMember("pg_class", "i.indrelid")}
UNION ALL
SELECT 'constraint', format('%I.%I.%I', n.nspname, c.relname, k.conname),
       json_build_object('definition', ${norm("pg_get_constraintdef(k.oid)")})::text
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE ${USER_SCHEMA} AND ${notExtensionMember("pg_class", "c.oid")}
UNION ALL
SELECT 'trigger', format('%I.%I.%I', n.nspname, c.relname, tg.tgname),
       json_build_object('definition', ${norm("pg_get_triggerdef(tg.oid)")}, 'enabled', tg.tgenabled)::text
  FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE NOT tg.tgisinternal AND ${USER_SCHEMA}
UNION ALL
SELECT 'function', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       json_build_object('owner', pg_get_userbyid(p.proowner), 'grants', coalesce(p.proacl::text, ''),
         'definition', md5(coalesce(p.prosrc, '') || ' returns ' || coalesce(pg_get_function_result(p.oid), '') || ' language ' || l.lanname))::text
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
  WHERE ${USER_SCHEMA} AND ${notExtensionMember("pg_proc", "p.oid")};
`;

/**
 * One query per table and per sequence, generated from the catalog and run by psql's \gexec.
 * The content hash: each row's text form hashed (md5), the first 60 bits summed; equal for the
 * same rows in any order. The row is `alias.*`: a column named like the alias is not the row.
 */
const TABLE_ROWS_SELECT = `
SELECT format($q$SELECT 'rows', %L, json_build_object('rows', count(*), 'hash', coalesce(sum(('x' || substr(md5((bm_verify_row.*)::text), 1, 15))::bit(60)::bigint), 0)::text)::text FROM ONLY %I.%I bm_verify_row$q$,
              format('%I.%I', n.nspname, c.relname), n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND ${USER_SCHEMA} AND ${notExtensionMember("pg_class", "c.oid")}
`;
const SEQUENCE_VALUES_SELECT = `SELECT format($q$SELECT 'sequence value', %L, json_build_object('last_value', last_value, 'is_called', is_called)::text FROM %I.%I$q$,
              format('%I.%I', n.nspname, c.relname), n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'S' AND ${USER_SCHEMA} AND ${notExtensionMember("pg_class", "c.oid")}`;

/** Every table's rows (count and hash) and every sequence's value. */
export const DATA_SQL = `${TABLE_ROWS_SELECT}UNION ALL
${SEQUENCE_VALUES_SELECT}
\\gexec
`;

/** Only the sequences' values (the downtime's verification of what changed: schema and sequences). */
export const SEQUENCE_VALUES_SQL = `${SEQUENCE_VALUES_SELECT}
\\gexec
`;

/** Session settings that make text forms the same on both servers, and keep the session read-only. */
export const PG_OPTIONS =
  "-c default_transaction_read_only=on -c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c bytea_output=hex";

/** kind + "\x1f" + name -> attributes. */
export type DbManifest = Map<string, Record<string, unknown>>;

export function parseDbManifest(stdout: string): DbManifest {
  const out: DbManifest = new Map();
  for (const record of stdout.split("\0")) {
    if (record.trim() === "") continue;
    const [kind, name, json] = record.replace(/^\n+/, "").split("\x1f");
    if (kind === undefined || name === undefined || json === undefined)
      throw new Error(`malformed database manifest record: ${JSON.stringify(record.slice(0, 200))}`);
    out.set(`${kind}\x1f${name}`, JSON.parse(json) as Record<string, unknown>);
  }
  return out;
}

/** How psql reaches one host's server. */
export interface PsqlAccess {
  /** For messages. */
  label: string;
  /** argv before psql's own options, e.g. ["runuser", "-u", "postgres", "--", "psql"]. */
  command: string[];
  /** Connection options (-h, -p, -U). */
  connection: string[];
  /** Environment of the child only (PGPASSWORD travels here). */
  env?: Record<string, string>;
}

export type DbManifestResult =
  | { kind: "ok"; manifest: DbManifest; durationMs: number }
  | { kind: "no-database" }
  | { kind: "failed"; result: ProcessResult };

/** Read one database's manifest through psql. */
export async function readDbManifest(
  access: PsqlAccess,
  database: string,
  signal?: AbortSignal,
  /** What to read (default: the whole manifest, SCHEMA_SQL + DATA_SQL). */
  sql?: string,
): Promise<DbManifestResult> {
  const [cmd, ...pre] = access.command;
  const r = await run(
    cmd!,
    [
      ...pre,
      "-X",
      "-w",
      "-q",
      "-A",
      "-t",
      "-F",
      "\x1f",
      "-0",
      "-v",
      "ON_ERROR_STOP=1",
      ...access.connection,
      "-d",
      database,
    ],
    {
      input: sql ?? SCHEMA_SQL + DATA_SQL,
      env: { ...access.env, PGOPTIONS: PG_OPTIONS, PGCONNECT_TIMEOUT: "15" },
      maxStdout: 256 * 1024 * 1024,
      ...(signal ? { signal } : {}),
    },
  );
  if (r.exitCode !== 0) {
    if (/database "[^"]*" does not exist/.test(r.stderr)) return { kind: "no-database" };
    return { kind: "failed", result: r };
  }
  return { kind: "ok", manifest: parseDbManifest(r.stdout), durationMs: r.durationMs };
}
