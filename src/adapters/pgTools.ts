/**
 * Which PostgreSQL client binaries run. Debian and Ubuntu put `psql`, `pg_dump` and the others in
 * PATH as links to pg_wrapper, a Perl script that chooses a version on every call: some 40 ms of
 * CPU each time, and a migration's downtime makes dozens of such calls. The newest installed
 * version's own binaries go first in PATH instead (newest: pg_dump must be at least the origin
 * server's version, and psql talks to older servers), for this process and every child.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** The bin directory of the newest version under `root` that has psql and pg_dump, if any. */
export function newestPostgresBinDir(root = "/usr/lib/postgresql"): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return undefined; // not a Debian-style layout: PATH as it is
  }
  const dirs = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join(root, v, "bin"));
  return dirs.find((d) => existsSync(join(d, "psql")) && existsSync(join(d, "pg_dump")));
}

/** Put that directory first in PATH (once); returns it, or undefined when PATH stays as it was. */
export function preferNewestPostgresBinaries(
  env: NodeJS.ProcessEnv = process.env,
  root?: string,
): string | undefined {
  const dir = newestPostgresBinDir(root);
  if (!dir) return undefined;
  const path = (env["PATH"] ?? "").split(":").filter((p) => p !== "" && p !== dir);
  env["PATH"] = [dir, ...path].join(":");
  return dir;
}
