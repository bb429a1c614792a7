/**
 * PostgreSQL through its own tools. The origin's server is reached through an SSH tunnel on the
 * master connection, so the target's (newer) pg_dump does the dump and the password only ever
 * sits in the environment of the local child. The target's server is administered as the
 * `postgres` OS user (peer authentication), with SQL on stdin.
 */
import { createServer } from "node:net";
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

/** Run a query on the origin through the tunnel; rows as arrays of fields (unaligned, tab-separated). */
export async function queryOrigin(
  db: OriginDb,
  database: string,
  sql: string,
  signal?: AbortSignal,
): Promise<ProcessResult & { rows: string[][] }> {
  const r = await run(
    "psql",
    [
      "-X",
      "-w",
      "-A",
      "-t",
      "-F",
      "\t",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      db.host,
      "-p",
      String(db.port),
      "-U",
      db.user,
      "-d",
      database,
    ],
    {
      input: sql,
      env: { PGPASSWORD: db.password, PGCONNECT_TIMEOUT: "15" },
      timeoutMs: 120_000,
      ...(signal ? { signal } : {}),
    },
  );
  return {
    ...r,
    rows: r.stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.split("\t")),
  };
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
