/**
 * Moving a database: the origin's is dumped by the target's pg_dump through the SSH tunnel and
 * streamed into a staging database on the target (dump and load overlap), with a copy of the
 * dump kept under the state directory. Only when the load has succeeded and the dump is complete
 * is the target's old database dropped and the staging one renamed in its place: a failed dump
 * or load never costs the target its database.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Host } from "../adapters/host.js";
import { failure, run, shellQuote } from "../adapters/process.js";
import {
  classifyOriginDbFailure,
  originDbProbes,
  psqlAsPostgres,
  quoteIdent,
  quoteLiteral,
  scramVerifier,
  targetServerVersionNum,
  type OriginDb,
} from "../adapters/postgres.js";
import {
  crossesPublicSchemaChange,
  majorOf,
  normalisedInWords,
  PUBLIC_SCHEMA_FILTER,
} from "../database/majorUpgrade.js";
import { StepFailed } from "../engine/errors.js";
import {
  DATABASE_PROPERTIES_SQL,
  databasePropertiesSql,
  parseDatabaseProperties,
  type DatabaseProperties,
} from "../database/properties.js";
import type { Step, StepContext } from "../engine/plan.js";
import { formatBytes, formatCount } from "../engine/format.js";
import { statSync } from "node:fs";
import { originRows, targetRows } from "../adapters/pgQuery.js";
import {
  deltaSync,
  type OriginScan,
  originMarks,
  readStagingState,
  setStagingMarks,
  stagingMarks,
  type StagingState,
} from "./databaseDelta.js";

export interface DatabaseStepOptions {
  target: Host;
  origin: () => OriginDb;
  /** The origin over SSH: asked whether its PostgreSQL still runs when a dump breaks. */
  originHost: Host;
  dumpDir: string;
  /** Tables the delta works on at once (settings' db-jobs). */
  jobs: number;
  /** Where the tunnel's local end is, for the displayed commands. */
  originLabel: string;
  /** Staging sides read before the downtime (cold sync), by database: each is used once. */
  readAhead?: Map<string, StagingState>;
  /** Cold sync: what each database's delta read of the still origin, for the verification next. */
  originScans?: Map<string, OriginScan>;
}

export const stagingName = (db: string): string => `${db}.bm-migrate-new`;
/** The target's own database between the swap of names and its drop. */
export const replacedName = (db: string): string => `${db}.bm-migrate-old`;

interface OriginDbInfo {
  encoding: string;
  collate: string;
  ctype: string;
  owner: string;
  tables: number;
  bytes: number;
  /** The origin server's server_version_num. */
  versionNum: number;
  /** Its settings and ACL, which the dump leaves out. */
  properties: DatabaseProperties;
}

/** The origin, as a failure of its database is told: its server (tunnel), its host, its name. */
interface OriginSide {
  db: OriginDb;
  /** Over SSH: asked whether its PostgreSQL still runs when a dump breaks. */
  host: Host;
  label: string;
}

async function readOriginDb(
  origin: OriginSide,
  db: string,
  stepId: string,
  signal: AbortSignal,
): Promise<OriginDbInfo> {
  const info = await originRows(
    origin.db,
    db,
    `SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba),
            (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema')),
            pg_database_size(current_database()), current_setting('server_version_num'),
            (${DATABASE_PROPERTIES_SQL})
       FROM pg_database WHERE datname = current_database()`,
    signal,
  );
  if (info.exitCode !== 0 || !info.rows[0]) {
    throw await originDbError(origin, db, stepId, `reading database ${db}`, info.stderr, {
      message: `cannot read database ${db} on the origin ${origin.label}: ${info.stderr.trim()}`,
      hint: "check that PostgreSQL runs on the origin and that bm.ini's password is right (bm-migrate check), then run the command again",
    });
  }
  const [encoding, collate, ctype, owner, tables, bytes, versionNum, properties] = info.rows[0] as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    encoding,
    collate,
    ctype,
    owner,
    tables: Number(tables),
    bytes: Number(bytes),
    versionNum: Number(versionNum),
    properties: parseDatabaseProperties(properties),
  };
}

/**
 * The error for a failed query or dump of the origin's database: a lost connection, a refused
 * password and a stopped server each say so, with the origin's name and what to do next.
 */
