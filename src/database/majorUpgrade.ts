/**
 * What a copy across PostgreSQL major versions changes, and nothing else.
 *
 * From PostgreSQL 15 on, a new database's `public` schema belongs to `pg_database_owner` (whoever
 * owns the database) and grants only USAGE to everyone; before 15 it belonged to the bootstrap
 * superuser (`postgres`) and granted CREATE to everyone too. pg_dump (of any version) of a server
 * older than 15 therefore writes `ALTER SCHEMA public OWNER TO postgres;` and REVOKE/GRANT lines on
 * `public`. Restored by the database's owner (`bj`, as the procedure loads), the first fails (only a
 * member of `postgres` may give it an object) and the others would bring back the pre-15 rights.
 * So, from an origin older than 15 onto a target of 15 or later, those lines are left out of the
 * load, and the target's databases are owned and granted as the target's version makes a database
 * owned by `bj`. `verify` then accepts exactly that difference (see verify/dbManifest.ts).
 */

/** PostgreSQL's major version from server_version_num (130016 → 13; 90624, 9.6, counts as 9). */
export const majorOf = (versionNum: number): number => Math.floor(versionNum / 10000);

/** The release from which `public` belongs to pg_database_owner. */
export const PUBLIC_OWNED_BY_DATABASE_OWNER = 15;

/** Whether a copy from `originMajor` onto `targetMajor` crosses the change of `public`'s owner. */
export function crossesPublicSchemaChange(originMajor: number, targetMajor: number): boolean {
  return originMajor < PUBLIC_OWNED_BY_DATABASE_OWNER && targetMajor >= PUBLIC_OWNED_BY_DATABASE_OWNER;
}

/** What the load normalises, in words (for the step's summary and the report). */
export function normalisedInWords(originMajor: number, targetMajor: number): string[] {
  if (!crossesPublicSchemaChange(originMajor, targetMajor)) return [];
  return [
    `schema public: owner and grants as PostgreSQL ${targetMajor} makes them for a database owned by its owner (pg_database_owner, USAGE for all), not PostgreSQL ${originMajor}'s (postgres, CREATE for all)`,
  ];
}

/**
 * An awk program that passes a plain-format dump through, except the statements on schema
 * `public`'s owner and grants. It knows COPY data (from `COPY ... FROM stdin;` to `\.`), whose lines
 * are rows, never statements: a row whose text looks like such a statement is kept.
 */
export const PUBLIC_SCHEMA_FILTER = String.raw`copy { print; if ($0 == "\\.") copy = 0; next }
/^COPY .* FROM stdin;$/ { copy = 1; print; next }
/^ALTER SCHEMA public OWNER TO [^;]*;$/ { next }
/^(REVOKE|GRANT) [A-Z, ]+ ON SCHEMA public (FROM|TO) [^;]*;$/ { next }
{ print }`;
