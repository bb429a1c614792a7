/**
 * The cold sync's database copy on BlueMind's real 4.x schema, against the manual procedure's
 * pg_dump | psql, between two databases of one private PostgreSQL cluster on this machine (started
 * by this script, stopped at the end): the origin's `bj-data` stand-in and its staging copy. No SSH
 * and no lab hosts: what is measured is the delta's own work (its scan of the still origin, the
 * comparison, the copy and its proof), called as the cold sync calls it.
 *
 *   npm run bench:delta -- [--schema lab/schema/bluemind-4.sql] [--rows 1000000] [--grow 4]
 *                          [--changes 1000] [--folders 100] [--keep]
 *
 * Per size (rows, then rows × grow): the schema loaded whole; `t_mailbox_record` (no primary key in
 * 4.x) filled with `rows` records over rows / 1000 folders; a watermark noted and the staging copy
 * made by pg_dump | psql (timed: the manual procedure's database step for this database); then a
 * change as BlueMind makes it (flags set on 9 records and one new message, in each of `folders`
 * folders: `changes` rows) and the cold pass's delta, timed, with the staging side read ahead as the
 * cold sync does. The copy is then checked row for row (a digest of every record on both sides).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  deltaSync,
  originMarks,
  readStagingState,
  setStagingMarks,
  type DeltaOutcome,
} from "../src/phases/databaseDelta.js";

const { values: opts } = parseArgs({
  options: {
    schema: { type: "string", default: "lab/schema/bluemind-4.sql" },
    rows: { type: "string", default: "1000000" },
    grow: { type: "string", default: "4" },
    changes: { type: "string", default: "1000" },
    folders: { type: "string", default: "100" },
    port: { type: "string", default: "55439" },
    keep: { type: "boolean", default: false },
  },
});

const BIN = "/usr/lib/postgresql/15/bin";
const dir = mkdtempSync(join(tmpdir(), "bench-delta-"));
chmodSync(dir, 0o777);
const socket = dir;
const port = opts.port;
// The staging side's psql runs as postgres on the default socket: point it at this cluster.
process.env["PGHOST"] = socket;
process.env["PGPORT"] = port;

function sh(cmd: string, input?: string): string {
  const r = spawnSync("bash", ["-c", cmd], { input, encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd.slice(0, 200)}: ${r.stderr}`);
  return r.stdout;
}
const asPostgres = (cmd: string, input?: string): string => sh(`runuser -u postgres -- ${cmd}`, input);
const psql = (db: string, sql: string, user = "postgres"): string =>
  asPostgres(`psql -X -q -At -v ON_ERROR_STOP=1 -U ${user} -d ${db}`, sql);
const seconds = (ms: number): string => (ms / 1000).toFixed(2);

function startCluster(): void {
  asPostgres(`${BIN}/initdb -D ${dir}/data --auth=trust -U postgres`);
  asPostgres(
    `${BIN}/pg_ctl -D ${dir}/data -l ${dir}/log -w start -o "-c listen_addresses='' -c unix_socket_directories=${socket} -p ${port} -c shared_buffers=256MB"`,
  );
  psql("postgres", "CREATE ROLE bj SUPERUSER LOGIN;");
}

function fill(db: string, rows: number): void {
  psql("postgres", `DROP DATABASE IF EXISTS "${db}"; CREATE DATABASE "${db}" OWNER bj;`);
  sh(`psql -X -q -v ON_ERROR_STOP=1 -U bj -d ${db} -f ${opts.schema}`);
  const folders = Math.max(1, Math.round(rows / 1000));
  // Foreign keys and triggers off while filling, as a restore does (the records' folders and items
  // are not the benchmark's subject).
  psql(
    db,
    `INSERT INTO t_container (id, uid, container_type, name, owner, createdby, updatedby, created, updated)
SELECT f, 'mbox_records_' || f, 'mailbox_records', 'folder ' || f, 'u', 'u', 'u', now(), now() FROM generate_series(1, ${folders}) f;
SET session_replication_role = replica;
INSERT INTO t_mailbox_record (message_body_guid, imap_uid, mod_seq, last_updated, internal_date, system_flags, other_flags, container_id, conversation_id, item_id)
SELECT decode(md5(i::text), 'hex'), i / ${folders} + 1, i, timestamp '2024-01-01' + i * interval '1 second',
       timestamp '2024-01-01' + i * interval '1 second', i % 8, '{}', i % ${folders} + 1, i, i
  FROM generate_series(0, ${rows - 1}) i;
VACUUM ANALYZE t_mailbox_record;`,
    "bj",
  );
}

/** As BlueMind does it: in each of `folders` folders, flags set on 9 records and one new message. */
function change(db: string, rows: number): number {
  const folders = Math.max(1, Math.round(rows / 1000));
  const changedFolders = Math.min(folders, Number(opts.folders));
  const per = Math.max(1, Math.round(Number(opts.changes) / changedFolders));
  const step = Math.max(1, Math.floor(folders / changedFolders));
  const ids = Array.from({ length: changedFolders }, (_, i) => i * step + 1).join(",");
  const out = psql(
    db,
    `WITH u AS (UPDATE t_mailbox_record SET system_flags = system_flags | 2, mod_seq = mod_seq + 1, last_updated = now()::timestamp
                 WHERE container_id IN (${ids}) AND imap_uid <= ${per - 1} RETURNING 1) SELECT count(*) FROM u;
WITH n AS (INSERT INTO t_mailbox_record (message_body_guid, imap_uid, mod_seq, last_updated, internal_date, system_flags, other_flags, container_id, conversation_id, item_id)
           SELECT decode(md5('new' || f), 'hex'), 1000000 + f, 1, now()::timestamp, now()::timestamp, 0, '{}', f, f, NULL
             FROM unnest('{${ids}}'::int[]) f RETURNING 1) SELECT count(*) FROM n;`,
    "bj",
  );
  return out
    .trim()
    .split("\n")
    .reduce((n, x) => n + Number(x), 0);
}

