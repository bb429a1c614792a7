/**
 * The SSH connection to the origin: one OpenSSH master per run (ControlMaster), reused by every
 * remote command, by rsync (-e) and by the database tunnel. Root's own ~/.ssh/config and
 * known_hosts apply; host keys are always verified (StrictHostKeyChecking=yes), never accepted.
 */
import { mkdirSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { SshTarget } from "../engine/destination.js";
import { run, type ProcessResult, type RunOptions } from "./process.js";

/** Why a connection failed, in the terms an administrator acts on. */
export type SshFailureKind =
  | "name-not-resolved"
  | "connection-refused"
  | "timed-out"
  | "host-key-unknown"
  | "host-key-changed"
  | "auth-refused"
  | "other";

export function classifySshFailure(stderr: string): SshFailureKind {
  if (
    /Could not resolve hostname|Name or service not known|Temporary failure in name resolution/i.test(stderr)
  )
    return "name-not-resolved";
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr))
    return "host-key-changed";
  if (/No (?:ED25519|RSA|ECDSA|[A-Z0-9-]+ )?host key is known|Host key verification failed/i.test(stderr))
    return "host-key-unknown";
  if (/Connection refused/i.test(stderr)) return "connection-refused";
  if (/timed out|Connection timed out|No route to host|Network is unreachable/i.test(stderr))
    return "timed-out";
  if (/Permission denied|Too many authentication failures/i.test(stderr)) return "auth-refused";
  return "other";
}

export const sshFailureAdvice: Record<SshFailureKind, string> = {
  "name-not-resolved":
    "the origin's name does not resolve on the target: fix DNS or /etc/hosts, or give its IP address",
  "connection-refused": "nothing listens for SSH on the origin: start sshd there, or give the right port",
  "timed-out": "the origin does not answer: check the network, firewalls and the address",
  "host-key-unknown":
    "the origin's host key is not in root's known_hosts on the target: check its fingerprint on the origin (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and add it (ssh-keyscan ORIGIN >> ~/.ssh/known_hosts after checking)",
  "host-key-changed":
    "the origin's host key differs from the one in root's known_hosts: find out why before going on; if expected, remove the old key with ssh-keygen -R ORIGIN",
  "auth-refused":
    "the origin refused root's key: add the target's /root/.ssh/id_*.pub to the origin's /root/.ssh/authorized_keys and allow root login by key (PermitRootLogin prohibit-password)",
  other: "see the SSH message above",
};

export interface SshOptions {
  /** Directory for the control socket (short path: sockets are limited to ~100 bytes). */
  socketDir?: string;
  connectTimeoutSec?: number;
  /** A lost connection is noticed after interval*count seconds. */
  aliveIntervalSec?: number;
  aliveCountMax?: number;
}

export class SshConnection {
  readonly destination: string;
  readonly controlPath: string;
  private readonly baseOpts: string[];
  private opened = false;

  constructor(
    readonly target: SshTarget,
    opts: SshOptions = {},
  ) {
    this.destination = `${target.user}@${target.host}`;
    const dir = opts.socketDir ?? (existsSync("/run") ? "/run/bm-migrate" : "/tmp");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.controlPath = join(dir, `ssh-${process.pid}-${target.host.slice(0, 40)}.sock`);
    this.baseOpts = [
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `ConnectTimeout=${opts.connectTimeoutSec ?? 10}`,
      "-o",
      `ServerAliveInterval=${opts.aliveIntervalSec ?? 5}`,
      "-o",
      `ServerAliveCountMax=${opts.aliveCountMax ?? 3}`,
      "-o",
      `ControlPath=${this.controlPath}`,
      ...(target.port ? ["-p", String(target.port)] : []),
    ];
  }

  /** ssh options that reuse the master, for rsync's -e and for tunnels. */
  sshArgs(): string[] {
    return [...this.baseOpts];
  }

  /** The remote shell command for rsync -e. */
  rsyncShell(): string {
    return ["ssh", ...this.baseOpts].join(" ");
  }

  /** Open the master connection. Resolves with the failed result when it cannot. */
  async open(): Promise<ProcessResult | undefined> {
    if (this.opened) return undefined;
    // -f: background once authenticated; ControlPersist: the master exits by itself 60 s after the
    // last use, so a run killed with -9 leaves no connection behind for long.
    const r = await run(
      "ssh",
      [...this.baseOpts, "-o", "ControlMaster=yes", "-o", "ControlPersist=60", "-N", "-f", this.destination],
      { timeoutMs: 60_000 },
    );
    if (r.exitCode !== 0) return r;
    this.opened = true;
    return undefined;
  }

  /** Run a command line on the origin (already quoted for its shell). */
  exec(commandLine: string, opts?: RunOptions): Promise<ProcessResult> {
    return run("ssh", [...this.baseOpts, this.destination, "--", commandLine], opts);
  }

  /** Forward a local TCP port to host:port as seen from the origin, through the master. */
  async forward(localPort: number, remoteHost: string, remotePort: number): Promise<ProcessResult> {
    return run("ssh", [
      ...this.baseOpts,
      "-O",
      "forward",
      "-L",
      `127.0.0.1:${localPort}:${remoteHost}:${remotePort}`,
      this.destination,
    ]);
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    await run("ssh", [...this.baseOpts, "-O", "exit", this.destination], { timeoutMs: 10_000 });
    rmSync(this.controlPath, { force: true });
  }
}
