/**
 * Steps that stop services and make sure PostgreSQL runs, on either host.
 */
import type { Host } from "../adapters/host.js";
import { failure } from "../adapters/process.js";
import { ensurePostgresScript, stopBlueMindScript } from "../bluemind/services.js";
import { describeServiceState, readServiceState } from "../bluemind/serviceState.js";
import { StepFailed } from "../engine/errors.js";
import type { Step } from "../engine/plan.js";

/**
 * Stop BlueMind and postfix. With `ensurePostgres` (the cold sync), then make sure PostgreSQL runs,
 * in the same round trip: bmctl may stop PostgreSQL on some versions, and the dump needs it.
 */
export function stopServicesStep(host: Host, opts: { ensurePostgres?: boolean } = {}): Step {
  const script = opts.ensurePostgres
    ? `(${stopBlueMindScript}
) && (${ensurePostgresScript}
)`
    : stopBlueMindScript;
  return {
    id: `stop-services:${host.role}`,
    title: `Stop BlueMind and postfix on the ${host.role}${opts.ensurePostgres ? ", make sure PostgreSQL runs" : ""}`,
    host: host.role,
    commands: [
      "bmctl stop",
      "service postfix stop (or systemctl stop postfix)",
      ...(opts.ensurePostgres ? ["service postgresql status || service postgresql start"] : []),
    ],
    async run(ctx) {
      ctx.logCommand(
        host.label,
        `bmctl stop; service postfix stop${opts.ensurePostgres ? "; service postgresql status || start" : ""}`,
      );
      const r = await host.sh(script, { signal: ctx.signal, timeoutMs: 15 * 60_000 });
      if (r.exitCode !== 0)
        throw failure(
          host.label,
          r,
          `stop BlueMind by hand on the ${host.role} (bmctl stop; service postfix stop), then run the command again`,
        );
      // bmctl's exit code does not say whether BlueMind stopped: ask the system.
      const st = await readServiceState(host, ctx.signal);
      if (st.bluemind === "running" || st.postfix === "running")
        throw new StepFailed(
          `stop-services:${host.role}`,
          `on the ${host.role} (${host.label}), after bmctl stop and postfix's stop: ${describeServiceState(st)}`,
          {
            hint: `stop them by hand on the ${host.role} (bmctl stop; service postfix stop; see /var/log/bm/core.log), then run the command again`,
          },
        );
      return {
        summary: `BlueMind and postfix stopped${opts.ensurePostgres ? ", PostgreSQL running" : ""} (${st.bluemindEvidence})`,
      };
    },
  };
}
