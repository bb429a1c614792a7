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
import type { Difference } from "./compare.js";
import { crossesPublicSchemaChange } from "../phases/majorUpgrade.js";

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

/** Totals of the origin's side. */
export interface DbCounts {
  tables: number;
  rows: number;
}

/** The server's major version, as its manifest says (0 when it does not). */
export function manifestMajor(m: DbManifest): number {
  return Number(m.get("server\x1fpostgresql")?.["major"] ?? 0);
}

/** Schema public's owner and grants as a release before 15 makes them: its owner's, CREATE for all. */
const text = (v: unknown): string => (typeof v === "string" ? v : "");

const isPre15Public = (a: Record<string, unknown>): boolean => {
  const owner = text(a["owner"]);
  const grants = text(a["grants"]);
  const who = /^[a-z_][a-z0-9_$]*$/.test(owner) ? owner : `"${owner.replace(/"/g, '""')}"`;
  return grants === "" || grants === `{${who}=UC/${who},=UC/${who}}`;
};

/** ... and as 15 and later make them: pg_database_owner's, USAGE for all. */
const isPost15Public = (a: Record<string, unknown>): boolean =>
  a["owner"] === "pg_database_owner" &&
  ["", "{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}"].includes(text(a["grants"]));

/** The release whose ALL PRIVILEGES on a table or view include MAINTAIN (`m` in an ACL). */
const MAINTAIN_PRIVILEGE = 17;
const RELATIONS = new Set(["table", "view", "materialized view", "foreign table"]);

/** An ACL of a release before 17 as 17 writes the same grants: ALL (`arwdDxt`) gained MAINTAIN. */
export function withMaintain(acl: string): string {
  return acl.replace(/=arwdDxt\//g, "=arwdDxtm/").replace(/=a\*r\*w\*d\*D\*x\*t\*\//g, "=a*r*w*d*D*x*t*m*/");
}

/**
 * The origin's attributes of one object as the target's major version writes the same thing, and
 * the words for each change made; only what a change of major version implies: schema public's
 * owner and grants, each side as its own version makes them (see phases/majorUpgrade.ts), and
 * ALL PRIVILEGES on a relation, which includes MAINTAIN from 17 on.
 */
export function asOnTargetVersion(
  kind: string,
  name: string,
  o: Record<string, unknown>,
  t: Record<string, unknown>,
  originMajor: number,
  targetMajor: number,
): { attrs: Record<string, unknown>; notes: string[] } {
  if (
    kind === "schema" &&
    name === "public" &&
    crossesPublicSchemaChange(originMajor, targetMajor) &&
    isPre15Public(o) &&
    isPost15Public(t)
  ) {
    return {
      attrs: { ...o, owner: t["owner"], grants: t["grants"] },
      notes: [
        `schema public: owner ${show(o["owner"])} and grants ${show(o["grants"])} on PostgreSQL ${originMajor}, ${show(t["owner"])} and ${show(t["grants"])} on ${targetMajor}: each as its version makes them`,
      ],
    };
  }
  const grants = text(o["grants"]);
  if (RELATIONS.has(kind) && originMajor < MAINTAIN_PRIVILEGE && targetMajor >= MAINTAIN_PRIVILEGE) {
    const on17 = withMaintain(grants);
    if (on17 !== grants)
      return {
        attrs: { ...o, grants: on17 },
        notes: [
          `${kind} ${name}: grants ${grants} on PostgreSQL ${originMajor} are ${on17} on ${targetMajor} (ALL includes MAINTAIN from 17 on)`,
        ],
      };
  }
  return { attrs: o, notes: [] };
}

/** Compare one database's manifests; each difference is a sentence. */
export function compareDbManifests(
  database: string,
  origin: DbManifest,
  target: DbManifest,
): { differences: Difference[]; counts: DbCounts; normalised: string[] } {
  const differences: Difference[] = [];
  const normalised: string[] = [];
  const counts: DbCounts = { tables: 0, rows: 0 };
  const [originMajor, targetMajor] = [manifestMajor(origin), manifestMajor(target)];
  const keys = [...new Set([...origin.keys(), ...target.keys()])].sort();
  for (const key of keys) {
    const [kind, name] = key.split("\x1f") as [string, string];
    const o = origin.get(key);
    const t = target.get(key);
    if (kind === "server") continue; // each side's version: what the comparison takes into account
    const adjusted = o && t ? asOnTargetVersion(kind, name, o, t, originMajor, targetMajor) : undefined;
    if (kind === "rows" && o) {
      counts.tables++;
      counts.rows += Number(o["rows"] ?? 0);
    }
    const where = `${database}: ${kind === "rows" ? "table" : kind === "sequence value" ? "sequence" : kind} ${name}`;
    const diff = (what: string): void => {
      differences.push({ where, what });
    };
    if (kind === "rows" && (!o || !t)) continue; // the table itself is reported missing or extra
    if (kind === "sequence value" && (!o || !t)) continue;
    if (!t) {
      diff("missing on target");
      continue;
    }
    if (!o) {
      diff("extra on target");
      continue;
    }
    if (kind === "rows") {
      if (o["rows"] !== t["rows"]) diff(`${String(o["rows"])} rows vs ${String(t["rows"])}`);
      else if (o["hash"] !== t["hash"])
        diff(`content differs (${String(o["rows"])} ${o["rows"] === 1 ? "row" : "rows"} on both)`);
      continue;
    }
    const before = differences.length;
    for (const attr of [...new Set([...Object.keys(o), ...Object.keys(t)])].sort()) {
      const a = o[attr];
      const b = t[attr];
      if (JSON.stringify(adjusted?.attrs[attr] ?? a) === JSON.stringify(b)) continue;
      if (attr === "definition") diff("definition differs");
      else if (kind === "sequence value") diff(`${attr} ${show(a)} vs ${show(b)}`);
      else diff(`${attr} differs: ${show(a)} vs ${show(b)}`);
    }
    // What the versions imply is accepted only where it makes the object equal.
    if (differences.length === before)
      normalised.push(...(adjusted?.notes ?? []).map((n) => `${database}: ${n}`));
  }
  return { differences, counts, normalised };
}

function show(v: unknown): string {
  if (v === undefined || v === null || v === "") return "(none)";
  return typeof v === "string" ? v : JSON.stringify(v);
}