async function originDbError(
  origin: OriginSide,
  db: string,
  stepId: string,
  doing: string,
  stderr: string,
  otherwise: { message: string; hint: string },
): Promise<StepFailed> {
  const detail = stderr
    .split("\n")
    .filter((l) => /error|fatal/i.test(l))
    .slice(-1)
    .join("")
    .trim();
  const untouched = `the target's ${db} is untouched`;
  const originLabel = origin.label;
  switch (await classifyOriginDbFailure(stderr, originDbProbes(origin.db, origin.host))) {
    case "connection-lost":
      return new StepFailed(
        stepId,
        `the connection to the origin ${originLabel} was lost while ${doing} (${untouched})`,
        {
          hint: `check the network between the two servers (ssh ${originLabel} true), then run the same command again: it resumes`,
        },
      );
    case "auth":
      return new StepFailed(
        stepId,
        `the origin's PostgreSQL (${originLabel}) refuses ${origin.db.user}'s password from its /etc/bm/bm.ini while ${doing} (${untouched}): ${detail}`,
        {
          hint: `make the password in the origin's /etc/bm/bm.ini match role ${origin.db.user}'s (bm-migrate check tells), then run the same command again`,
        },
      );
    case "shut-down":
      return new StepFailed(
        stepId,
        `PostgreSQL on the origin ${originLabel} was shut down while ${doing} (${untouched}): ${detail}`,
        {
          hint: `the network is fine: the origin's PostgreSQL itself stopped (an administrator, a service stop, a restart). Start it there (service postgresql start) and keep it running during the copy, then run the same command again: it resumes`,
        },
      );
    case "not-running":
      return new StepFailed(
        stepId,
        `PostgreSQL on the origin ${originLabel} does not accept connections (${doing}; ${untouched})`,
        {
          hint: `start it on the origin (service postgresql start; bm-migrate check tells), then run the same command again`,
        },
      );
    default:
      return new StepFailed(stepId, otherwise.message, { hint: otherwise.hint });
  }
}

/**
 * A full copy into the staging database: created afresh with the origin's encoding, locale and
 * owner, loaded by dump and restore at once, the dump kept. The staging database's comment then
 * records the schema fingerprint the copy was made from (what a later delta checks).
 */
