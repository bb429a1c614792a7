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
import { FENCE_SETTING } from "./fence.js";

/**
 * pg_repack's work while it runs (BlueMind's nightly job repacks partitions): in its own schema
 * `repack`, the type `pk_<oid>`, the log table `log_<oid>` with its sequence, the new table
 * `table_<oid>` and its indexes `index_<oid>`, all dropped when it ends; and the trigger it puts on
 * the table being repacked, which calls `repack.repack_trigger` (pg_repack's lib/pg_repack.sql.in,
 * and its regression test repack-check: `CREATE TABLE repack.log_<oid> (id bigserial PRIMARY KEY, pk
 * repack.pk_<oid>, row ...)`, `CREATE TRIGGER repack_trigger ... EXECUTE PROCEDURE
 * repack.repack_trigger(...)`). Ignoring them is safe: the rows stay in the table being repacked
 * until pg_repack swaps the two tables' files in one transaction, so the content compared (and
 * copied) is the table's own; the log only replays into the copy pg_repack discards or swaps in.
 */
const REPACK_WORK = (nsp: string, name: string): string =>
  `(${nsp} = 'repack' AND ${name} ~ '^(log|table|pk|index)_[0-9]+')`;

/**
 * Objects outside the system schemas and not members of an extension (those follow the extension).
 * Other sessions' temporary objects (schemas pg_temp_N and pg_toast_temp_N) are left out: they
 * vanish with their session, pg_dump never copies them, and reading another session's temporary
 * sequence or table fails.
 */
export const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;
/** A relation of the user's (`c` in pg_class, `n` its schema), not one of pg_repack's while it runs. */
export const USER_RELATION = `${USER_SCHEMA} AND NOT ${REPACK_WORK("n.nspname", "c.relname")}`;
export const notExtensionMember = (catalog: string, oid: string): string =>
  `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '${catalog}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`;

/**
 * Definitions are hashed after normalising what PostgreSQL versions print differently:
 * runs of white space, and EXECUTE PROCEDURE (before 11) versus EXECUTE FUNCTION.
 */
const norm = (expr: string): string =>
  `md5(replace(regexp_replace(${expr}, '\\s+', ' ', 'g'), 'EXECUTE PROCEDURE', 'EXECUTE FUNCTION'))`;

/** A collation's qualified name (regcollation is 13 on). */
const collation = (oid: string): string =>
  `(SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ${oid})`;

/** A catalog column that a later release added: its value, or what older releases behaved as. */
const since = (row: string, column: string, before: string): string =>
  `coalesce(row_to_json(${row})::jsonb ->> '${column}', '${before}')`;

/** The text of an element of query_to_xml's output, with its escapes undone. */
const xmlText = (row: string, element: string): string =>
  `replace(replace(replace((xpath('/row/${element}/text()', ${row}))[1]::text, '&lt;', '<'), '&gt;', '>'), '&amp;', '&')`;

/**
 * Records read from catalogs or functions that not every release has (pg_policy from 9.5, pg_sequence
 * and partitions from 10): each query, a text that yields columns `n` (name) and `a` (attributes),
 * is chosen by the server's version and run by query_to_xml, so that the statement itself names
 * nothing an older server lacks. `queries` maps a minimum server_version_num to the query used from
 * it on (the highest one not above the server's wins); below all of them, no record.
 */
function versioned(kind: string, queries: Record<number, string>): string {
  const branches = Object.entries(queries)
    .map(([v, q]) => [Number(v), q] as const)
    .sort((a, b) => b[0] - a[0])
    .map(([v, q]) => `WHEN current_setting('server_version_num')::int >= ${v} THEN ${sqlString(q)}`)
    .join(" ");
  return `SELECT '${kind}'::text, ${xmlText("r", "n")}, ${xmlText("r", "a")}
  FROM unnest(xpath('/table/row', query_to_xml(CASE ${branches} ELSE 'SELECT NULL::text AS n, NULL::text AS a WHERE false' END, false, false, ''))) r`;
}
const sqlString = (q: string): string => `'${q.replace(/'/g, "''")}'`;

