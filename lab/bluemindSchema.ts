/**
 * BlueMind's real database schema, read from its source mirror (`mdhender/bluemindfork`): every
 * plugin's `sqlschema/sql/*.sql` file at a pinned commit (4.x `8557304f`, 5.1 `5d708160`), loaded
 * in rounds until each file's dependencies exist (the files' own order is the plugins', not the
 * dependencies'). `pg_repack.sql` (CREATE EXTENSION pg_repack) is left out where the extension is
 * not installed. A stopgap for the tests of the schema comparison until the lab's generator
 * assembles the schema itself (issue 26).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const BLUEMIND_MIRROR = "/work/.mirror/mdhender+bluemindfork/repo";
export const BLUEMIND_COMMITS = { "4.x": "8557304f", "5.1": "5d708160" } as const;

/** The schema files at `commit`: path and SQL, in the source's order. */
export function blueMindSchemaFiles(
  commit: string,
  mirror = BLUEMIND_MIRROR,
): { path: string; sql: string }[] {
  if (!existsSync(mirror)) throw new Error(`BlueMind's source mirror is not at ${mirror}`);
  return spawnSync("git", ["-C", mirror, "ls-tree", "-r", "--name-only", commit], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((f) => /sqlschema\/sql\/.*\.sql$/.test(f) && !f.endsWith("/pg_repack.sql"))
    .map((path) => ({
      path,
      sql: spawnSync("git", ["-C", mirror, "show", `${commit}:${path}`], {
        encoding: "utf8",
        maxBuffer: 64 << 20,
      }).stdout,
    }));
}

/**
 * Load the files with `load` (one transaction each; true when it committed), again and again while
 * some fail and the last round loaded any. The paths that never loaded are returned.
 */
export function loadInRounds(
  files: { path: string; sql: string }[],
  load: (sql: string) => boolean,
): string[] {
  let left = files;
  for (;;) {
    const next = left.filter((f) => !load(`BEGIN;\n${f.sql}\nCOMMIT;\n`));
    if (next.length === 0 || next.length === left.length) return next.map((f) => f.path);
    left = next;
  }
}
