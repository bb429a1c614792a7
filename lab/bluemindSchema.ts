/**
 * BlueMind's real database schema for tests and benchmarks that load it outside a lab host: the SQL
 * the lab assembles from BlueMind's source (lab/schema/assemble.ts, committed as
 * lab/schema/bluemind-4.sql and bluemind-5.sql: 4.x at 8557304f, 5.1 at 5d708160), a psql script
 * run by a superuser (BlueMind's `bj` is one, install_bmdb_pgsql_0.sh).
 */
import { readFileSync } from "node:fs";
import { schemaFile, type SchemaVersion } from "./schema/assemble.js";

/** The releases whose schema the lab carries, and the assembled file of each. */
export const BLUEMIND_SCHEMAS: Readonly<Record<"4.x" | "5.1", SchemaVersion>> = { "4.x": "4", "5.1": "5" };

/** The assembled schema of a release: a psql script. */
export function blueMindSchemaSql(version: SchemaVersion): string {
  return readFileSync(schemaFile(version), "utf8");
}
