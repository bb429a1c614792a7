/**
 * A host the tool acts on: the target (this machine, commands run directly) or the origin (every
 * command through the one multiplexed SSH connection). Both take argv arrays; quoting for the
 * remote shell happens here and nowhere else.
 */
import { run, shellQuote, type ProcessResult, type RunOptions } from "./process.js";
import type { SshConnection } from "./ssh.js";
import type { Role } from "../engine/plan.js";

export interface Host {
  readonly role: Role;
  /** For messages: "origin root@bm-origin" or "target (this machine)". */
  readonly label: string;
  /** Run a program with arguments on this host. */
  run(argv: readonly string[], opts?: RunOptions): Promise<ProcessResult>;
  /** Run a bash script on this host (no secrets in it: pass those on stdin). */
  sh(script: string, opts?: RunOptions): Promise<ProcessResult>;
}

export class LocalHost implements Host {
  readonly label: string;
  constructor(
    readonly role: Role = "target",
    label?: string,
  ) {
    this.label = label ?? `${role} (this machine)`;
  }
  run(argv: readonly string[], opts?: RunOptions): Promise<ProcessResult> {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error("run: empty command");
    return run(cmd, args, opts);
  }
  sh(script: string, opts?: RunOptions): Promise<ProcessResult> {
    return run("bash", ["-c", script], opts);
  }
}

export class RemoteHost implements Host {
  readonly label: string;
  constructor(
    readonly role: Role,
    private readonly ssh: SshConnection,
  ) {
    this.label = `${role} ${ssh.destination}`;
  }
  run(argv: readonly string[], opts?: RunOptions): Promise<ProcessResult> {
    return this.ssh.exec(argv.map(shellQuote).join(" "), opts);
  }
  sh(script: string, opts?: RunOptions): Promise<ProcessResult> {
    return this.ssh.exec(`bash -c ${shellQuote(script)}`, opts);
  }
}
