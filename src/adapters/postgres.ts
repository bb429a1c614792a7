/**
 * PostgreSQL through its own tools. The origin's server is reached through an SSH tunnel on the
 * master connection, so the target's (newer) pg_dump does the dump and the password only ever
 * sits in the environment of the local child. The target's server is administered as the
 * `postgres` OS user (peer authentication), with SQL on stdin.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { connect as tcpConnect, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Host } from "./host.js";
import type { SshConnection } from "./ssh.js";
import { run, type ProcessResult } from "./process.js";

/** Quote an SQL identifier ("bj-data" needs it). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quote an SQL string literal. */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** A free local TCP port (the tunnel's local end). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Tunnel {
  port: number;
  close(): Promise<void>;
}

/** Forward 127.0.0.1:PORT on the target to the origin's localhost:5432. */
export async function openTunnel(ssh: SshConnection, remotePort = 5432): Promise<Tunnel | ProcessResult> {
  const port = await freePort();
  const r = await ssh.forward(port, "localhost", remotePort);
  if (r.exitCode !== 0) return r;
  return {
    port,
    async close() {
      await run("ssh", [
        ...ssh.sshArgs(),
        "-O",
        "cancel",
        "-L",
        `127.0.0.1:${port}:localhost:${remotePort}`,
        ssh.destination,
      ]);
    },
  };
}

