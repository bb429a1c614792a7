/**
 * `bm-migrate check`: the preflight alone, its plan (src/check/preflight.ts) run through the
 * runner as phase `check`. Reports every blocker, warning and fact at once; exit 3 while a
 * blocker stands. When SSH to the origin fails, the target's checks are still reported.
 */
import { LocalHost } from "../adapters/host.js";
import type { App } from "../engine/app.js";
import { ExitCode } from "../engine/errors.js";
import { newPassId, runPhase } from "../engine/runner.js";
import {
  preflightPlan,
  preflightResult,
  validateSkips,
  type PreflightOptions,
  type PreflightState,
} from "../check/preflight.js";
import type { PreflightHosts } from "../check/gather.js";
import { blockers } from "../check/findings.js";
import { OriginUnreachable, connect, requireOrigin } from "../phases/connect.js";

/**
 * The preflight's flags (--skip-check, --force-overwrite-target), checked: check, hot-sync,
 * cold-sync and run take them.
 */
export function parsePreflightOptions(opts: Record<string, unknown>): PreflightOptions {
  const given: unknown = opts["skipCheck"];
  const skip = (Array.isArray(given) ? given : given === undefined ? [] : [given]).map((id) =>
    typeof id === "string" ? id : JSON.stringify(id),
  );
  validateSkips(skip);
  return { skip, forceOverwriteTarget: Boolean(opts["forceOverwriteTarget"]) };
}

export type CheckOptions = PreflightOptions;

export async function checkCommand(app: App, opts: CheckOptions): Promise<number> {
  requireOrigin(app);
  let hosts: PreflightHosts;
  try {
    hosts = await connect(app);
  } catch (err) {
    if (!(err instanceof OriginUnreachable)) throw err;
    hosts = {
      target: new LocalHost("target"),
      unreachable: { destination: err.destination, kind: err.kind, sshMessage: err.sshMessage },
    };
  }
  try {
    const state: PreflightState = {};
    await runPhase(app, preflightPlan(app, hosts, opts, state), newPassId(), false, {});
    const result = preflightResult(state);
    const exitCode = blockers(result.findings).length ? ExitCode.blockers : ExitCode.ok;
    if (app.flags.json) {
      const ts = new Date().toISOString();
      for (const f of result.findings)
        process.stdout.write(JSON.stringify({ ts, type: "finding", ...f }) + "\n");
      process.stdout.write(
        JSON.stringify({
          ts,
          type: "check-result",
          blockers: blockers(result.findings).length,
          exitCode,
          durationMs: result.durationMs,
          profile: result.profile?.id,
          report: result.reportPath,
        }) + "\n",
      );
    } else {
      app.print(result.report + (result.reportPath ? `(report kept in ${result.reportPath})\n` : ""));
    }
    return exitCode;
  } finally {
    await hosts.ssh?.close();
  }
}
