/**
 * What every kind of verification shares: psql to each side, and a step's events.
 */
import type { App } from "../engine/app.js";
import { originDbCredentials } from "../phases/prepare.js";
import type { MigrationContext } from "../phases/context.js";
import type { PsqlAccess } from "../database/manifest.js";

/** psql to each side: the origin through the tunnel (password in the child's environment only). */
export function dbAccess(mc: MigrationContext, port: number) {
  const creds = originDbCredentials(mc.originFacts);
  const origin: PsqlAccess = {
    label: mc.origin.label,
    command: ["psql"],
    connection: ["-h", "127.0.0.1", "-p", String(port), "-U", creds.user],
    env: { PGPASSWORD: creds.password },
  };
  const target: PsqlAccess = {
    label: mc.target.label,
    command: ["runuser", "-u", "postgres", "--", "psql"],
    connection: [],
  };
  return { origin, target, creds };
}

/** A step's events around `work`. */
export async function stepEvents<T>(
  app: App,
  step: string,
  title: string,
  work: () => Promise<{ value: T; summary: string }>,
): Promise<T> {
  const t0 = Date.now();
  app.events.emit({ type: "step-started", step, title, host: "both" });
  const { value, summary } = await work();
  app.events.emit({ type: "step-finished", step, title, durationMs: Date.now() - t0, summary });
  return value;
}
