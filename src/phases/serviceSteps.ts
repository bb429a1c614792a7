/**
 * Steps that stop services and make sure PostgreSQL runs, on either host.
 */
import type { Host } from "../adapters/host.js";
import { failure } from "../adapters/process.js";
import { ensurePostgresScript, stopBlueMindScript } from "../bluemind/services.js";
import type { Step } from "../engine/plan.js";

export function stopServicesStep(host: Host): Step {
  return {
    id: `stop-services:${host.role}`,
    title: `Stop BlueMind and postfix on the ${host.role}`,
    host: host.role,
    commands: ["bmctl stop", "service postfix stop (or systemctl stop postfix)"],
    async run(ctx) {
      ctx.logCommand(host.label, "bmctl stop; service postfix stop");
      const r = await host.sh(stopBlueMindScript, { signal: ctx.signal, timeoutMs: 15 * 60_000 });
      if (r.exitCode !== 0)
        throw failure(
          host.label,
          r,
          `stop BlueMind by hand on the ${host.role} (bmctl stop; service postfix stop), then run the command again`,
        );
      return { summary: "BlueMind and postfix stopped" };
    },
  };
}

export function ensurePostgresStep(host: Host): Step {
  return {
    id: `postgres-running:${host.role}`,
    title: `Make sure PostgreSQL runs on the ${host.role}`,
    host: host.role,
    commands: ["service postgresql status || service postgresql start"],
    async run(ctx) {
      ctx.logCommand(host.label, "service postgresql status || service postgresql start");
      const r = await host.sh(ensurePostgresScript, { signal: ctx.signal, timeoutMs: 120_000 });
      if (r.exitCode !== 0)
        throw failure(
          host.label,
          r,
          `start PostgreSQL on the ${host.role} (service postgresql start), then run the command again`,
        );
      return { summary: "PostgreSQL is running" };
    },
  };
}