async function loadStaging(
  db: string,
  o: DatabaseStepOptions,
  stepId: string,
  ctx: StepContext,
): Promise<{
  info: OriginDbInfo;
  dumpBytes: number;
  dumpFile: string;
  originMajor: number;
  targetMajor: number;
  normalised: string[];
}> {
  const origin = o.origin();
  const staging = stagingName(db);
  const dumpFile = join(o.dumpDir, `${db}.sql`);
  const side: OriginSide = { db: origin, host: o.originHost, label: o.originLabel };
  const info = await readOriginDb(side, db, stepId, ctx.signal);
  // Before the dump reads anything: the schema it should find, and the watermark of this copy.
  const marks = await originMarks(origin, db, ctx.signal);
  const create = await psqlAsPostgres(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${quoteLiteral(staging)};
     DROP DATABASE IF EXISTS ${quoteIdent(staging)};
     CREATE DATABASE ${quoteIdent(staging)} OWNER ${quoteIdent(info.owner)} TEMPLATE template0
       ENCODING ${quoteLiteral(info.encoding)} LC_COLLATE ${quoteLiteral(info.collate)} LC_CTYPE ${quoteLiteral(info.ctype)};`,
    "postgres",
    ctx.signal,
  );
  if (create.exitCode !== 0)
    throw failure(
      "target",
      create,
      `the target's PostgreSQL must accept encoding ${info.encoding} and locale ${info.collate}/${info.ctype}: install that locale, then run the command again`,
    );
  // The origin's database settings and ACL, which the dump leaves out. A later change of either
  // changes the origin's schema fingerprint (database/manifest.ts), which makes the next pass a
  // full copy, through here again.
  const properties = databasePropertiesSql(staging, info.owner, info.properties);
  if (properties) {
    const given = await psqlAsPostgres(properties, "postgres", ctx.signal);
    if (given.exitCode !== 0)
      throw failure(
        "target",
        given,
        `the origin's database ${db} has settings or grants the target's PostgreSQL refuses (a role missing on the target?): create what the message names on the target, then run the command again`,
      );
  }
  // Dump and load at once. SET ROLE makes the owner create everything, as the procedure's load
  // "as bj" does; the owner may create trusted extensions such as hstore. Across the change of
  // schema public's owner (PostgreSQL 15), the load leaves out the dump's lines on it: the target's
  // database keeps its own version's (majorUpgrade.ts). The kept dump is the origin's as it is.
  const targetMajor = majorOf(await targetServerVersionNum(ctx.signal));
  const originMajor = majorOf(info.versionNum);
  const normalised = normalisedInWords(originMajor, targetMajor);
  const filter = crossesPublicSchemaChange(originMajor, targetMajor)
    ? ` \\\n  | awk ${shellQuote(PUBLIC_SCHEMA_FILTER)}`
    : "";
  mkdirSync(o.dumpDir, { recursive: true, mode: 0o700 });
  let dumped = 0;
  // The password reaches pg_dump alone: bash takes it out of its environment before it starts the
  // pipeline, so that neither tee nor the restore (psql, running as postgres) inherits it.
  const script = `set -o pipefail; umask 077
pw=$BM_ORIGIN_PW; unset BM_ORIGIN_PW
{ echo ${shellQuote(`SET ROLE ${quoteIdent(info.owner)};`)}; PGPASSWORD=$pw pg_dump --verbose --no-password -h ${shellQuote(origin.host)} -p ${origin.port} -U ${shellQuote(origin.user)} -d ${shellQuote(db)}; } \\
  | tee ${shellQuote(dumpFile)}${filter} \\
  | runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d ${shellQuote(staging)} >/dev/null`;
  ctx.logCommand(
    "target",
    `pg_dump ${db} (origin, PostgreSQL ${originMajor}, via tunnel) | tee ${dumpFile}${filter ? " | awk (without schema public's owner and grants)" : ""} | psql ${staging} (PostgreSQL ${targetMajor})`,
  );
  const load = await run("bash", ["-c", script], {
    env: { BM_ORIGIN_PW: origin.password, PGCONNECT_TIMEOUT: "15" },
    signal: ctx.signal,
    onStderrLine: (line) => {
      const m = /dumping contents of table "?([^"]+)"?/.exec(line);
      if (m) {
        dumped++;
        ctx.events.emit({
          type: "progress",
          step: stepId,
          current: `${db}: ${m[1]}`,
          filesDone: dumped,
          filesTotal: info.tables,
        });
      }
    },
  });
  if (load.exitCode !== 0) {
    const errors = load.stderr
      .split("\n")
      .filter((l) => !/^pg_dump: (?!error)/.test(l) && l.trim() !== "")
      .slice(-4)
      .join(" | ");
    throw await originDbError(side, db, stepId, `dumping database ${db}`, load.stderr, {
      message: `copying database ${db} failed (the target's ${db} is untouched): ${errors}`,
      hint: "fix the cause shown, then run the same command again",
    });
  }
  // The dump must be complete (pg_dump writes this line last).
  const tail = await run("tail", ["-c", "300", dumpFile]);
  if (!tail.stdout.includes("PostgreSQL database dump complete")) {
    throw new StepFailed(
      stepId,
      `the dump of ${db} is incomplete (${dumpFile}); the target's ${db} is untouched`,
      { hint: "run the same command again" },
    );
  }
  if (marks) await setStagingMarks(staging, marks, ctx.signal);
  return { info, dumpBytes: statSync(dumpFile).size, dumpFile, originMajor, targetMajor, normalised };
}

/**
 * Bring the staging database up to date: by delta when a staging copy with a known schema
 * exists, in full otherwise (or when the delta cannot prove the result equal to the origin).
 */
