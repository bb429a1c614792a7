/**
 * Assembles BlueMind's real database schema from its source, for the lab's `bj` and `bj-data`.
 *
 *   tsx lab/schema/assemble.ts [--mirror DIR] [--check]
 *
 * Reads BlueMind's open source mirror (`mdhender/bluemindfork`, a bare git directory) at two pinned
 * commits and writes `lab/schema/bluemind-4.sql` and `lab/schema/bluemind-5.sql`. The lab loads the
 * committed files (CI has no mirror); `--check` regenerates in memory and fails when a committed file
 * differs (what the unit test does when the mirror is present).
 *
 * How BlueMind itself builds a database (this script does the same, in the same order):
 * - Every bundle contributes `<schema name resource [ignoreErrors]>` elements, each with `<compose id>`
 *   children naming the schemas it requires, to the extension point `net.bluemind.core.jdbc.schema`
 *   (declared in `parent/core/net.bluemind.core.sqlschema/plugin.xml`). Test bundles (`*.tests`) are not
 *   shipped and are left out.
 * - `SchemaDescriptors` (`parent/core/net.bluemind.core.sqlschema/src/net/bluemind/core/jdbc/
 *   SchemaDescriptors.java`) keeps them in a `HashMap` keyed by name and `getDescriptors()` walks its
 *   values, emitting each schema after the schemas it composes (depth first). The walk order is the
 *   HashMap's iteration order: reproduced below (Java `String.hashCode`, spread `h ^ h >>> 16`, a table
 *   that doubles past a 0.75 load factor; ties in one bucket keep insertion order, taken here as the
 *   order of the plugin paths).
 * - `DbSchemaService.initialize` (`parent/core/net.bluemind.core.jdbc/.../DbSchemaService.java`) runs
 *   each schema file once through `DbSchemaStore.createSchema` (`.../jdbc/persistence/DbSchemaStore.java`):
 *   the whole file in one JDBC `execute` (one implicit transaction in autocommit), then
 *   `INSERT INTO schema_version values (name, bundle version)`. A failing file aborts the install
 *   unless its schema says `ignoreErrors="true"` (then the file's work is rolled back and the version row
 *   is still written). Here each file runs between `BEGIN` and `COMMIT` under psql's ON_ERROR_STOP;
 *   an `ignoreErrors` file runs with ON_ERROR_STOP off inside its transaction, so a failure rolls that
 *   file back and the load goes on, as in BlueMind.
 * - `PostgreSQLService.createDatabaseAndInitSchema` (`parent/system/net.bluemind.system.pg/.../
 *   PostgreSQLService.java`) runs this for every database it creates: `bj` at install and each `bj-data`
 *   (`addDataServer`), so both databases get the whole schema.
 * - SQL upgraders (`net.bluemind.system.schemaupgrader.sqlscript`, e.g. in
 *   `net.bluemind.core.container.sqlschema/plugin.xml`) re-run a schema file on databases that predate
 *   it; a fresh install registers them as done (`UpgraderMigration`), the schema files being current.
 *   So a new server's schema is the schema files alone: no upgrader SQL is added.
 * - The database and role themselves come from `install_bmdb_pgsql_0.sh` (copies in
 *   `parent/system/net.bluemind.system.pg.tests/data/`): `createuser --createdb --superuser` for `bj`,
 *   `createdb --owner=bj --encoding=UTF-8`, `ALTER DATABASE ... SET TIMEZONE='GMT'`. The lab does that
 *   part (lab/host-setup.sh, lab/generate.ts), not this file.
 *
 * Edits (every change this script makes to BlueMind's SQL is listed in EDITS with its reason, and
 * named in the generated file's header).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isMain } from "../isMain.js";

/** BlueMind's source mirror on the lab machine (a bare git directory). */
export const DEFAULT_MIRROR = "/work/.mirror/mdhender+bluemindfork/repo";

/** The pinned commits: the 4.x line (as of 4.9) and the 5.1 line. */
export const VERSIONS = {
  "4": { commit: "8557304f", label: "BlueMind 4.x (4.9 line)" },
  "5": { commit: "5d708160", label: "BlueMind 5.1" },
} as const;
export type SchemaVersion = keyof typeof VERSIONS;

/** Where the assembled SQL of a version lives in the repository. */
export function schemaFile(version: SchemaVersion): string {
  return join(dirname(fileURLToPath(import.meta.url)), `bluemind-${version}.sql`);
}

/** One `<schema>` element of a plugin.xml. */
export interface SchemaEntry {
  name: string;
  /** Path of the SQL file in the repository. */
  path: string;
  requires: string[];
  ignoreErrors: boolean;
  /** The bundle's version (MANIFEST.MF `Bundle-Version`, `.qualifier` dropped): schema_version's value. */
  bundleVersion: string;
}

