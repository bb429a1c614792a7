/**
 * A database's own properties, which pg_dump without --create leaves out (since PostgreSQL 11 it
 * writes them only with --create, pg_dump.c dumpDatabaseConfig and dumpDatabase): its settings
 * (`ALTER DATABASE ... SET`, and `ALTER ROLE ... IN DATABASE ... SET`; BlueMind's own install sets
 * `TimeZone = 'GMT'`, install_bmdb_pgsql_0.sh) and its ACL (a hardened origin may have revoked
 * CONNECT from PUBLIC). Read on the origin, given to the staging database when it is created.
 */
import { quoteIdent, quoteLiteral } from "../adapters/postgres.js";
import { FENCE_SETTING } from "./fence.js";

/**
 * The origin's write fence (database/fence.ts) while the downtime lasts: not the origin's own
 * setting, never carried (a full copy in the downtime reads it), never compared (database/manifest.ts).
 * A BlueMind database made read-only by its administrator could not serve, so nothing is lost.
 */
export const isFenceSetting = (config: string): boolean => config.startsWith(`${FENCE_SETTING}=`);

/** One row of pg_db_role_setting for the database: `role` null for the whole database. */
export interface DatabaseSetting {
  role: string | null;
  /** `name=value` as PostgreSQL stores it. */
  config: string[];
}

export interface DatabaseProperties {
  /** The database's ACL (datacl), null when it is the default one. */
  acl: string | null;
  settings: DatabaseSetting[];
}

/** Selects one text column: the current database's properties as JSON (DatabaseProperties). */
export const DATABASE_PROPERTIES_SQL = `SELECT json_build_object('acl', d.datacl::text,
    'settings', coalesce((SELECT json_agg(json_build_object('role', CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END,
                                                          'config', s.setconfig) ORDER BY s.setrole)
                           FROM pg_db_role_setting s WHERE s.setdatabase = d.oid), '[]'::json))::text
  FROM pg_database d WHERE d.datname = current_database()`;

export function parseDatabaseProperties(json: string): DatabaseProperties {
  const v = JSON.parse(json) as { acl?: unknown; settings?: unknown };
  const settings = Array.isArray(v.settings) ? (v.settings as { role?: unknown; config?: unknown }[]) : [];
  return {
    acl: typeof v.acl === "string" ? v.acl : null,
    settings: settings.map((s) => ({
      role: typeof s.role === "string" ? s.role : null,
      config: Array.isArray(s.config) ? s.config.filter((c): c is string => typeof c === "string") : [],
    })),
  };
}

/**
 * Settings whose value is a list of identifiers that PostgreSQL stores already quoted
 * (GUC_LIST_QUOTE in its guc_tables.c; the same list as pg_dump's variable_is_guc_list_quote):
 * their stored value is given back as written, not as one string.
 */
const LIST_QUOTED = new Set([
  "local_preload_libraries",
  "search_path",
  "session_preload_libraries",
  "shared_preload_libraries",
  "temp_tablespaces",
  "unix_socket_directories",
]);

/** `SET name = value` as pg_dump's makeAlterConfigCommand writes it. */
export function setClause(config: string): string {
  const eq = config.indexOf("=");
  const name = eq < 0 ? config : config.slice(0, eq);
  const value = eq < 0 ? "" : config.slice(eq + 1);
  return `SET ${quoteIdent(name)} = ${LIST_QUOTED.has(name.toLowerCase()) ? value : quoteLiteral(value)}`;
}

/**
 * The statements that give `database` (just created, so with no setting and the default ACL) the
 * origin's properties. The ACL: everything revoked from PUBLIC and the owner, then each of the
 * origin's grants made again (a superuser's GRANT is recorded as the owner's, as on the origin
 * when its owner made them); a role the target lacks fails the statement with its name.
 */
export function databasePropertiesSql(database: string, owner: string, p: DatabaseProperties): string {
  const db = quoteIdent(database);
  const out: string[] = [];
  for (const s of p.settings)
    for (const c of s.config.filter((c) => s.role !== null || !isFenceSetting(c)))
      out.push(
        s.role === null
          ? `ALTER DATABASE ${db} ${setClause(c)};`
          : `ALTER ROLE ${quoteIdent(s.role)} IN DATABASE ${db} ${setClause(c)};`,
      );
  if (p.acl !== null)
    out.push(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC, ${quoteIdent(owner)};
DO $bm$ DECLARE g record; BEGIN
  FOR g IN SELECT grantee, privilege_type, is_grantable FROM aclexplode(${quoteLiteral(p.acl)}::aclitem[]) LOOP
    EXECUTE format('GRANT %s ON DATABASE %I TO %s%s', g.privilege_type, ${quoteLiteral(database)},
      CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
      CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
END $bm$;`);
  return out.join("\n");
}
