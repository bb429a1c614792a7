/**
 * The few errors the tool raises. Each carries the exit code the CLI uses and, where there is one,
 * the next thing the administrator should do. Only the CLI entry point turns them into an exit.
 */

/** Exit codes, set in one place (see the README). */
export const ExitCode = {
  ok: 0,
  stepFailed: 1,
  usage: 2,
  blockers: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class BmError extends Error {
  abstract readonly exitCode: ExitCode;
  /** What to do next, e.g. "fix the network, then run: bm-migrate hot-sync" */
  readonly hint: string | undefined;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

/** Bad flags, a broken configuration file, an unusable path: nothing was done. */
export class ConfigError extends BmError {
  readonly exitCode = ExitCode.usage;
}

/** The preflight found blockers; the findings say which. */
export class PreflightFailed extends BmError {
  readonly exitCode = ExitCode.blockers;
}

/** A step of a phase failed; re-running the same command resumes. */
export class StepFailed extends BmError {
  readonly exitCode = ExitCode.stepFailed;
  constructor(
    readonly stepId: string,
    message: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    super(message, options);
  }
}

/** Another run holds the lock. */
export class AlreadyRunning extends BmError {
  readonly exitCode = ExitCode.stepFailed;
}

/** What a failed process reports (after execa's result): command without secrets, code, stderr tail. */
export class RemoteCommandFailed extends BmError {
  readonly exitCode = ExitCode.stepFailed;
  constructor(
    readonly host: string,
    readonly command: string,
    readonly result: {
      exitCode: number | null;
      signal: NodeJS.Signals | null;
      timedOut: boolean;
      durationMs: number;
      stderrTail: string;
    },
    options?: { hint?: string },
  ) {
    const how = result.timedOut
      ? `timed out after ${Math.round(result.durationMs / 1000)} s`
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with code ${result.exitCode}`;
    const tail = result.stderrTail.trim();
    super(`on ${host}: \`${command}\` ${how}${tail ? `: ${tail}` : ""}`, options);
  }
}

/** The message and hint of any error, for people. */
export function describeError(err: unknown): { message: string; hint?: string; exitCode: ExitCode } {
  if (err instanceof BmError) {
    return { message: err.message, ...(err.hint ? { hint: err.hint } : {}), exitCode: err.exitCode };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { message, exitCode: ExitCode.stepFailed };
}
