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
  psqlAsPostgres,
  queryOrigin,
  quoteIdent,
  quoteLiteral,
  type OriginDb,
} from "../adapters/postgres.js";
import { StepFailed } from "../engine/errors.js";
import type { Step } from "../engine/plan.js";
import { formatBytes } from "../cli/format.js";
import { statSync } from "node:fs";

export interface DatabaseStepOptions {
  target: Host;
  origin: () => OriginDb;
  dumpDir: string;
  /** Where the tunnel's local end is, for the displayed commands. */
  originLabel: string;
}

export const stagingName = (db: string): string => `${db}.bm-migrate-new`;

export function databaseStep(db: string, o: DatabaseStepOptions): Step {
  const staging = stagingName(db);
  const dumpFile = join(o.dumpDir, `${db}.sql`);
  return {
    id: `database:${db}`,
    title: `Copy database ${db}`,
    host: "both",
    commands: [
      `pg_dump -h <tunnel to ${o.originLabel}:5432> -U bj ${db} | tee ${dumpFile} | psql ${staging}  (as postgres, SET ROLE to the owner)`,
      `dropdb ${db}; ALTER DATABASE "${staging}" RENAME TO "${db}"  (only after the load succeeded)`,
    ],
    async run(ctx) {
      const origin = o.origin();
      // 1. What the origin's database is: encoding, locale, owner (the target's copy keeps them).
      const info = await queryOrigin(
        origin,
        db,
        `SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba),
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema')),
                pg_database_size(current_database())
           FROM pg_database WHERE datname = current_database()`,
        ctx.signal,
      );
      if (info.exitCode !== 0 || !info.rows[0]) {
        throw new StepFailed(
          `database:${db}`,
          `cannot read database ${db} on the origin ${o.originLabel}: ${info.stderr.trim()}`,
          {
            hint: "check that PostgreSQL runs on the origin and that bm.ini's password is right (bm-migrate check), then run the command again",
          },
        );
      }
      const [encoding, collate, ctype, owner, tablesText, sizeText] = info.rows[0] as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      const tables = Number(tablesText);
      // 2. A fresh staging database with the origin's encoding and locale, owned like the origin's.
      const create = await psqlAsPostgres(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${quoteLiteral(staging)};
         DROP DATABASE IF EXISTS ${quoteIdent(staging)};
         CREATE DATABASE ${quoteIdent(staging)} OWNER ${quoteIdent(owner)} TEMPLATE template0
           ENCODING ${quoteLiteral(encoding)} LC_COLLATE ${quoteLiteral(collate)} LC_CTYPE ${quoteLiteral(ctype)};`,
        "postgres",
        ctx.signal,
      );
      if (create.exitCode !== 0)
        throw failure(
          "target",
          create,
          `the target's PostgreSQL must accept encoding ${encoding} and locale ${collate}/${ctype}: install that locale, then run the command again`,
        );
      // 3. Dump and load at once. SET ROLE makes the owner create everything, as the procedure's
      // load "as bj" does; the owner may create trusted extensions such as hstore.
      mkdirSync(o.dumpDir, { recursive: true, mode: 0o700 });
      let dumped = 0;
      const script = `set -o pipefail
{ echo ${shellQuote(`SET ROLE ${quoteIdent(owner)};`)}; pg_dump --verbose --no-password -h ${shellQuote(origin.host)} -p ${origin.port} -U ${shellQuote(origin.user)} -d ${shellQuote(db)}; } \\
  | tee ${shellQuote(dumpFile)} \\
  | runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d ${shellQuote(staging)} >/dev/null`;
      ctx.logCommand("target", `pg_dump ${db} (origin, via tunnel) | tee ${dumpFile} | psql ${staging}`);
      const load = await run("bash", ["-c", script], {
        env: { PGPASSWORD: origin.password, PGCONNECT_TIMEOUT: "15" },
        signal: ctx.signal,
        onStderrLine: (line) => {
          const m = /dumping contents of table "?([^"]+)"?/.exec(line);
          if (m) {
            dumped++;
            ctx.events.emit({
              type: "progress",
              step: `database:${db}`,
              current: `${db}: ${m[1]}`,
              filesDone: dumped,
              filesTotal: tables,
            });
          }
        },
      });
      const errors = load.stderr
        .split("\n")
        .filter((l) => !/^pg_dump: (?!error)/.test(l) && l.trim() !== "")
        .join("\n");
      if (load.exitCode !== 0) {
        throw new StepFailed(
          `database:${db}`,
          `copying database ${db} failed (the target's ${db} is untouched): ${errors.split("\n").slice(-4).join(" | ")}`,
          {
            hint: "fix the cause shown, then run the same command again",
          },
        );
      }
      // 4. The dump must be complete (pg_dump writes this line last).
      const tail = await run("tail", ["-c", "300", dumpFile]);
      if (!tail.stdout.includes("PostgreSQL database dump complete")) {
        throw new StepFailed(
          `database:${db}`,
          `the dump of ${db} is incomplete (${dumpFile}); the target's ${db} is untouched`,
          {
            hint: "run the same command again",
          },
        );
      }
      // 5. Only now replace the target's database.
      const swap = await psqlAsPostgres(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (${quoteLiteral(db)}, ${quoteLiteral(staging)}) AND pid <> pg_backend_pid();
         DROP DATABASE IF EXISTS ${quoteIdent(db)};
         ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(db)};`,
        "postgres",
        ctx.signal,
      );
      if (swap.exitCode !== 0) throw failure("target", swap, "run the same command again");
      const bytes = statSync(dumpFile).size;
      return {
        summary: `${tables} tables, dump ${formatBytes(bytes)} (origin size ${formatBytes(Number(sizeText))}), ${encoding} ${collate}`,
        data: {
          db,
          tables,
          dumpBytes: bytes,
          originBytes: Number(sizeText),
          encoding,
          collate,
          ctype,
          owner,
          dumpFile,
        },
      };
    },
  };
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
    commands: [`psql -c "ALTER ROLE ${role} PASSWORD '…'"  (SQL on stdin, not logged)`],
    async run(ctx) {
      const r = await psqlAsPostgres(
        `SET log_statement = 'none'; SET log_min_duration_statement = -1;
         ALTER ROLE ${quoteIdent(role)} PASSWORD ${quoteLiteral(password())};`,
        "postgres",
        ctx.signal,
      );
      if (r.exitCode !== 0) throw failure("target", r);
      return { summary: `role ${role} matches bm.ini` };
    },
  };
}