/** One change to BlueMind's SQL that loading it needs; `apply` must change the text (checked). */
interface Edit {
  version: SchemaVersion | "both";
  /** A file's path, or "*": every file the edit changes (it must change at least one). */
  file: string;
  reason: string;
  apply: (sql: string) => string;
}

/**
 * Every edit needed to load BlueMind's files with psql on PostgreSQL 13, 15 and 17. Kept as short as
 * the source allows; each one says why.
 */
const EDITS: readonly Edit[] = [
  {
    version: "both",
    file: "*",
    reason:
      "CREATE OR REPLACE TRIGGER is PostgreSQL 14+ (BlueMind 4.9 and 5.x run on 14+; the lab's bullseye " +
      "hosts have 13): written as DROP TRIGGER IF EXISTS + CREATE TRIGGER, the same on a new database",
    apply: (sql) =>
      sql.replace(
        /CREATE OR REPLACE TRIGGER (\w+)(\s[\s\S]*?\bON\s+)(\w+)/g,
        (_all, name: string, middle: string, table: string) =>
          `DROP TRIGGER IF EXISTS ${name} ON ${table};\nCREATE TRIGGER ${name}${middle}${table}`,
      ),
  },
  {
    version: "both",
    file: "parent/core/net.bluemind.core.sqlschema/sql/pg_repack.sql",
    reason:
      "pg_repack is created only where the host has it (BlueMind's packages depend on postgresql-NN-repack; " +
      "the lab's Debian hosts do not install it), so the file loads everywhere",
    apply: (sql) =>
      sql.replace(
        "CREATE EXTENSION IF NOT EXISTS pg_repack;",
        () =>
          "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_repack') THEN " +
          "CREATE EXTENSION IF NOT EXISTS pg_repack; END IF; END $$;",
      ),
  },
];

