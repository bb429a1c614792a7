/**
 * The post phase as a command runs it: the settings resolved from the flags and the journal, the
 * lock, the core's client, the plan (src/phases/post.ts) through the runner, and the summary.
 * `bm-migrate post` and `run` call it.
 */
import { LocalHost } from "../adapters/host.js";
import { JsonClient } from "../adapters/http.js";
import { gatherFacts } from "../bluemind/facts.js";
import { profileFor } from "../bluemind/profiles.js";
import type { App } from "../engine/app.js";
import { ExitCode } from "../engine/errors.js";
import { newPassId, runPhase } from "../engine/runner.js";
import { dropReplacedDatabases, replacedName } from "./databaseSteps.js";
import { closeSession, postPlan, type PostSession, type PostSettings } from "./post.js";
import { readCredentials, resolvePostSettings, type PostFlags } from "./postSettings.js";

export async function postPhase(app: App, flags: PostFlags): Promise<number> {
  const target = new LocalHost("target");
  const previous = app.journal.records();
  const settings = await resolvePostSettings(flags, {
    records: previous,
    ...(app.settings.origin ? { originHost: app.settings.origin.host } : {}),
    ...(app.settings.profile ? { profile: app.settings.profile } : {}),
    localFacts: () => gatherFacts(target, app.signal),
  });
  const credentials = readCredentials(settings.auth);

  app.lock.acquire("post");
  const client = new JsonClient(settings.apiUrl, {
    timeoutMs: 60_000,
    onRequest: (method, url) => app.logCommand("target", `${method} ${url}`),
  });
  const session: PostSession = { openedSession: false };
  try {
    const plan = postPlan(
      settings,
      credentials,
      {
        client,
        target,
        dropReplacedDatabases: (signal) => dropReplaced(app, settings, signal),
      },
      session,
    );
    const outcome = await runPhase(app, plan, newPassId(), false, {
      apiUrl: settings.apiUrl,
      oldIp: settings.oldIp,
      newEntries: settings.newEntries,
      takeover: settings.takeover,
    });
    const lines = [
      `BlueMind post-migration steps on ${settings.apiUrl} (BlueMind ${session.version ?? "version unknown"}, from ${session.versionSource ?? settings.sources.bmVersion}):`,
      ...Object.entries(outcome.results).map(([id, r]) => `  ${id.padEnd(12)} ${r.summary}`),
      settings.takeover
        ? `  addresses    address takeover: the server kept ${settings.oldIp} (${settings.sources.oldIp})`
        : `  addresses    old ${settings.oldIp} (${settings.sources.oldIp}) -> ${settings.newEntries.join(", ")} (${settings.sources.newIp})`,
      "Done. Next: bm-migrate report",
    ];
    app.print(lines.join("\n"));
    return ExitCode.ok;
  } finally {
    await closeSession(client, session);
    app.lock.release();
  }
}

/** Housekeeping: a target whose PostgreSQL cannot be reached keeps them, and says how to drop them. */
async function dropReplaced(app: App, s: PostSettings, signal: AbortSignal): Promise<{ summary: string }> {
  const dbs = profileFor(s.bmVersion ?? "")?.databases ?? ["bj", "bj-data"];
  try {
    return await dropReplacedDatabases(dbs, signal);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    const later = dbs.map((d) => `dropdb --if-exists "${replacedName(d)}"`).join("; ");
    app.events.emit({
      type: "warning",
      step: "cleanup",
      message: `the replaced databases were not dropped (${why}); later, as postgres: ${later}`,
    });
    return { summary: `not done (${why}): drop them later (${later})` };
  }
}
