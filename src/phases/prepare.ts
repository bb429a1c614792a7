/**
 * Before any phase: one run at a time (the lock), the connection to the origin, both hosts' facts
 * read in parallel, the profile chosen from the origin's BlueMind version.
 */
import { gatherFacts, type HostFacts } from "../bluemind/facts.js";
import { profileFor, PROFILES } from "../bluemind/profiles.js";
import type { App } from "../engine/app.js";
import { connect } from "./connect.js";
import { PreflightFailed, StepFailed } from "../engine/errors.js";
import type { MigrationContext } from "./context.js";
import { openTunnel, type OriginDb, type Tunnel } from "../adapters/postgres.js";
import { stderrTail } from "../adapters/process.js";
import { assertNoBlockers, runPreflight, validateSkips, type PreflightOptions } from "../check/preflight.js";
import { blockers } from "../check/findings.js";
import { formatDuration } from "../engine/format.js";

export interface PrepareOptions {
  lock: boolean;
  /** Run the preflight and refuse to go on while a blocker stands. */
  preflight?: PreflightOptions;
}

export async function prepareMigration(app: App, opts: PrepareOptions): Promise<MigrationContext> {
  if (opts.preflight) validateSkips(opts.preflight.skip);
  if (opts.lock) {
    app.lock.acquire(`bm-migrate ${app.command}`);
    for (const c of app.lock.reaped)
      app.events.emit({
        type: "warning",
        message: `stopped ${c.command} (pid ${c.pid}) left running by an earlier run that was killed`,
      });
  }
  try {
    const hosts = await connect(app);
    try {
      if (opts.preflight) {
        const pre = await runPreflight(app, hosts, opts.preflight);
        const b = blockers(pre.findings);
        app.events.emit({
          type: "info",
          message: `Preflight: ${b.length} blocker(s), ${pre.findings.filter((f) => f.severity === "warning").length} warning(s) in ${formatDuration(pre.durationMs)}${pre.reportPath ? ` (report: ${pre.reportPath})` : ""}`,
        });
        for (const f of pre.findings.filter((x) => x.severity === "warning"))
          app.events.emit({ type: "warning", message: `[${f.id}] ${f.title}` });
        if (b.length) app.print(pre.report);
        assertNoBlockers(pre, app.command);
      }
      const [o, t] = await Promise.all([
        gatherFacts(hosts.origin, app.signal),
        gatherFacts(hosts.target, app.signal),
      ]);
      if (!o.facts)
        throw new StepFailed("facts", `cannot read facts on the origin ${hosts.ssh.destination}: ${o.error}`);
      if (!t.facts) throw new StepFailed("facts", `cannot read facts on the target: ${t.error}`);
      const profile = app.settings.profile
        ? PROFILES[app.settings.profile]
        : profileFor(o.facts.bmVersion ?? "");
      if (!profile) {
        throw new PreflightFailed(
          `no migration profile for the origin's BlueMind version '${o.facts.bmVersion ?? "not installed"}' (${hosts.ssh.destination})`,
          {
            hint: "check that BlueMind (bm-core) is installed on the origin; bm-migrate check tells more; --profile forces one",
          },
        );
      }
      return {
        ...hosts,
        originFacts: o.facts,
        targetFacts: t.facts,
        profile,
        settings: app.settings,
        journal: app.journal,
      };
    } catch (err) {
      await hosts.ssh.close();
      throw err;
    }
  } catch (err) {
    if (opts.lock) app.lock.release();
    throw err;
  }
}

export async function finishMigration(
  app: App,
  mc: MigrationContext,
  opts: { lock: boolean },
): Promise<void> {
  await mc.ssh.close();
  if (opts.lock) app.lock.release();
}

/** The origin's database credentials, from its bm.ini (BlueMind's defaults when absent). */
export function originDbCredentials(f: HostFacts): { user: string; password: string } {
  return { user: f.bmIni?.user || "bj", password: f.bmIni?.password || "bj" };
}

/**
 * The origin's PostgreSQL as the target sees it: a tunnel on the master connection, opened on
 * first use and closed with `close()`.
 */
export function originDatabase(mc: MigrationContext): {
  get: () => OriginDb;
  open: () => Promise<void>;
  close: () => Promise<void>;
} {
  let tunnel: Tunnel | undefined;
  const creds = originDbCredentials(mc.originFacts);
  return {
    get() {
      if (!tunnel) throw new StepFailed("tunnel", "no database tunnel to the origin");
      return { host: "127.0.0.1", port: tunnel.port, ...creds };
    },
    async open() {
      const t = await openTunnel(mc.ssh);
      if (!("port" in t)) {
        throw new StepFailed(
          "tunnel",
          `cannot forward a port to the origin's PostgreSQL through SSH (${mc.ssh.destination}): ${stderrTail(t.stderr)}`,
          {
            hint: "allow TCP forwarding for root in the origin's sshd (AllowTcpForwarding), then run the command again",
          },
        );
      }
      tunnel = t;
    },
    async close() {
      await tunnel?.close();
      tunnel = undefined;
    },
  };
}