async function refreshStaging(
  db: string,
  o: DatabaseStepOptions,
  stepId: string,
  ctx: StepContext,
): Promise<{ summary: string; data: Record<string, unknown> }> {
  const staging = stagingName(db);
  const t0 = Date.now();
  const ahead = o.readAhead?.get(db);
  o.readAhead?.delete(db);
  const expected = ahead?.marks ?? (await stagingMarks(staging, ctx.signal));
  const marksMs = Date.now() - t0;
  if (expected) {
    // While the origin serves (hot sync) its rows move under the copy: only the cold pass proves.
    const cold = stepId.startsWith("database:");
    const d = await deltaSync(o.origin(), db, staging, expected, ctx.signal, cold, o.jobs, ahead);
    if (d.ok) {
      // The next pass's watermark (the cold pass renames the copy next: nothing to note).
      if (!cold && d.marks) await setStagingMarks(staging, d.marks, ctx.signal);
      if (cold && d.originScan) o.originScans?.set(db, d.originScan);
      return {
        summary: `by delta: ${d.changedTables.length} of ${d.tables} tables changed, ${formatCount(d.copiedRows)} rows copied${d.copiedBy?.rows.length ? ` (${d.copiedBy.rows.length} of the tables by their changed rows alone)` : ""}`,
        data: {
          db,
          mode: "delta",
          by: d.by,
          tables: d.tables,
          changedTables: d.changedTables,
          copiedRows: d.copiedRows,
          ...(d.copiedBy ? { copiedBy: d.copiedBy, notByRows: d.notByRows } : {}),
          ...(d.scanNotUsed ? { scanNotUsed: d.scanNotUsed } : {}),
          ms: { marks: marksMs, ...d.ms, ...(ahead ? { readAhead: ahead.ms } : {}) },
        },
      };
    }
    ctx.events.emit({
      type: "warning",
      step: stepId,
      message: `${db}: full copy instead of a delta (${d.reason})`,
    });
  }
  const full = await loadStaging(db, o, stepId, ctx);
  return {
    summary: `in full: ${full.info.tables} tables, dump ${formatBytes(full.dumpBytes)} (origin size ${formatBytes(full.info.bytes)}), ${full.info.encoding} ${full.info.collate}${full.originMajor !== full.targetMajor ? `, PostgreSQL ${full.originMajor} → ${full.targetMajor}` : ""}${full.normalised.length ? ` (normalised: ${full.normalised.join("; ")})` : ""}`,
    data: {
      db,
      mode: "full",
      tables: full.info.tables,
      dumpBytes: full.dumpBytes,
      originBytes: full.info.bytes,
      encoding: full.info.encoding,
      collate: full.info.collate,
      ctype: full.info.ctype,
      owner: full.info.owner,
      dumpFile: full.dumpFile,
      originMajor: full.originMajor,
      targetMajor: full.targetMajor,
      ...(full.normalised.length ? { normalised: full.normalised } : {}),
    },
  };
}

/** Hot sync: keep a staging copy of the origin's database up to date, while the origin serves. */
export function stagingStep(db: string, o: DatabaseStepOptions): Step {
  const staging = stagingName(db);
  return {
    id: `database-staging:${db}`,
    title: `Copy database ${db} ahead (staging "${staging}")`,
    host: "both",
    commands: [
      `pg_dump -h <tunnel to ${o.originLabel}:5432> -U bj ${db} | psql ${staging}  (first time; later passes copy only changed rows)`,
      "CHECKPOINT  (the copy's pages written out now, not by the cold sync's DROP DATABASE)",
    ],
    async run(ctx) {
      const r = await refreshStaging(db, o, `database-staging:${db}`, ctx);
      // The staging copy's pages reach the disk now, while the origin serves: else the first
      // checkpoint after the load (forced by the cold sync's DROP DATABASE, or by time) writes them
      // during the downtime.
      const t0 = Date.now();
      const cp = await psqlAsPostgres("CHECKPOINT;", "postgres", ctx.signal);
      if (cp.exitCode !== 0) throw failure("target", cp, "run the same command again");
      return { ...r, data: { ...r.data, checkpointMs: Date.now() - t0 } };
    },
  };
}

/**
 * Cold sync: bring the staging copy up to date, then, only when it is complete and proven,
 * replace the target's database with it.
 */
export function databaseStep(db: string, o: DatabaseStepOptions): Step {
  const staging = stagingName(db);
  return {
    id: `database:${db}`,
    title: `Copy database ${db}`,
    host: "both",
    commands: [
      `delta into "${staging}" (changed rows only, proven by table hashes), or pg_dump ${db} | tee ${join(o.dumpDir, `${db}.sql`)} | psql ${staging}`,
      `ALTER DATABASE "${db}" RENAME TO "${replacedName(db)}"; ALTER DATABASE "${staging}" RENAME TO "${db}"  (in one transaction, only after the copy is complete; the target's own database is kept until post, an earlier copy dropped)`,
    ],
    async run(ctx) {
      const r = await refreshStaging(db, o, `database:${db}`, ctx);
      const t0 = Date.now();
      const swap = await psqlAsPostgres(replaceDatabaseSql(db), "postgres", ctx.signal);
      if (swap.exitCode !== 0) throw failure("target", swap, "run the same command again");
      return { ...r, data: { ...r.data, swapMs: Date.now() - t0 } };
    },
  };
}

/** An earlier copy of the origin's database, replaced by a later cold sync (dropped at once). */
export const staleName = (db: string): string => `${db}.bm-migrate-stale`;

/**
 * Put the staging copy in the place of `db`. The renames commit together: at no moment is the
 * target without its database (a kill between a DROP and a RENAME would leave it so). The target's
 * own database is set aside as `<db>.bm-migrate-old` by the first replacement and kept until
 * \`post\` (and never dropped before: its DROP forces a checkpoint, which would write out, during the
 * downtime, the pages the other database's copy is dirtying at the same moment). A later cold sync
 * (after a rollback, or run again) finds it there: what `db` holds then is an earlier copy of the
 * origin's, which goes instead.
 */
