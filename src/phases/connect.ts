/**
 * Opening the way to the origin: the SSH master connection, with failures explained in the
 * administrator's terms (name, refused, timeout, host key unknown or changed, key refused).
 */
import { LocalHost, RemoteHost, type Host } from "../adapters/host.js";
import { SshConnection, classifySshFailure, sshFailureAdvice, type SshFailureKind } from "../adapters/ssh.js";
import { stderrTail } from "../adapters/process.js";
import { BmError, ConfigError, ExitCode } from "../engine/errors.js";
import type { App } from "../engine/app.js";

export interface Hosts {
  origin: Host;
  target: Host;
  ssh: SshConnection;
}

/** The origin could not be reached; `kind` says why. */
export class OriginUnreachable extends BmError {
  readonly exitCode = ExitCode.stepFailed;
  constructor(
    readonly destination: string,
    readonly kind: SshFailureKind,
    readonly sshMessage: string,
  ) {
    super(`cannot connect to the origin ${destination} (${kind}): ${sshMessage}`, {
      hint: `${sshFailureAdvice[kind].replace(/ORIGIN/g, destination.split("@").pop() ?? destination)}; then run the command again`,
    });
  }
}

export function requireOrigin(app: App): NonNullable<App["settings"]["origin"]> {
  const o = app.settings.origin;
  if (!o)
    throw new ConfigError("no origin given", {
      hint: "name it with --origin [user@]host or 'origin = ...' in the configuration file",
    });
  return o;
}

/** Open the master connection to the origin; the caller closes `ssh`. */
export async function connect(app: App): Promise<Hosts> {
  const origin = requireOrigin(app);
  const ssh = new SshConnection(origin);
  const failed = await ssh.open();
  if (failed) {
    throw new OriginUnreachable(
      ssh.destination,
      classifySshFailure(failed.stderr),
      stderrTail(failed.stderr, 3),
    );
  }
  app.logCommand("target", `ssh -M ${ssh.destination} (master connection)`);
  return { origin: new RemoteHost("origin", ssh), target: new LocalHost("target"), ssh };
}
