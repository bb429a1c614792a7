/**
 * Running programs: the one place (with the other adapters) that spawns processes.
 * A finished process is a result, not an exception: callers decide what a non-zero exit means.
 */
import { spawn, type SpawnOptions } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { RemoteCommandFailed } from "../engine/errors.js";

export interface ProcessResult {
  command: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Text or bytes written to stdin (then closed), or a stream piped to it. */
  input?: string | Buffer | Readable;
  /** Extra environment for the child only (how secrets travel: never in argv). */
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each complete stdout line (progress parsing); stdout is then not kept. */
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Send stdout to this stream instead of keeping it (dumps). */
  stdoutTo?: Writable;
  /** Keep at most this many bytes of stdout (default 16 MiB). */
  maxStdout?: number;
  /**
   * How stdout is decoded (default utf8). File names are bytes, not always UTF-8: output that
   * carries them is read as `latin1`, one character per byte, so that each name survives byte for
   * byte (and goes back with Buffer.from(name, "latin1")); `displayBytes` shows such a name.
   */
  stdoutEncoding?: "utf8" | "latin1";
  /** Called once the child is spawned (e.g. to record its pid). */
  onSpawn?: (pid: number | undefined) => void;
}

const STDERR_KEEP = 64 * 1024;

/**
 * Told of every child started and ended, so that a later run can stop the children a killed run
 * left behind (a `kill -9` of the tool does not stop its rsync or psql).
 */
export interface ChildObserver {
  started(pid: number, command: string): void;
  ended(pid: number): void;
}
let observer: ChildObserver | undefined;
export function observeChildren(o: ChildObserver | undefined): void {
  observer = o;
}

/** How a command is written in logs: arguments quoted as a shell would need them. */
export function displayCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(shellQuote).join(" ");
}

/** Quote one word for a POSIX shell. */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<ProcessResult> {
  const started = Date.now();
  const command = displayCommand(cmd, args);
  return new Promise((resolve) => {
    const spawnOpts: SpawnOptions = {
      stdio: ["pipe", "pipe", "pipe"],
      // Its own process group: stopping it stops its pipeline too (bash | pg_dump | psql).
      detached: true,
      env: { ...process.env, ...opts.env },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    };
    const child = spawn(cmd, [...args], spawnOpts);
    opts.onSpawn?.(child.pid);
    if (child.pid) observer?.started(child.pid, cmd);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const maxStdout = opts.maxStdout ?? 16 * 1024 * 1024;
    let outBuf = "";
    let errBuf = "";
    const splitLines = (buf: string, chunk: string, each: (l: string) => void): string => {
      const all = buf + chunk;
      const parts = all.split(/\r|\n/);
      const rest = parts.pop() ?? "";
      for (const p of parts) if (p !== "") each(p);
      return rest;
    };
    if (opts.stdoutTo) {
      child.stdout!.pipe(opts.stdoutTo, { end: false });
    } else {
      child.stdout!.setEncoding(opts.stdoutEncoding ?? "utf8");
      child.stdout!.on("data", (chunk: string) => {
        if (opts.onStdoutLine) outBuf = splitLines(outBuf, chunk, opts.onStdoutLine);
        else if (stdout.length < maxStdout) stdout += chunk;
      });
    }
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      stderr += chunk;
      if (stderr.length > STDERR_KEEP * 2) stderr = stderr.slice(-STDERR_KEEP);
      if (opts.onStderrLine) errBuf = splitLines(errBuf, chunk, opts.onStderrLine);
    });
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        child.kill(sig);
      }
    };
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup("SIGTERM");
          setTimeout(() => killGroup("SIGKILL"), 3000).unref();
        }, opts.timeoutMs)
      : undefined;
    const onAbort = (): void => {
      killGroup("SIGTERM");
      setTimeout(() => killGroup("SIGKILL"), 5000).unref();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdin!.on("error", () => {
      /* the child may exit before reading all of its input; its exit code tells */
    });
    if (typeof opts.input === "string" || Buffer.isBuffer(opts.input)) child.stdin!.end(opts.input);
    else if (opts.input) opts.input.pipe(child.stdin!);
    else child.stdin!.end();
    child.on("error", (err) => {
      stderr += `${err.message}\n`;
    });
    child.on("close", (exitCode, signal) => {
      if (child.pid) observer?.ended(child.pid);
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (opts.onStdoutLine && outBuf) opts.onStdoutLine(outBuf);
      if (opts.onStderrLine && errBuf) opts.onStderrLine(errBuf);
      resolve({
        command,
        exitCode: exitCode ?? (signal ? null : 127),
        signal,
        timedOut,
        durationMs: Date.now() - started,
        stdout,
        stderr,
      });
    });
  });
}

/** The last lines of stderr, for messages. */
export function stderrTail(stderr: string, lines = 5): string {
  return stderr.trim().split("\n").slice(-lines).join("\n");
}

/** Turn a failed result into the error that names host and command. */
export function failure(host: string, r: ProcessResult, hint?: string): RemoteCommandFailed {
  return new RemoteCommandFailed(
    host,
    r.command,
    {
      exitCode: r.exitCode,
      signal: r.signal,
      timedOut: r.timedOut,
      durationMs: r.durationMs,
      stderrTail: stderrTail(r.stderr),
    },
    hint === undefined ? undefined : { hint },
  );
}