export function replaceDatabaseSql(db: string): string {
  const staging = stagingName(db);
  const old = replacedName(db);
  const stale = staleName(db);
  const names = [db, staging, old, stale].map(quoteLiteral).join(", ");
  return `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (${names}) AND pid <> pg_backend_pid();
DROP DATABASE IF EXISTS ${quoteIdent(stale)};
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${quoteLiteral(db)}) AS has_db,
       EXISTS (SELECT 1 FROM pg_database WHERE datname = ${quoteLiteral(old)}) AS has_old \\gset
BEGIN;
\\if :has_db
\\if :has_old
ALTER DATABASE ${quoteIdent(db)} RENAME TO ${quoteIdent(stale)};
\\else
ALTER DATABASE ${quoteIdent(db)} RENAME TO ${quoteIdent(old)};
\\endif
\\endif
ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(db)};
COMMENT ON DATABASE ${quoteIdent(db)} IS NULL;
COMMIT;
DROP DATABASE IF EXISTS ${quoteIdent(stale)};`;
}

/**
 * From 5.2 BlueMind generates the database password at install and keeps it in bm.ini: once the
 * origin's bm.ini is on the target, the target's role must have the origin's password, or
 * BlueMind cannot reach its own database.
 */
export function rolePasswordStep(role: string, password: () => string): Step {
  return {
    id: `db-role-password:${role}`,
    title: `Give the target's database role ${role} the password in the copied bm.ini`,
    host: "target",
    commands: [
      `psql -c "ALTER ROLE ${role} PASSWORD 'SCRAM-SHA-256$…'"  (a verifier computed here, SQL on stdin, not logged)`,
    ],
    async run(ctx) {
      const r = await psqlAsPostgres(rolePasswordSql(role, password()), "postgres", ctx.signal);
      if (r.exitCode !== 0) throw failure("target", r);
      return { summary: `role ${role} matches bm.ini` };
    },
  };
}

/**
 * The SQL that gives `role` the password: its SCRAM verifier rather than the password itself, so
 * that a statement the server logs (log_statement, or log_min_error_statement when it fails) holds
 * nothing that logs in; and the session's statement logging off as well (the postgres superuser
 * may set both). A password SASLprep would change (not ASCII) goes as it is, with logging off.
 */
export function rolePasswordSql(role: string, password: string): string {
  const secret = scramVerifier(password) ?? password;
  return `SET log_statement = 'none'; SET log_min_duration_statement = -1; SET log_min_error_statement = 'panic';
         ALTER ROLE ${quoteIdent(role)} PASSWORD ${quoteLiteral(secret)};`;
}

/** After the migration (post): drop the target's own databases the cold sync replaced. */
export async function dropReplacedDatabases(
  dbs: readonly string[],
  signal?: AbortSignal,
): Promise<{ summary: string; changed: boolean }> {
  const names = dbs.map(replacedName);
  const found = await targetRows(
    "postgres",
    `SELECT datname FROM pg_database WHERE datname IN (${names.map(quoteLiteral).join(", ")}) ORDER BY 1;`,
    signal,
  );
  if (found.exitCode !== 0) throw failure("target", found, "run the same command again");
  const present = found.rows.map((r) => r[0]!);
  if (!present.length) return { summary: "none left to drop", changed: false };
  const drop = await psqlAsPostgres(
    present.map((n) => `DROP DATABASE IF EXISTS ${quoteIdent(n)};`).join("\n"),
    "postgres",
    signal,
  );
  if (drop.exitCode !== 0) throw failure("target", drop, "run the same command again");
  return { summary: `dropped ${present.join(", ")}`, changed: true };
}

/**
 * Before the cold sync's downtime: read each staging copy's side of the comparison (its marks and
 * row groups), so that the downtime scans only the origin. Databases without a usable staging copy
 * are left out (their step copies them in full, as without this).
 */
export async function readStagingAhead(
  dbs: readonly string[],
  signal?: AbortSignal,
): Promise<Map<string, StagingState>> {
  const states = await Promise.all(dbs.map((db) => readStagingState(stagingName(db), signal)));
  return new Map(
    dbs.flatMap((db, i) => {
      const state = states[i];
      return state ? [[db, state] as const] : [];
    }),
  );
}
