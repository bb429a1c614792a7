/**
 * The lab from TypeScript (tests, benchmarks): bring a two-host lab up, run commands inside either
 * host, run bin/bm-migrate on the target as an administrator would, take it down.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, REPO } from "../test/support/cli.js";

export { REPO };
const LAB_SH = join(REPO, "lab", "lab.sh");

export type Role = "origin" | "target";

export interface LabUpOptions {
  scale?: number;
  seed?: number;
  version?: string;
  targetVersion?: string;
  subscription?: boolean;
  data?: boolean;
  /** The origin's Debian release (bullseye, bookworm, trixie): its own userland (lab/rootfs.sh). */
  originRelease?: string;
  /** The target's Debian release. */
  targetRelease?: string;
  /** inotify-tools removed from the origin. */
  originWithoutInotify?: boolean;
}

export interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface LabEnv {
  LAB_ORIGIN_IP: string;
  LAB_TARGET_IP: string;
  LAB_LAN_IP: string;
  LAB_ORIGIN_NS: string;
  LAB_TARGET_NS: string;
  LAB_LAN_NS: string;
  LAB_STATE: string;
  [k: string]: string;
}

export class Lab {
  env!: LabEnv;
  constructor(readonly name: string) {}

  /**
   * Bring a lab up. `BM_LAB_PREFIX` (at most 3 characters) is put before the name, so that several
   * checkouts can run their lab tests on one machine at once without sharing a lab.
   */
  static up(base: string, opts: LabUpOptions = {}): Lab {
    const name = `${process.env["BM_LAB_PREFIX"] ?? ""}${base}`;
    const lab = new Lab(name);
    const args = [
      "up",
      "--name",
      name,
      "--scale",
      String(opts.scale ?? 1),
      "--seed",
      String(opts.seed ?? 42),
    ];
    if (opts.version) args.push("--version", opts.version);
    if (opts.targetVersion) args.push("--target-version", opts.targetVersion);
    if (opts.subscription === false) args.push("--no-subscription");
    if (opts.data === false) args.push("--no-data");
    if (opts.originRelease) args.push("--origin-release", opts.originRelease);
    if (opts.targetRelease) args.push("--target-release", opts.targetRelease);
    if (opts.originWithoutInotify) args.push("--origin-without-inotify");
    const r = spawnSync("bash", [LAB_SH, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`lab up ${name} failed:\n${r.stderr}\n${r.stdout}`);
    lab.loadEnv();
    return lab;
  }

  loadEnv(): void {
    const text = spawnSync("bash", [LAB_SH, "env", "--name", this.name], { encoding: "utf8" }).stdout;
    const env: Record<string, string> = {};
    for (const line of text.split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m) env[m[1]!] = m[2]!;
    }
    this.env = env as LabEnv;
  }

  down(): void {
    spawnSync("bash", [LAB_SH, "down", "--name", this.name], { encoding: "utf8" });
  }

  pid(role: Role): string {
    return readFileSync(join(this.env.LAB_STATE, role, "init.pid"), "utf8").trim();
  }

  /** nsenter's arguments that put a command inside a host, as root in /root. */
  private enter(role: Role): string[] {
    return ["-t", this.pid(role), "-m", "-n", "-u", "--", "env", "-C", "/root", "HOME=/root"];
  }

  /** Run argv inside a host (its files, network and hostname), synchronously. */
  exec(
    role: Role,
    argv: string[],
    opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
  ): Exec {
    const r = spawnSync("nsenter", [...this.enter(role), ...envArgs(opts.env), ...argv], {
      encoding: "utf8",
      input: opts.input ?? "",
      maxBuffer: 256 << 20,
      timeout: opts.timeoutMs ?? 600_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Run a bash script inside a host. */
  sh(role: Role, script: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Exec {
    return this.exec(role, ["bash", "-c", script], opts);
  }

  /** Like sh, but throws with the output when the script fails. */
  must(role: Role, script: string): string {
    const r = this.sh(role, script);
    if (r.code !== 0) throw new Error(`on ${role}: ${script}\nexit ${r.code}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Run bin/bm-migrate on the target, as root would. */
  bm(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Exec {
    return this.exec("target", [BIN, ...args], opts);
  }

  /** Start bin/bm-migrate on the target in the background (for kill -9 tests). */
  bmSpawn(args: string[]) {
    return spawn("nsenter", [...this.enter("target"), BIN, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** Start argv inside a host in the background, its stdin a pipe (to answer its prompts). */
  spawn(role: Role, argv: string[], env?: Record<string, string>) {
    return spawn("nsenter", [...this.enter(role), ...envArgs(env), ...argv], {
      stdio: ["pipe", "pipe", "pipe"],
    });
  }

  /** Run a command in the lab's LAN namespace (a client standing on the network). */
  lan(argv: string[]): Exec {
    const r = spawnSync("ip", ["netns", "exec", this.env.LAB_LAN_NS, ...argv], {
      encoding: "utf8",
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
}

function envArgs(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {}).map(([k, v]) => `${k}=${v}`);
}
