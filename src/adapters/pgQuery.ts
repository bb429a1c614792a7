/**
 * Queries that return rows, on either server: the origin's through the SSH tunnel as its
 * database owner (password in the child's environment only, session read-only), the target's as
 * the postgres superuser by peer authentication. Rows come back as arrays of text fields.
 */
import { run, shellQuote, type ProcessResult } from "./process.js";
import type { OriginDb } from "./postgres.js";

export interface Rows extends ProcessResult {
  rows: string[][];
}

/** Session settings that make text forms identical on both servers (dates, bytea, time zone). */
export const STABLE_TEXT =
  "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c bytea_output=hex -c extra_float_digits=3";

function parseRows(r: ProcessResult): Rows {
  return {
    ...r,
    rows: r.stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.split("\t")),
  };
}

const PSQL_ROWS = ["-X", "-w", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-q"];

export async function originRows(
  db: OriginDb,
  database: string,
  sql: string,
  signal?: AbortSignal,
): Promise<Rows> {
  const r = await run(
    "psql",
    [...PSQL_ROWS, "-h", db.host, "-p", String(db.port), "-U", db.user, "-d", database],
    {
      input: sql,
      env: {
        PGPASSWORD: db.password,
        PGCONNECT_TIMEOUT: "15",
        PGOPTIONS: `${STABLE_TEXT} -c default_transaction_read_only=on`,
      },
      timeoutMs: 30 * 60_000,
      ...(signal ? { signal } : {}),
    },
  );
  return parseRows(r);
}

export async function targetRows(database: string, sql: string, signal?: AbortSignal): Promise<Rows> {
  const r = await run("runuser", ["-u", "postgres", "--", "psql", ...PSQL_ROWS, "-d", database], {
    input: sql,
    env: { PGOPTIONS: STABLE_TEXT },
    timeoutMs: 30 * 60_000,
    ...(signal ? { signal } : {}),
  });
  return parseRows(r);
}

/**
 * COPY rows from the origin (`select`, a `COPY (...) TO STDOUT`) straight into one transaction on
 * a target database, as the postgres superuser with triggers and foreign keys off as in a restore:
 * `statements` run in order there, one of them a `COPY ... FROM STDIN` that reads the stream. Any
 * error, on either side, rolls the transaction back. Output: tab-separated, unaligned.
 * Several selects (several tables in one pipeline) go in one origin session, each stream ended by
 * the text format's end-of-data line (`\.`, which no data line can be: a backslash in data is
 * doubled), so that each `COPY ... FROM STDIN` on the target reads its own.
 */
export function pipeOriginInto(
  origin: OriginDb,
  db: string,
  select: string | readonly string[],
  target: string,
  statements: string[],
  signal?: AbortSignal,
): Promise<ProcessResult> {
  const selects = (typeof select === "string" ? [select] : select)
    .map((x) => `-c ${shellQuote(x)}`)
    .join(` -c ${shellQuote("SELECT '\\.'")} `);
  // The password reaches the origin's psql alone: out of bash's environment before the pipeline
  // starts, so that the restore side (psql as postgres) never inherits it.
  const script = `set -o pipefail
pw=$BM_ORIGIN_PW; unset BM_ORIGIN_PW
PGPASSWORD="$pw" PGOPTIONS="$BM_OPTS -c default_transaction_read_only=on" psql -X -w -q -A -t -h ${shellQuote(origin.host)} -p ${origin.port} -U ${shellQuote(origin.user)} -d ${shellQuote(db)} ${selects} \\
 | runuser -u postgres -- env PGOPTIONS="$BM_OPTS -c session_replication_role=replica" psql -X -1 -A -t -F $'\\t' -v ON_ERROR_STOP=1 -d ${shellQuote(target)} ${statements.map((x) => `-c ${shellQuote(x)}`).join(" ")}`;
  return run("bash", ["-c", script], {
    env: { BM_ORIGIN_PW: origin.password, BM_OPTS: STABLE_TEXT, PGCONNECT_TIMEOUT: "15" },
    ...(signal ? { signal } : {}),
  });
}