/** Relations' columns: name, type, NOT NULL, default, collation where not the type's own, grants. */
const COLUMNS = `(SELECT md5(string_agg(format('%I %s %s %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                   a.attnotnull, coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''),
                   CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || ${collation("a.attcollation")} ELSE '' END),
                   ', ' ORDER BY a.attnum))
                 FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                 JOIN pg_type t ON t.oid = a.atttypid
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)`;
const COLUMN_GRANTS = `coalesce((SELECT string_agg(format('%I=%s', a.attname, a.attacl::text), ' ' ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL), '')`;

/** Sequences' parameters: in pg_sequence from 10 on, in the sequence itself before. */
const SEQUENCE_PARAMETERS_10 = `SELECT format('%I.%I', n.nspname, c.relname) AS n,
    json_build_object('type', format_type(s.seqtypid, NULL), 'start', s.seqstart::text, 'increment', s.seqincrement::text,
      'min', s.seqmin::text, 'max', s.seqmax::text, 'cache', s.seqcache::text, 'cycle', s.seqcycle)::text AS a
  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}`;
const SEQUENCE_PARAMETERS_9 = `SELECT coalesce(string_agg(format($s$SELECT %L::text AS n, json_build_object('type', 'bigint', 'start', start_value::text,
      'increment', increment_by::text, 'min', min_value::text, 'max', max_value::text, 'cache', cache_value::text, 'cycle', is_cycled)::text AS a FROM %I.%I$s$,
      format('%I.%I', n.nspname, c.relname), n.nspname, c.relname), ' UNION ALL '), 'SELECT NULL::text AS n, NULL::text AS a WHERE false')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'S' AND ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}`;

/** Row-level security policies (9.5 on; every policy was permissive before 10). */
const POLICIES = `SELECT format('%I.%I.%I', n.nspname, c.relname, p.polname) AS n,
    json_build_object('command', p.polcmd, 'permissive', ${since("p", "polpermissive", "true")},
      'roles', (SELECT string_agg(u, ',' ORDER BY u) FROM (SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(p.polroles) r) x(u)),
      'using', coalesce(pg_get_expr(p.polqual, p.polrelid), ''), 'with check', coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))::text AS a
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}`;

/** Partitioned tables' keys and partitions' bounds (10 on). */
const PARTITIONING = `SELECT format('%I.%I', n.nspname, c.relname) AS n,
    json_build_object('key', CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) ELSE '' END,
      'bound', coalesce(pg_get_expr(c.relpartbound, c.oid), ''),
      'of', coalesce((SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid), ''))::text AS a
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND (c.relkind = 'p' OR c.relispartition) AND ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}`;

/**
 * Materialized views' contents: a REFRESH changes no catalog, yet what the view holds (the delta
 * copies tables only, so a changed content must change the fingerprint and force a full copy).
 */
const MATVIEW_ROWS = `SELECT coalesce(string_agg(CASE WHEN c.relispopulated
      THEN format($m$SELECT %L::text AS n, json_build_object('rows', count(*), 'hash', coalesce(sum(('x' || substr(md5((bm_verify_row.*)::text), 1, 15))::bit(60)::bigint), 0)::text)::text AS a FROM %I.%I bm_verify_row$m$,
             format('%I.%I', n.nspname, c.relname), n.nspname, c.relname)
      ELSE format($m$SELECT %L::text AS n, '{"populated": false}'::text AS a$m$, format('%I.%I', n.nspname, c.relname)) END, ' UNION ALL '),
    'SELECT NULL::text AS n, NULL::text AS a WHERE false')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'm' AND ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}`;

/** A dynamic query generated by `generator` (a SELECT of one text), run by query_to_xml. */
function generated(kind: string, generator: string): string {
  return `SELECT '${kind}'::text, ${xmlText("r", "n")}, ${xmlText("r", "a")}
  FROM unnest(xpath('/table/row', query_to_xml((${generator}), false, false, ''))) r`;
}

