/**
 * `bm-migrate post`: BlueMind's post-migration admin steps, run as the `post` phase
 * (src/phases/post.ts: the plan and its steps; src/phases/postSettings.ts: flags to settings;
 * src/bluemind/: the API, mynetworks and the postfix maps). This file is the CLI handler only.
 */
import { Option } from "commander";
import { LocalHost } from "../adapters/host.js";
import { JsonClient } from "../adapters/http.js";
import { CORE_TOKEN_FILE, DEFAULT_CORE_URL } from "../bluemind/api.js";
import { gatherFacts } from "../bluemind/facts.js";
import { profileFor } from "../bluemind/profiles.js";
import { ExitCode } from "../engine/errors.js";
import { newPassId, runPhase } from "../engine/runner.js";
import { dropReplacedDatabases, replacedName } from "../phases/databaseSteps.js";
import { closeSession, postPlan, type PostSession, type PostSettings } from "../phases/post.js";
import { readCredentials, resolvePostSettings, type PostFlags } from "../phases/postSettings.js";
import type { App } from "../engine/app.js";

export function postOptions(): Option[] {
  return [
    new Option("--api-url <url>", `the BlueMind core's URL (default ${DEFAULT_CORE_URL})`),
    new Option("--token-file <file>", `admin0 key file (default ${CORE_TOKEN_FILE})`),
    new Option("--password-file <file>", "log in as admin0 with the password in this file (- reads stdin)"),
    new Option("--old-ip <ip>", "the origin's old address in mynetworks (default: from the swap's journal)"),
    new Option(
      "--new-ip <ip|cidr list>",
      "what replaces it (default: from the swap's journal; none after an address takeover)",
    ),
    new Option(
      "--bm-version <version>",
      "BlueMind version, chooses the firewall endpoint (default: the core's)",
    ),
    new Option("--task-timeout <seconds>", "how long to wait for each BlueMind task (default 900)"),
    new Option(
      "--maps-timeout <seconds>",
      "how long to wait for the postfix maps to be rebuilt (default 60)",
    ),
    new Option("--task-poll-ms <ms>").hideHelp(),
    new Option("--postfix-dir <dir>").hideHelp(),
  ];
}

const FLAGS = [
  "apiUrl",
  "tokenFile",
  "passwordFile",
  "oldIp",
  "newIp",
  "bmVersion",
  "taskTimeout",
  "mapsTimeout",
  "taskPollMs",
  "postfixDir",
] as const;

export async function postCommand(app: App, opts: Record<string, unknown>): Promise<number> {
  const flags: PostFlags = {};
  for (const k of FLAGS) if (typeof opts[k] === "string") flags[k] = opts[k];
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