const DIGEST =
  "SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r::text)) FROM t_mailbox_record r;";

interface Result {
  rows: number;
  changed: number;
  dumpRestoreMs: number;
  deltaMs: number;
  readAheadMs: number;
  outcome: DeltaOutcome;
  equal: boolean;
}

async function measure(rows: number): Promise<Result> {
  const [o, s] = ["bench_origin", "bench_staging"];
  let t = Date.now();
  fill(o, rows);
  console.error(`${rows} records filled in ${seconds(Date.now() - t)} s`);
  const origin = { host: socket, port: Number(port), user: "bj", password: "unused" };
  const marks = await originMarks(origin, o);
  if (!marks?.since) throw new Error("no watermark from the origin");
  psql("postgres", `DROP DATABASE IF EXISTS "${s}"; CREATE DATABASE "${s}" OWNER bj;`);
  t = Date.now();
  sh(`pg_dump -U bj -d ${o} | psql -X -q -U bj -d ${s} >/dev/null`);
  const dumpRestoreMs = Date.now() - t;
  await setStagingMarks(s, marks);
  const changed = change(o, rows);
  // The cold sync reads the staging side ahead, then (origin still) runs the delta.
  const prepared = await readStagingState(s);
  if (!prepared) throw new Error("cannot read the staging copy");
  t = Date.now();
  const outcome = await deltaSync(origin, o, s, marks, undefined, true, 2, prepared);
  const deltaMs = Date.now() - t;
  const equal = psql(o, DIGEST) === psql(s, DIGEST);
  return { rows, changed, dumpRestoreMs, deltaMs, readAheadMs: prepared.ms, outcome, equal };
}

startCluster();
try {
  const base = Number(opts.rows);
  const results: Result[] = [];
  for (const rows of [base, base * Number(opts.grow)]) {
    const r = await measure(rows);
    results.push(r);
    console.log(
      `${r.rows} records, ${r.changed} changed: delta ${seconds(r.deltaMs)} s (${JSON.stringify(r.outcome.ms)}; staging read ahead ${seconds(r.readAheadMs)} s), ` +
        `${r.outcome.copiedRows} rows copied (${JSON.stringify(r.outcome.copiedBy)}${r.outcome.ok ? "" : `; FAILED: ${r.outcome.reason}`}), ` +
        `pg_dump | psql ${seconds(r.dumpRestoreMs)} s (ratio ${(r.deltaMs / r.dumpRestoreMs).toFixed(3)}), copy ${r.equal ? "equal" : "DIFFERENT"}`,
    );
  }
  const [a, b] = results;
  if (a && b)
    console.log(
      `growth of the delta for ${Number(opts.grow)}× the records: ${(((b.deltaMs - a.deltaMs) / a.deltaMs) * 100).toFixed(0)} %`,
    );
  if (results.some((r) => !r.equal || !r.outcome.ok)) process.exitCode = 1;
} finally {
  if (!opts.keep) {
    asPostgres(`${BIN}/pg_ctl -D ${dir}/data -m fast -w stop`);
    rmSync(dir, { recursive: true, force: true });
  } else console.error(`cluster kept: ${dir} (port ${port})`);
}