/** Types: enums with their labels in order, composite types' attributes, domains with their constraints, ranges. */
const TYPES = `SELECT 'type'::text, format('%I.%I', n.nspname, t.typname),
       json_build_object('owner', pg_get_userbyid(t.typowner), 'grants', coalesce(t.typacl::text, ''),
         'kind', t.typtype,
         'labels', CASE WHEN t.typtype = 'e' THEN (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) END,
         'definition', md5(CASE t.typtype
           WHEN 'e' THEN coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
           WHEN 'c' THEN coalesce((SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                   CASE WHEN a.attcollation <> at.typcollation THEN ' COLLATE ' || ${collation("a.attcollation")} ELSE '' END), ', ' ORDER BY a.attnum)
                 FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '')
           WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) || ' ' || t.typnotnull || ' ' || coalesce(t.typdefault, '')
                 || CASE WHEN t.typcollation <> bt.typcollation THEN ' COLLATE ' || ${collation("t.typcollation")} ELSE '' END
                 || coalesce((SELECT string_agg(format(' %I %s', k.conname, pg_get_constraintdef(k.oid)), '' ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid), '')
           WHEN 'r' THEN coalesce((SELECT format_type(r.rngsubtype, NULL) || ' ' || r.rngsubopc::regclass::text FROM pg_range r WHERE r.rngtypid = t.oid), '')
           ELSE t.typinput::text || ' ' || t.typoutput::text || ' ' || t.typlen END))::text
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
  WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid))
    AND NOT (t.typelem <> 0 AND t.typlen = -1 AND t.typcategory = 'A')
    AND ${USER_SCHEMA} AND NOT ${REPACK_WORK("n.nspname", "t.typname")} AND ${notExtensionMember("pg_type", "t.oid")}`;

/** Large objects: owner, grants and content (pg_dump carries them, the delta does not). */
const LARGE_OBJECTS = `SELECT 'large object'::text, m.oid::text,
       json_build_object('owner', pg_get_userbyid(m.lomowner), 'grants', coalesce(m.lomacl::text, ''), 'content', md5(lo_get(m.oid)))::text
  FROM pg_largeobject_metadata m`;

/**
 * The catalog records `verify` compares, and whose md5 is the schema fingerprint the delta checks
 * (phases/databaseDelta.ts): anything here that changes after the first copy forces a full copy,
 * which is how changes the delta cannot carry (a renamed enum label, a new composite attribute, a
 * changed setting or grant) reach the target. Every name column is text: PostgreSQL's `name` would
 * cut it to 63 bytes and make different objects collide.
 */