function git(mirror: string, args: string[]): string {
  const r = spawnSync("git", ["-C", mirror, ...args], { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} in ${mirror} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

function attribute(element: string, name: string): string | undefined {
  return new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`).exec(element)?.[1];
}

/** The `<schema>` entries of the `net.bluemind.core.jdbc.schema` extensions of one plugin.xml. */
export function parsePluginXml(xml: string, bundleDir: string, bundleVersion: string): SchemaEntry[] {
  const entries: SchemaEntry[] = [];
  const noComments = xml.replace(/<!--[\s\S]*?-->/g, "");
  for (const ext of noComments.matchAll(/<extension(\s[^>]*)>([\s\S]*?)<\/extension>/g)) {
    if (attribute(ext[1] ?? "", "point") !== "net.bluemind.core.jdbc.schema") continue;
    for (const s of (ext[2] ?? "").matchAll(/<schema\b([^>]*?)(\/>|>([\s\S]*?)<\/schema>)/g)) {
      const attrs = s[1] ?? "";
      const name = attribute(attrs, "name");
      const resource = attribute(attrs, "resource");
      if (name === undefined || resource === undefined)
        throw new Error(`${bundleDir}: schema without name/resource`);
      const requires = [...(s[3] ?? "").matchAll(/<compose\b([^>]*)>/g)].map(
        (c) => attribute(c[1] ?? "", "id") ?? "",
      );
      entries.push({
        name,
        path: `${bundleDir}/${resource}`,
        requires,
        ignoreErrors: attribute(attrs, "ignoreErrors") === "true",
        bundleVersion,
      });
    }
  }
  return entries;
}

/** Java's `String.hashCode` (UTF-16 code units, 32-bit wrap). */
export function javaHash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(31, h) + text.charCodeAt(i)) | 0;
  return h;
}

/** The iteration order of a `java.util.HashMap<String, V>` filled with `keys` in this order. */
export function javaHashMapOrder(keys: readonly string[]): string[] {
  let capacity = 16;
  while (keys.length > capacity * 0.75) capacity *= 2;
  const buckets: string[][] = Array.from({ length: capacity }, () => []);
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key)) continue;
    seen.add(key);
    const h = javaHash(key);
    (buckets[(h ^ (h >>> 16)) & (capacity - 1)] ?? []).push(key);
  }
  return buckets.flat();
}

/** BlueMind's run order: HashMap walk, each schema after the ones it composes (`getDescriptors`). */
export function runOrder(entries: readonly SchemaEntry[]): SchemaEntry[] {
  const byName = new Map<string, SchemaEntry>();
  // A later registration of a name replaces the earlier one (HashMap.put), keeping the key's place.
  for (const e of entries) byName.set(e.name, e);
  const out: SchemaEntry[] = [];
  const done = new Set<string>();
  const visit = (e: SchemaEntry): void => {
    if (done.has(e.name)) return;
    for (const id of e.requires) {
      const parent = byName.get(id);
      if (parent === undefined) throw new Error(`schema ${e.name} requires ${id}, which no bundle registers`);
      visit(parent);
    }
    done.add(e.name);
    out.push(e);
  };
  for (const name of javaHashMapOrder(entries.map((e) => e.name))) visit(byName.get(name) as SchemaEntry);
  return out;
}

/** Every shipped schema entry registered at `commit`, in plugin path order. */
export function readEntries(mirror: string, commit: string): SchemaEntry[] {
  const listing = git(mirror, ["grep", "-l", "net.bluemind.core.jdbc.schema", commit, "--", "*plugin.xml"]);
  const plugins = listing
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.slice(commit.length + 1))
    .filter((p) => !/\.tests?\//.test(p))
    .sort();
  const entries: SchemaEntry[] = [];
  for (const plugin of plugins) {
    const bundleDir = dirname(plugin);
    const manifest = git(mirror, ["show", `${commit}:${bundleDir}/META-INF/MANIFEST.MF`]);
    const version = /^Bundle-Version:\s*(\S+)/m.exec(manifest)?.[1]?.replace(/\.qualifier$/, "") ?? "0.0.0";
    entries.push(...parsePluginXml(git(mirror, ["show", `${commit}:${plugin}`]), bundleDir, version));
  }
  return entries;
}

function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The SQL file for one version: header, then every schema file in BlueMind's order, edited. */
export function assemble(mirror: string, version: SchemaVersion): string {
  const { commit, label } = VERSIONS[version];
  const full = git(mirror, ["rev-parse", commit]).trim();
  const order = runOrder(readEntries(mirror, commit));
  const edits = EDITS.filter((e) => e.version === version || e.version === "both");
  const used = new Set<Edit>();
  const parts: string[] = [];
  for (const entry of order) {
    let sql = git(mirror, ["show", `${commit}:${entry.path}`]);
    for (const edit of edits.filter((e) => e.file === entry.path || e.file === "*")) {
      const next = edit.apply(sql);
      if (next === sql && edit.file === "*") continue;
      if (next === sql) throw new Error(`edit on ${entry.path} no longer applies: ${edit.reason}`);
      sql = next;
      used.add(edit);
    }
    const versionRow = `INSERT INTO schema_version VALUES (${quote(entry.name)}, ${quote(entry.bundleVersion)});`;
    parts.push(
      `-- schema ${entry.name} (${entry.path})${entry.ignoreErrors ? " ignoreErrors" : ""}\n` +
        (entry.ignoreErrors
          ? // BlueMind logs and goes on when an ignoreErrors file fails; the file's work is rolled back.
            `BEGIN;\n\\set ON_ERROR_STOP off\n${sql}\n\\set ON_ERROR_STOP on\n` + `COMMIT;\n`
          : `BEGIN;\n${sql}\n;\nCOMMIT;\n`) +
        `${versionRow}\n`,
    );
  }
  for (const edit of edits)
    if (!used.has(edit)) throw new Error(`edit on ${edit.file} changed no file: ${edit.reason}`);
  const header = [
    `-- BlueMind's database schema, ${label}: generated by lab/schema/assemble.ts; do not edit.`,
    `-- Source: github.com/mdhender/bluemindfork at ${full}`,
    `-- Every schema registered under net.bluemind.core.jdbc.schema (test bundles left out), in the order`,
    `-- BlueMind's SchemaDescriptors/DbSchemaService runs them, each file followed by its schema_version row.`,
    `-- Files (${order.length}):`,
    ...order.map(
      (e) => `--   ${e.name}: ${e.path}${e.requires.length > 0 ? ` (after ${e.requires.join(", ")})` : ""}`,
    ),
    `-- Edits (${edits.length}):`,
    ...edits.map((e) => `--   ${e.file}: ${e.reason}`),
    ``,
    `\\set ON_ERROR_STOP on`,
    `SET client_min_messages = warning;`,
    ``,
  ];
  return header.join("\n") + parts.join("\n");
}

function main(): void {
  const { values } = parseArgs({
    options: {
      mirror: { type: "string", default: DEFAULT_MIRROR },
      check: { type: "boolean", default: false },
    },
  });
  const mirror = values.mirror ?? DEFAULT_MIRROR;
  if (!existsSync(mirror)) throw new Error(`no BlueMind source mirror at ${mirror}: pass --mirror DIR`);
  let stale = 0;
  for (const version of Object.keys(VERSIONS) as SchemaVersion[]) {
    const sql = assemble(mirror, version);
    const file = schemaFile(version);
    if (values.check) {
      const same = existsSync(file) && readFileSync(file, "utf8") === sql;
      if (!same) stale++;
      process.stdout.write(
        `${file}: ${same ? "up to date" : "DIFFERS from the source: run lab/schema/assemble.ts"}\n`,
      );
    } else {
      writeFileSync(file, sql);
      process.stdout.write(`${file}: ${sql.length} bytes\n`);
    }
  }
  if (stale > 0) process.exitCode = 1;
}

if (isMain(import.meta.url)) main();
