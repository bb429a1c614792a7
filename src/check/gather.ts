/**
 * Collecting the preflight's facts: every probe of one host runs concurrently with the others (the
 * preflight's plan runs both hosts' probes as two steps of one stage, at the same time). On the origin everything is read-only; the database login is tested from
 * the target through the SSH master's tunnel, the way the dump will travel, the password passed to
 * psql in its environment only.
 */
import type { Host } from "../adapters/host.js";
import type { SshConnection, SshFailureKind } from "../adapters/ssh.js";
import { stderrTail } from "../adapters/process.js";
import { gatherFacts, type HostFacts } from "../bluemind/facts.js";
import {
  ACCOUNTS_SCRIPT,
  DB_PROBE_SQL,
  SERVICES_SCRIPT,
  classifyPsqlFailure,
  parseAccounts,
  parseDbProbe,
  parseServices,
  parseStorage,
  storageScript,
  type DbFacts,
  type SideFacts,
} from "./probes.js";

/** Everything the checks look at. */
export interface PreflightFacts {
  /** `root@bm-origin` */
  originDestination: string;
  ssh: { ok: true } | { ok: false; kind: SshFailureKind; message: string };
  origin: SideFacts;
  target: SideFacts;
  /** Origin's clock minus the target's, seconds; `uncertaintySec` is half the round trip. */
  clock?: ClockFacts;
  /** The data directories measured on both sides. */
  dataDirs: string[];
  /** Where dumps are written on the target (its free space is checked too). */
  stateDir: string;
  /** The journal shows syncs already run: the target's data directories are expected to hold data. */
  syncedBefore: boolean;
  /** The journal shows a cold sync step done: the target's databases may hold the origin's. */
  databasesRestoredBefore: boolean;
  /** Milliseconds spent gathering. */
  durationMs: number;
}

export interface ClockFacts {
  offsetSec: number;
  uncertaintySec: number;
  /** The target's clock at the measurement, seconds since the epoch. */
  targetTime: number;
}

/** Hosts for the preflight: the origin may be missing when SSH failed (then `unreachable` says why). */
export interface PreflightHosts {
  target: Host;
  origin?: Host;
  ssh?: SshConnection;
  unreachable?: { destination: string; kind: SshFailureKind; sshMessage: string };
}

export interface GatherOptions {
  originDestination: string;
  dataDirs: string[];
  stateDir: string;
  syncedBefore: boolean;
  databasesRestoredBefore: boolean;
  signal?: AbortSignal;
}

/** What the origin's probes found: its side, and its clock against the target's. */
export interface OriginProbe {
  side: SideFacts;
  clock?: ClockFacts;
}

/**
 * Every probe of the origin (nothing when it could not be reached). The clock is read alone
 * first: in the crowd of the other probes its round trip, hence its uncertainty, would grow.
 */
export async function gatherOrigin(hosts: PreflightHosts, opts: GatherOptions): Promise<OriginProbe> {
  if (!hosts.origin) return { side: { errors: {} } };
  const clock = await measureClock(hosts.origin, opts.signal);
  const side = await gatherSide(hosts.origin, hosts.target, opts, hosts.ssh);
  return { side, ...(clock ? { clock } : {}) };
}

/** Every probe of the target (this server). */
export function gatherTarget(hosts: PreflightHosts, opts: GatherOptions): Promise<SideFacts> {
  return gatherSide(hosts.target, hosts.target, opts);
}

/** The facts the checks look at, from both sides' probes. */
export function preflightFacts(
  hosts: PreflightHosts,
  opts: GatherOptions,
  origin: OriginProbe,
  target: SideFacts,
  durationMs: number,
): PreflightFacts {
  const u = hosts.unreachable;
  return {
    originDestination: opts.originDestination,
    ssh: u ? { ok: false, kind: u.kind, message: u.sshMessage } : { ok: true },
    origin: origin.side,
    target,
    ...(origin.clock ? { clock: origin.clock } : {}),
    dataDirs: opts.dataDirs,
    stateDir: opts.stateDir,
    syncedBefore: opts.syncedBefore,
    databasesRestoredBefore: opts.databasesRestoredBefore,
    durationMs,
  };
}

