/**
 * A scratch PostgreSQL cluster of this machine's own server, for tests and benchmarks that need a
 * real PostgreSQL without a lab: initdb in a new directory under /tmp (as postgres, so run as
 * root), listening on a Unix socket there only, removed by `stop`. The machine's own clusters are
 * not touched.
 */
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { PsqlAccess } from "../src/database/manifest.js";
import { blueMindSchemaSql } from "./bluemindSchema.js";
import type { SchemaVersion } from "./schema/assemble.js";

/** The directory of a PostgreSQL server's programs on this machine (Debian's layout), if any. */
export const PG_BIN = existsSync("/usr/lib/postgresql")
  ? readdirSync("/usr/lib/postgresql")
      .map((v) => `/usr/lib/postgresql/${v}/bin`)
      .find((d) => existsSync(`${d}/initdb`))
  : undefined;

/** Why a scratch cluster cannot be made here, or false. */
export const scratchUnavailable: string | false =
  !PG_BIN || process.getuid?.() !== 0 ? "needs a PostgreSQL server and root" : false;

export interface ScratchPostgres {
  /** How psql reaches it, as postgres. */
  access: PsqlAccess;
  /** Run SQL in `db` as postgres; its output (unaligned, tuples only); throws on an error. */
  psql(db: string, sql: string): string;
  /** pg_dump of `db`, plain SQL. */
  dump(db: string): string;
  /** BlueMind's assembled schema into a new database `db` owned by bj (throws when it does not load). */
  loadBlueMind(version: SchemaVersion, db: string): void;
  stop(): void;
}

function asPostgres(argv: string[], input = ""): { status: number | null; stdout: string; stderr: string } {
  return spawnSync("runuser", ["-u", "postgres", "--", ...argv], {
    input,
    encoding: "utf8",
    maxBuffer: 256 << 20,
  });
}

/** Start a scratch cluster with the roles bj (superuser, as BlueMind's install makes it) and reader. */
export function startScratchPostgres(): ScratchPostgres {
  if (scratchUnavailable || !PG_BIN) throw new Error(`scratch PostgreSQL: ${scratchUnavailable}`);
  const bin = PG_BIN;
  const dir = mkdtempSync("/tmp/bm-scratch-pg-");
  const port = 55000 + (process.pid % 400);
  const sock = join(dir, "sock");
  chownSync(dir, Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim()), 0);
  const must = (argv: string[], input = ""): string => {
    const r = asPostgres(argv, input);
    if (r.status !== 0) throw new Error(`${argv.join(" ").slice(0, 200)}: ${r.stderr}`);
    return r.stdout;
  };
  must([`${bin}/initdb`, "-D", join(dir, "data"), "-A", "trust", "-E", "UTF8", "--locale=C"]);
  must(["mkdir", sock]);
  must([
    `${bin}/pg_ctl`,
    ...["-D", join(dir, "data"), "-l", join(dir, "log"), "-w", "-o"],
    `-c listen_addresses='' -c unix_socket_directories=${sock} -p ${port} -c fsync=off`,
    "start",
  ]);
  const connection = ["-h", sock, "-p", String(port)];
  const psql = (db: string, sql: string): string =>
    must(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", ...connection, "-d", db], sql).trim();
  psql("postgres", "CREATE ROLE bj SUPERUSER LOGIN; CREATE ROLE reader LOGIN;");
  return {
    access: { label: "scratch", command: ["runuser", "-u", "postgres", "--", "psql"], connection },
    psql,
    dump: (db) => must([`${bin}/pg_dump`, ...connection, "-d", db]),
    loadBlueMind(version, db) {
      psql("postgres", `CREATE DATABASE "${db}" OWNER bj`);
      psql(db, `SET ROLE bj;\n${blueMindSchemaSql(version)}`);
    },
    stop() {
      asPostgres([`${bin}/pg_ctl`, "-D", join(dir, "data"), "-m", "immediate", "stop"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
