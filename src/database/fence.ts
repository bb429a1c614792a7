/**
 * The origin's write fence for the downtime, as SQL run by the `postgres` superuser on the origin
 * (a real BlueMind's `bj` is a superuser itself, `install_bmdb_pgsql_0.sh`: a CONNECTION LIMIT or
 * NOLOGIN on it would not stop it, and would stop the tool's own reads, which log in as `bj` too).
 *
 * The fence, once BlueMind is stopped: each database gets `default_transaction_read_only = on` as a
 * database setting (every new session's transactions are read-only: an INSERT, UPDATE, DELETE,
 * nextval() or DDL is refused, PostgreSQL's "cannot execute ... in a read-only transaction"; the
 * tool's own sessions read only), every other client session on those databases is ended (what it
 * had not committed is rolled back), and what was connected is named. Then it is checked: no
 * client session left on them, no prepared transaction waiting for them (one survives the end of
 * its session and could be committed later), no session anywhere holding a transaction id.
 *
 * A session could still `SET default_transaction_read_only = off` on purpose: the fence keeps
 * unexpected writers out, the proof (the origin's snapshot unchanged, no transaction id held) still
 * catches a deliberate one. The setting lives in `pg_db_role_setting`, which `pg_dump` without
 * `--create` does not dump: it is never carried to the target (and `ALTER DATABASE ... RESET` lifts
 * it; a rollback and the swap do so, a crash leaves it for them or a re-run).
 */
import { quoteLiteral } from "../adapters/postgres.js";

/** The database setting the fence sets. */
export const FENCE_SETTING = "default_transaction_read_only";

/** A client session that was connected to a fenced database (or still is). */
export interface FencedSession {
  pid: number;
  user: string;
  db: string;
  application: string;
  client: string;
  state: string;
  /** The transaction id it held ("" when none). */
  xid: string;
}

/** A prepared transaction waiting for a fenced database. */
export interface PreparedXact {
  gid: string;
  db: string;
  owner: string;
  xid: string;
}

/** What the fence found. */
export interface FenceOutcome {
  /** The client sessions that were connected and ended. */
  ended: FencedSession[];
  /** Client sessions still connected after the wait (the fence failed). */
  left: FencedSession[];
  prepared: PreparedXact[];
  /** Sessions anywhere in the cluster holding a transaction id (pid:db:xid). */
  xidHolders: string[];
  /** The origin's snapshot once fenced (txid_current_snapshot()). */
  snapshot: string;
  /** The databases that carry the fence's setting once it is set. */
  fenced: string[];
}

const inList = (dbs: readonly string[]): string => dbs.map(quoteLiteral).join(", ");

/**
 * Client sessions only: autovacuum workers write no rows of the tables (an ANALYZE only its own
 * statistics). `backend_type` is PostgreSQL 10's; before, every session listed is a client's or
 * an autovacuum worker's, whose query then starts with "autovacuum:". Read through row_to_json so
 * that the same text runs on 9.5 and later.
 */
const CLIENTS = `coalesce(row_to_json(a)->>'backend_type', CASE WHEN a.query LIKE 'autovacuum:%' THEN 'autovacuum worker' ELSE 'client backend' END) = 'client backend'`;

const SESSION_COLS = `a.pid, coalesce(a.usename::text, ''), coalesce(a.datname::text, ''), coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), coalesce(a.state, ''), coalesce((row_to_json(a)->>'backend_xid'), '')`;

/**
 * The fence in one session (psql, tab-separated rows tagged by their first field): set, name,
 * end, wait (at most `waitMs`) and check.
 */