/** All probes of one host, concurrently. `local` is the target, where psql runs. */
async function gatherSide(
  host: Host,
  local: Host,
  opts: GatherOptions,
  ssh?: SshConnection,
): Promise<SideFacts> {
  const side: SideFacts = { errors: {} };

  const signal = opts.signal ? { signal: opts.signal } : {};
  const isTarget = host.role === "target";
  const withFactsAndDb = async (): Promise<void> => {
    const r = await gatherFacts(host, opts.signal);
    if (!r.facts) {
      side.errors.host = r.error ?? "no facts";
      return;
    }
    side.host = r.facts;
    side.db = await probeDatabases(r.facts, local, isTarget ? undefined : ssh);
  };
  const services = async (): Promise<void> => {
    const r = await host.sh(SERVICES_SCRIPT, { timeoutMs: 20_000, ...signal });
    if (r.exitCode === 0) side.services = parseServices(r.stdout);
    else side.errors.services = stderrTail(r.stderr, 2) || `exit ${r.exitCode}`;
  };
  const storage = async (): Promise<void> => {
    const r = await host.sh(storageScript(opts.dataDirs, isTarget ? [opts.stateDir] : []), {
      timeoutMs: 15 * 60_000,
      ...signal,
    });
    if (r.exitCode === 0) side.storage = parseStorage(r.stdout);
    else side.errors.storage = stderrTail(r.stderr, 2) || `exit ${r.exitCode}`;
  };
  const accounts = async (): Promise<void> => {
    const r = await host.sh(ACCOUNTS_SCRIPT, { timeoutMs: 20_000, ...signal });
    if (r.exitCode === 0) side.accounts = parseAccounts(r.stdout);
    else side.errors.accounts = stderrTail(r.stderr, 2) || `exit ${r.exitCode}`;
  };
  await Promise.all([withFactsAndDb(), services(), storage(), ...(isTarget ? [accounts()] : [])]);
  if (side.db && !side.db.ok && side.db.message) side.errors.db = side.db.message;
  return side;
}

/**
 * Log in as bm.ini's user (default bj) to each BlueMind database and read version, sizes, users
 * and mailboxes. The origin is reached through a port forwarded by the SSH master, as pg_dump will
 * be; the target on its own localhost.
 */
async function probeDatabases(facts: HostFacts, local: Host, ssh?: SshConnection): Promise<DbFacts> {
  const ini = facts.bmIni ?? {};
  const user = ini.user ?? "bj";
  const password = ini.password ?? "bj";
  let port = 5432;
  if (ssh) {
    const forwarded = await forwardFreePort(ssh);
    if (typeof forwarded !== "number") return { ok: false, failure: "tunnel", message: forwarded, sizes: {} };
    port = forwarded;
  }
  const psql = async (db: string) =>
    local.run(
      [
        "psql",
        "-X",
        "-q",
        "-A",
        "-t",
        "-F",
        "|",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        user,
        "-d",
        db,
      ],
      // The password travels in psql's environment only, never in argv or logs.
      { input: DB_PROBE_SQL, env: { PGPASSWORD: password, PGCONNECT_TIMEOUT: "5" }, timeoutMs: 30_000 },
    );
  const first = await psql(ini.db ?? "bj");
  if (first.exitCode !== 0) {
    const msg = stderrTail(first.stderr, 2) || `psql exited with ${first.exitCode}`;
    return { ok: false, failure: classifyPsqlFailure(msg), message: msg, sizes: {} };
  }
  const outputs = [first.stdout];
  if (parseDbProbe(outputs).sizes["bj-data"] !== undefined) {
    const second = await psql("bj-data");
    if (second.exitCode === 0) outputs.push(second.stdout);
  }
  return parseDbProbe(outputs);
}

/** Forward a free local port to the origin's localhost:5432; the port, or why it failed. */
async function forwardFreePort(ssh: SshConnection): Promise<number | string> {
  let last = "";
  for (let attempt = 0; attempt < 6; attempt++) {
    // A port in use makes `ssh -O forward` fail: another random high port is tried then.
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const r = await ssh.forward(port, "localhost", 5432);
    if (r.exitCode === 0) return port;
    last = stderrTail(r.stderr, 2);
  }
  return `the SSH master could not forward a port to the origin's PostgreSQL: ${last}`;
}

/** The origin's clock against this machine's, corrected by half the round trip. */
async function measureClock(origin: Host, signal?: AbortSignal): Promise<ClockFacts | undefined> {
  const t0 = Date.now();
  const r = await origin.run(["date", "+%s.%N"], { timeoutMs: 20_000, ...(signal ? { signal } : {}) });
  const t1 = Date.now();
  const remote = Number(r.stdout.trim());
  if (r.exitCode !== 0 || !Number.isFinite(remote)) return undefined;
  const targetTime = (t0 + t1) / 2000;
  return { offsetSec: remote - targetTime, uncertaintySec: (t1 - t0) / 2000, targetTime };
}