export interface OriginDb {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** Run SQL on the target's server as the postgres superuser (peer authentication), SQL on stdin. */
export function psqlAsPostgres(
  sql: string,
  database = "postgres",
  signal?: AbortSignal,
): Promise<ProcessResult> {
  return run(
    "runuser",
    ["-u", "postgres", "--", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database],
    {
      input: sql,
      timeoutMs: 30 * 60_000,
      ...(signal ? { signal } : {}),
    },
  );
}

/** The target server's server_version_num (e.g. 150013); 0 when it cannot be read. */
export async function targetServerVersionNum(signal?: AbortSignal): Promise<number> {
  const r = await psqlAsPostgres("SHOW server_version_num;", "postgres", signal);
  const n = Number(r.stdout.trim());
  return r.exitCode === 0 && Number.isInteger(n) ? n : 0;
}

/**
 * Whether the tunnel's local end still listens. It closes when the SSH master connection dies
 * (the network between the hosts was cut), while a stopped PostgreSQL on the origin leaves it
 * listening: that tells the two apart, since psql reports both as a closed connection.
 */
export async function tunnelListening(db: Pick<OriginDb, "host" | "port">): Promise<boolean> {
  const once = (): Promise<boolean> =>
    new Promise((resolve) => {
      const sock = tcpConnect({ host: db.host, port: db.port });
      const done = (up: boolean): void => {
        sock.destroy();
        resolve(up);
      };
      sock.setTimeout(2000, () => done(false));
      sock.once("connect", () => done(true));
      sock.once("error", () => done(false));
    });
  // The master closes its channels a moment before its listener: look twice.
  if (!(await once())) return false;
  await sleep(500);
  return once();
}

/** Why a query or dump of the origin's database failed, in the terms an administrator acts on. */
export type OriginDbFailure = "connection-lost" | "auth" | "not-running" | "shut-down" | "other";

/**
 * What PostgreSQL itself says when it is stopped (postmaster's fast or immediate shutdown, or a
 * pg_terminate_backend): the server ended the session, the network did not fail. Messages of
 * src/backend/tcop/postgres.c (ProcessInterrupts) and postmaster.c (canAcceptConnections).
 */
const SERVER_SHUTDOWN =
  /terminating connection due to (?:administrator command|immediate shutdown|unexpected postmaster exit)|the database system is (?:shutting down|in recovery mode|starting up|not (?:yet )?accepting connections)/i;

/** What the origin's PostgreSQL says of itself (pg_isready's answer), or unknown when not asked. */
export type OriginServerState = "accepting" | "rejecting" | "no-response" | "unknown";

/** What classifying a failure asks the outside world (fakes in the unit tests). */
export interface OriginDbProbes {
  /** Whether the tunnel's local end still listens, i.e. the SSH master connection lives. */
  tunnelListening(): Promise<boolean>;
  /** The origin's PostgreSQL as seen on the origin itself, asked over the SSH connection. */
  originServer(): Promise<OriginServerState>;
}

/** The real probes: the tunnel's local end at `db`, and pg_isready run on `origin` over SSH. */
export function originDbProbes(db: Pick<OriginDb, "host" | "port">, origin: Host): OriginDbProbes {
  return {
    tunnelListening: () => tunnelListening(db),
    originServer: () => originServerState(origin),
  };
}

export async function classifyOriginDbFailure(
  stderr: string,
  probes: OriginDbProbes,
): Promise<OriginDbFailure> {
  if (/password authentication failed|no password supplied|role "[^"]*" does not exist/i.test(stderr))
    return "auth";
  if (SERVER_SHUTDOWN.test(stderr)) return "shut-down";
  const broken =
    /timeout expired|server closed the connection unexpectedly|terminated abnormally|PQgetCopyData|could not receive data|Connection refused|Connection reset|SSL SYSCALL|no connection to the server/i;
  if (!broken.test(stderr)) return "other";
  if (!(await probes.tunnelListening())) return "connection-lost";
  // A stopped server refuses at once; only a network that stopped answering runs into the timeout.
  if (/timeout expired/i.test(stderr)) return "connection-lost";
  if (/connection to server at .* failed/i.test(stderr)) return "not-running";
  // The session broke while the SSH connection lives on. PostgreSQL's own "terminating connection"
  // line is missing whenever its backend was blocked writing to a slow reader (the dump's pipeline
  // on a loaded target): it then drops the message on purpose and just closes the connection
  // (ProcessClientWriteInterrupt, src/backend/tcop/postgres.c). So the origin itself is asked,
  // over the SSH connection, with no timing to guess from: a server that now rejects connections
  // (shutting down) or does not answer there at all (stopped) was shut down. No answer over SSH
  // (the network), or a server that accepts again, keeps it a lost connection.
  const state = await probes.originServer();
  return state === "rejecting" || state === "no-response" ? "shut-down" : "connection-lost";
}

/**
 * Asked on the origin (the tunnel's far end is its localhost:5432): pg_isready's exit code, or,
 * without pg_isready there, whether anything listens on port 5432 (read from /proc/net, without
 * connecting). Reads only: a startup packet without a password, nothing written.
 */
const ORIGIN_SERVER_STATE = `if command -v pg_isready >/dev/null 2>&1; then pg_isready -q -h localhost -p 5432 -t 5; echo "pg_isready=$?"
elif grep -Eq ':1538 [0-9A-F]+:0000 0A ' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then echo listening=1
else echo listening=0; fi`;

/** What `ORIGIN_SERVER_STATE` printed: pg_isready's 0, 1, 2, or nothing listening on the port. */
export function parseOriginServerState(stdout: string): OriginServerState {
  const ready = /^pg_isready=(\d+)$/m.exec(stdout)?.[1];
  if (ready === "0") return "accepting";
  if (ready === "1") return "rejecting";
  if (ready === "2") return "no-response";
  return /^listening=0$/m.test(stdout) ? "no-response" : "unknown";
}

/**
 * The origin's PostgreSQL as it answers on the origin, over the SSH connection: a network that
 * lost the origin gives no answer within the time (unknown), never a stopped server.
 */
export async function originServerState(origin: Host): Promise<OriginServerState> {
  const r = await origin.sh(ORIGIN_SERVER_STATE, { timeoutMs: 20_000 });
  return r.exitCode === 0 ? parseOriginServerState(r.stdout) : "unknown";
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, the form of
 * src/common/scram-common.c: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`). Sent
 * instead of the password, `ALTER ROLE ... PASSWORD '<verifier>'` sets the same password while the
 * SQL text, which the server may log, holds nothing that logs in. Only for passwords in ASCII,
 * which SASLprep leaves as they are (pg_saslprep's fast path); undefined for others.
 */
export function scramVerifier(
  password: string,
  salt = randomBytes(16),
  iterations = 4096,
): string | undefined {
  if (Buffer.byteLength(password, "utf8") !== password.length) return undefined; // not ASCII
  const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
