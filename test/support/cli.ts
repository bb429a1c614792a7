/**
 * How tests run bm-migrate. Unit tests run the CLI from the sources (node --import tsx
 * src/cli/main.ts), so they need no `npm run build`; the lab and the benchmark run the built
 * binary, bin/bm-migrate, inside the lab's hosts, which see the repository at the same path.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root, without a trailing slash. */
export const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** The built binary (it runs dist/): what the lab's hosts and the benchmark run. */
export const BIN = join(REPO, "bin", "bm-migrate");

/** The CLI's entry point in the sources; importing it runs main() on process.argv. */
export const MAIN = join(REPO, "src", "cli", "main.ts");

/** tsx's loader by absolute URL, so the CLI starts from any working directory. */
const TSX = import.meta.resolve("tsx");

/** The program and arguments that run the CLI from the sources with `args`. */
export function cliArgv(args: readonly string[]): [string, string[]] {
  return [process.execPath, ["--import", TSX, MAIN, ...args]];
}

/** The same as one shell command line (for `script -c`); the arguments must need no quoting. */
export function cliShellCommand(args: readonly string[]): string {
  const [node, argv] = cliArgv(args);
  return [node, ...argv].join(" ");
}

/** Options of a CLI run. */
export interface CliOptions {
  /** Working directory (default: the test's own). */
  cwd?: string;
  /** Variables added to the test's environment (NO_COLOR=1 is always set). */
  env?: Record<string, string>;
  /** Given on stdin (default: nothing, stdin closed). */
  input?: string;
  /** Killed (SIGTERM) after this long. */
  timeoutMs?: number;
}

/** What a CLI run gave back. */
export interface CliResult {
  /** Exit code, null when killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

function environment(opts: CliOptions): NodeJS.ProcessEnv {
  return { ...process.env, NO_COLOR: "1", ...opts.env };
}

/** Run the CLI from the sources and wait for it (blocks the event loop: no in-process servers). */
export function runCli(args: readonly string[], opts: CliOptions = {}): CliResult {
  const [node, argv] = cliArgv(args);
  const r = spawnSync(node, argv, {
    encoding: "utf8",
    env: environment(opts),
    input: opts.input ?? "",
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run the CLI from the sources without blocking: for tests that serve it from this process. */
export function runCliAsync(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const [node, argv] = cliArgv(args);
  return new Promise((done, fail) => {
    const child = spawn(node, argv, {
      env: environment(opts),
      stdio: ["pipe", "pipe", "pipe"],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

/** What a run from a new scratch working directory gave back, in the short names tests use. */
export interface ScratchResult {
  code: number | null;
  out: string;
  err: string;
}

/** Run the CLI from the sources in a new scratch working directory (nothing on stdin). */
export function cli(...args: string[]): ScratchResult {
  const r = runCli(args, { cwd: mkdtempSync(join(tmpdir(), "bm-cli-")) });
  return { code: r.code, out: r.stdout, err: r.stderr };
}