export const SCHEMA_SQL = `
SELECT 'server'::text, 'postgresql'::text, json_build_object('major', current_setting('server_version_num')::int / 10000)::text
UNION ALL
SELECT 'database'::text, current_database()::text, json_build_object(
    'encoding', pg_encoding_to_char(d.encoding), 'collation', d.datcollate, 'ctype', d.datctype,
    'owner', pg_get_userbyid(d.datdba), 'grants', (SELECT string_agg(g::text, ',' ORDER BY g::text) FROM unnest(coalesce(d.datacl, acldefault('d', d.datdba))) g),
    'settings', coalesce((SELECT string_agg(x, ' ' ORDER BY x) FROM pg_db_role_setting s, unnest(s.setconfig) x
                          WHERE s.setdatabase = d.oid AND s.setrole = 0 AND x NOT LIKE '${FENCE_SETTING}=%'), ''),
    'role settings', coalesce((SELECT string_agg(pg_get_userbyid(s.setrole) || ':' || x, ' ' ORDER BY pg_get_userbyid(s.setrole) || ':' || x) FROM pg_db_role_setting s, unnest(s.setconfig) x
                          WHERE s.setdatabase = d.oid AND s.setrole <> 0), ''))::text
  FROM pg_database d WHERE d.datname = current_database()
UNION ALL
SELECT 'extension'::text, e.extname::text, json_build_object('schema', n.nspname)::text
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
UNION ALL
SELECT 'schema'::text, n.nspname::text, json_build_object('owner', pg_get_userbyid(n.nspowner), 'grants', coalesce(n.nspacl::text, ''))::text
  FROM pg_namespace n WHERE ${USER_SCHEMA} AND ${notExtensionMember("pg_namespace", "n.oid")}
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'foreign table' END,
       format('%I.%I', n.nspname, c.relname),
       json_build_object('owner', pg_get_userbyid(c.relowner), 'grants', coalesce(c.relacl::text, ''),
         'persistence', c.relpersistence,
         'row security', CASE WHEN c.relkind IN ('r', 'p') THEN ${since("c", "relrowsecurity", "false")} || '/' || ${since("c", "relforcerowsecurity", "false")} ELSE '' END,
         'column grants', ${COLUMN_GRANTS},
         'definition', CASE WHEN c.relkind IN ('v', 'm') THEN ${norm("pg_get_viewdef(c.oid)")} ELSE ${COLUMNS} END)::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}
UNION ALL
${TYPES}
UNION ALL
${versioned("sequence parameters", { 100000: SEQUENCE_PARAMETERS_10 })}
UNION ALL
${generated("sequence parameters", `SELECT CASE WHEN current_setting('server_version_num')::int < 100000 THEN (${SEQUENCE_PARAMETERS_9}) ELSE 'SELECT NULL::text AS n, NULL::text AS a WHERE false' END`)}
UNION ALL
${versioned("partitioning", { 100000: PARTITIONING })}
UNION ALL
${versioned("policy", { 90500: POLICIES })}
UNION ALL
${generated("materialized view rows", MATVIEW_ROWS)}
UNION ALL
SELECT 'index'::text, format('%I.%I', n.nspname, c.relname), json_build_object('definition', ${norm("pg_get_indexdef(c.oid)")})::text
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE ${USER_RELATION} AND ${notExtensionMember("pg_class", "i.indrelid")}
UNION ALL
SELECT 'constraint'::text, format('%I.%I.%I', n.nspname, c.relname, k.conname),
       json_build_object('definition', ${norm("pg_get_constraintdef(k.oid)")})::text
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}
UNION ALL
SELECT 'trigger'::text, format('%I.%I.%I', n.nspname, c.relname, tg.tgname),
       json_build_object('definition', ${norm("pg_get_triggerdef(tg.oid)")}, 'enabled', tg.tgenabled)::text
  FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_proc tf ON tf.oid = tg.tgfoid JOIN pg_namespace tfn ON tfn.oid = tf.pronamespace
  WHERE (NOT tg.tgisinternal OR tg.tgconstraint = 0) AND ${USER_RELATION}
    AND NOT (tfn.nspname = 'repack' AND tf.proname = 'repack_trigger')
UNION ALL
SELECT 'rule'::text, format('%I.%I.%I', n.nspname, c.relname, rw.rulename),
       json_build_object('definition', ${norm("pg_get_ruledef(rw.oid)")}, 'enabled', rw.ev_enabled)::text
  FROM pg_rewrite rw JOIN pg_class c ON c.oid = rw.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE rw.rulename <> '_RETURN' AND ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}
UNION ALL
SELECT 'function'::text, format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       json_build_object('owner', pg_get_userbyid(p.proowner), 'grants', coalesce(p.proacl::text, ''),
         'volatility', p.provolatile, 'strict', p.proisstrict, 'security definer', p.prosecdef, 'leakproof', p.proleakproof,
         'parallel', ${since("p", "proparallel", "u")}, 'cost', p.procost::text, 'rows', p.prorows::text,
         'settings', coalesce(array_to_string(p.proconfig, ' '), ''),
         'definition', md5(coalesce(p.prosrc, '') || ' returns ' || coalesce(pg_get_function_result(p.oid), '') || ' language ' || l.lanname))::text
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
  WHERE ${USER_SCHEMA} AND ${notExtensionMember("pg_proc", "p.oid")}
UNION ALL
${LARGE_OBJECTS};
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
  WHERE c.relkind = 'r' AND ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}
`;
const SEQUENCE_VALUES_SELECT = `SELECT format($q$SELECT 'sequence value', %L, json_build_object('last_value', last_value, 'is_called', is_called)::text FROM %I.%I$q$,
              format('%I.%I', n.nspname, c.relname), n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'S' AND ${USER_RELATION} AND ${notExtensionMember("pg_class", "c.oid")}`;

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