export function fenceSql(dbs: readonly string[], waitMs = 10_000): string {
  const others = `a.datname IN (${inList(dbs)}) AND a.pid <> pg_backend_pid() AND ${CLIENTS}`;
  const rounds = Math.max(1, Math.ceil(waitMs / 50));
  return `${settingSql(dbs, true)}
SELECT 'ended', ${SESSION_COLS}, pg_terminate_backend(a.pid) FROM pg_stat_activity a WHERE ${others};
DO $fence$ BEGIN
  FOR i IN 1..${rounds} LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE ${others});
    PERFORM pg_sleep(0.05);
  END LOOP;
END $fence$;
SELECT pg_stat_clear_snapshot();
SELECT 'left', ${SESSION_COLS} FROM pg_stat_activity a WHERE ${others};
SELECT 'prepared', gid, database::text, owner::text, transaction::text FROM pg_prepared_xacts WHERE database IN (${inList(dbs)});
SELECT 'xid', a.pid, coalesce(a.datname::text, ''), (row_to_json(a)->>'backend_xid') FROM pg_stat_activity a WHERE (row_to_json(a)->>'backend_xid') IS NOT NULL AND a.pid <> pg_backend_pid();
SELECT 'snapshot', txid_current_snapshot()::text;
${fenceStateSql(dbs)}`;
}

/** Set (`on`) or reset (`off`) the fence's setting on each of `dbs` that exists. */
function settingSql(dbs: readonly string[], on: boolean): string {
  const alter = on ? `SET ${FENCE_SETTING} = on` : `RESET ${FENCE_SETTING}`;
  return `DO $fence$ DECLARE d text; BEGIN
  FOR d IN SELECT datname FROM pg_database WHERE datname IN (${inList(dbs)}) LOOP
    EXECUTE format('ALTER DATABASE %I ${alter}', d);
  END LOOP;
END $fence$;`;
}

/** The fence lifted: each database's setting removed (idempotent: nothing to remove is fine). */
export function liftFenceSql(dbs: readonly string[]): string {
  return `${settingSql(dbs, false)}
${fenceStateSql(dbs)}`;
}

/** Which of `dbs` carry the fence's setting now (the fence is up). */
export function fenceStateSql(dbs: readonly string[]): string {
  return `SELECT 'fenced', d.datname FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
 WHERE s.setrole = 0 AND d.datname IN (${inList(dbs)}) AND '${FENCE_SETTING}=on' = ANY(s.setconfig);
`;
}

const session = (f: string[]): FencedSession => ({
  pid: Number(f[0]),
  user: f[1] ?? "",
  db: f[2] ?? "",
  application: f[3] ?? "",
  client: f[4] ?? "",
  state: f[5] ?? "",
  xid: f[6] ?? "",
});

/** Read the fence's rows back. */
export function parseFence(rows: readonly string[][]): FenceOutcome {
  const tagged = (tag: string): string[][] => rows.filter((r) => r[0] === tag).map((r) => r.slice(1));
  return {
    ended: tagged("ended").map(session),
    left: tagged("left").map(session),
    prepared: tagged("prepared").map(([gid = "", db = "", owner = "", xid = ""]) => ({
      gid,
      db,
      owner,
      xid,
    })),
    xidHolders: tagged("xid").map(([pid = "", db = "", xid = ""]) => `${pid}:${db}:${xid}`),
    snapshot: tagged("snapshot")[0]?.[0] ?? "",
    fenced: tagged("fenced").map((r) => r[0] ?? ""),
  };
}

/** A session in words: "pid 123 (bj on bj-data, from 10.0.0.5, app psql, idle in transaction, xid 930)". */
export function describeSession(s: FencedSession): string {
  const bits = [
    `${s.user} on ${s.db}`,
    `from ${s.client}`,
    ...(s.application ? [`app ${s.application}`] : []),
    ...(s.state ? [s.state] : []),
    ...(s.xid ? [`xid ${s.xid}`] : []),
  ];
  return `pid ${s.pid} (${bits.join(", ")})`;
}

/** Why the fence does not hold, in words; undefined when it holds. */
export function fenceProblem(f: FenceOutcome): string | undefined {
  const problems = [
    ...(f.left.length
      ? [`sessions still connected after being ended: ${f.left.map(describeSession).join("; ")}`]
      : []),
    ...(f.prepared.length
      ? [
          `prepared transactions wait to be committed: ${f.prepared.map((p) => `'${p.gid}' on ${p.db} by ${p.owner} (xid ${p.xid})`).join("; ")}`,
        ]
      : []),
  ];
  return problems.length ? problems.join("; ") : undefined;
}
