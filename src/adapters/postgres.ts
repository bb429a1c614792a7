/**
 * PostgreSQL through its own tools. The origin's server is reached through an SSH tunnel on the
 * master connection, so the target's (newer) pg_dump does the dump and the password only ever
 * sits in the environment of the local child. The target's server is administered as the
 * `postgres` OS user (peer authentication), with SQL on stdin.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { connect as tcpConnect, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
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

export async function classifyOriginDbFailure(
  db: Pick<OriginDb, "host" | "port">,
  stderr: string,
): Promise<OriginDbFailure> {
  if (/password authentication failed|no password supplied|role "[^"]*" does not exist/i.test(stderr))
    return "auth";
  if (SERVER_SHUTDOWN.test(stderr)) return "shut-down";
  const broken =
    /timeout expired|server closed the connection unexpectedly|terminated abnormally|PQgetCopyData|could not receive data|Connection refused|Connection reset|SSL SYSCALL|no connection to the server/i;
  if (!broken.test(stderr)) return "other";
  if (!(await tunnelListening(db))) return "connection-lost";
  // A stopped server refuses at once; only a network that stopped answering runs into the timeout.
  if (/timeout expired/i.test(stderr)) return "connection-lost";
  if (/connection to server at .* failed/i.test(stderr)) return "not-running";
  // The session broke while the SSH connection lives on: when PostgreSQL on the origin now says it
  // is shutting down, or the origin's end of the tunnel refuses at once (nothing listens on its
  // port 5432), PostgreSQL itself went away. Its own "terminating connection" line can be lost in
  // the race with a stream being copied.
  if (await originServerGone(db)) return "shut-down";
  return "connection-lost";
}

/**
 * Ask the origin's PostgreSQL through the tunnel with pg_isready (a startup packet, no password):
 * exit 1 is a server that rejects connections (shutting down, starting up); exit 2 within a second
 * is a connection closed at once (SSH could not reach the origin's port). A network that stopped
 * answering makes pg_isready wait for its timeout instead.
 */
async function originServerGone(db: Pick<OriginDb, "host" | "port">): Promise<boolean> {
  const t0 = Date.now();
  const r = await run("pg_isready", ["-q", "-h", db.host, "-p", String(db.port), "-t", "4"], {
    timeoutMs: 10_000,
  });
  if (r.exitCode === 1) return true;
  return r.exitCode === 2 && Date.now() - t0 < 1500;
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
