/**
 * The origin's write fence (see database/fence.ts for what it is): put up by the cold sync once
 * BlueMind is stopped on the origin, checked again by the verification in the downtime, lifted by
 * a rollback and by the swap. It runs as the `postgres` superuser on the origin, through SSH.
 */
import type { Host } from "../adapters/host.js";
import { failure } from "../adapters/process.js";
import { quoteLiteral } from "../adapters/postgres.js";
import {
  describeSession,
  fenceProblem,
  fenceSql,
  fenceStateSql,
  liftFenceSql,
  parseFence,
  type FenceOutcome,
} from "../database/fence.js";
import { StepFailed } from "../engine/errors.js";
import type { Step } from "../engine/plan.js";
import { FENCE_STEP_ID } from "../engine/records.js";

/** The id of the cold sync's fence step (the journal's fold reads it: the fence is up from its start). */
const FENCE_STEP = FENCE_STEP_ID;

/**
 * BlueMind's databases a fence may have been put on: rollback and the swap lift it from each of
 * them that exists (idempotent; no profile needed, so that a journal cut before the fence's own
 * record is no matter).
 */
export const FENCEABLE: readonly string[] = ["bj", "bj-data", "keycloak"];

/** psql as postgres on the origin, SQL on stdin, tab-separated rows. */
const PSQL = "runuser -u postgres -- psql -X -q -A -t -F $'\\t' -v ON_ERROR_STOP=1 -d postgres";

async function originSql(
  origin: Host,
  sql: string,
  signal?: AbortSignal,
): Promise<{ rows: string[][]; result: Awaited<ReturnType<Host["sh"]>> }> {
  const result = await origin.sh(PSQL, { input: sql, timeoutMs: 120_000, ...(signal ? { signal } : {}) });
  return {
    rows: result.stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.split("\t")),
    result,
  };
}

/** Put up the fence on the origin's databases and check it; throws when it does not hold. */
export async function fenceOrigin(
  origin: Host,
  dbs: readonly string[],
  signal?: AbortSignal,
): Promise<FenceOutcome> {
  const { rows, result } = await originSql(origin, fenceSql(dbs), signal);
  if (result.exitCode !== 0)
    throw failure(
      origin.label,
      result,
      "PostgreSQL must run on the origin (service postgresql start there), then run the same command again: it resumes (or bm-migrate rollback gives the service back to the origin)",
    );
  const f = parseFence(rows);
  const missing = dbs.filter((db) => !f.fenced.includes(db));
  const problem = [
    fenceProblem(f),
    ...(missing.length ? [`the setting did not take on ${missing.join(", ")}`] : []),
  ]
    .filter(Boolean)
    .join("; ");
  if (problem)
    throw new StepFailed(FENCE_STEP, `the origin's databases cannot be fenced for the downtime: ${problem}`, {
      hint: `on the origin, as postgres: end those sessions (SELECT pg_terminate_backend(pid)), and COMMIT PREPARED or ROLLBACK PREPARED what waits (its owner decides which), then run the same command again: it resumes; or bm-migrate rollback to give the service back to the origin`,
    });
  return f;
}

/** The cold sync's step: the fence, once BlueMind is stopped on the origin. */
export function fenceStep(origin: Host, dbs: readonly string[], after: string): Step {
  return {
    id: FENCE_STEP,
    title: `Fence the origin's databases (${dbs.join(", ")}): read-only, other sessions ended`,
    host: "origin",
    waitFor: [after],
    commands: [
      `ALTER DATABASE <each of ${dbs.join(", ")}> SET default_transaction_read_only = on  (as postgres; lifted by rollback and by the swap)`,
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (...)  (the sessions ended are named)",
      "no session left, no prepared transaction (pg_prepared_xacts), no transaction id held (backend_xid)",
    ],
    async run(ctx) {
      ctx.logCommand(
        origin.label,
        `runuser -u postgres -- psql <fence ${dbs.join(", ")}: read-only, sessions ended, checked>`,
      );
      const t0 = Date.now();
      const f = await fenceOrigin(origin, dbs, ctx.signal);
      const ms = Date.now() - t0;
      if (f.ended.length)
        ctx.events.emit({
          type: "warning",
          step: FENCE_STEP,
          message: `the origin still had ${f.ended.length} session(s) on its databases after BlueMind's stop, now ended (what they had not committed is rolled back): ${f.ended.map(describeSession).join("; ")}`,
        });
      return {
        summary: `${dbs.join(", ")} read-only; ${f.ended.length ? `${f.ended.length} session(s) ended` : "no other session was connected"}; no prepared transaction (${ms} ms)`,
        data: {
          databases: dbs,
          ended: f.ended,
          xidHolders: f.xidHolders,
          snapshot: f.snapshot,
          ms,
        },
      };
    },
  };
}

/** Lift the fence (rollback, swap); what still carried it is returned. Idempotent. */
export async function liftFence(origin: Host, dbs: readonly string[], signal?: AbortSignal): Promise<void> {
  const { rows, result } = await originSql(origin, liftFenceSql(dbs), signal);
  if (result.exitCode !== 0)
    throw failure(
      origin.label,
      result,
      `lift the fence by hand on the origin, as postgres: ALTER DATABASE <each of ${dbs.join(", ")}> RESET default_transaction_read_only; then run the same command again`,
    );
  const still = rows.filter((r) => r[0] === "fenced").map((r) => r[1] ?? "");
  if (still.length)
    throw new StepFailed("fence-lift", `the fence is still up on the origin's ${still.join(", ")}`, {
      hint: `as postgres on the origin: ALTER DATABASE <each> RESET default_transaction_read_only; then run the same command again`,
    });
}

/**
 * The fence as it stands now, for the verification in the downtime: problems in words (none:
 * it holds: every database fenced, no client session holding a transaction id on them, no
 * prepared transaction waiting).
 */
export async function fenceHolds(
  origin: Host,
  dbs: readonly string[],
  signal?: AbortSignal,
): Promise<string[]> {
  const inList = dbs.map(quoteLiteral).join(", ");
  const sql = `${fenceStateSql(dbs)}
SELECT 'prepared', gid, database::text, owner::text, transaction::text FROM pg_prepared_xacts WHERE database IN (${inList});
SELECT 'writer', a.pid, coalesce(a.usename::text, ''), a.datname::text, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), coalesce(a.state, ''), (row_to_json(a)->>'backend_xid') FROM pg_stat_activity a WHERE a.datname IN (${inList}) AND (row_to_json(a)->>'backend_xid') IS NOT NULL AND a.pid <> pg_backend_pid();
`;
  const { rows, result } = await originSql(origin, sql, signal);
  if (result.exitCode !== 0)
    return [`cannot read the fence on the origin: ${result.stderr.trim().split("\n").at(-1) ?? ""}`];
  const fenced = rows.filter((r) => r[0] === "fenced").map((r) => r[1]);
  const problems: string[] = [];
  const down = dbs.filter((d) => !fenced.includes(d));
  if (down.length) problems.push(`the origin's ${down.join(", ")} no longer carry the fence (read-only)`);
  for (const [, gid, db, owner, xid] of rows.filter((r) => r[0] === "prepared"))
    problems.push(`a prepared transaction '${gid}' by ${owner} waits on the origin's ${db} (xid ${xid})`);
  for (const [, pid, user, db, app, client, state, xid] of rows.filter((r) => r[0] === "writer"))
    problems.push(
      `a session writes on the origin's ${db}: ${describeSession({ pid: Number(pid), user: user ?? "", db: db ?? "", application: app ?? "", client: client ?? "", state: state ?? "", xid: xid ?? "" })}`,
    );
  return problems;
}
