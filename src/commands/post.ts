/**
 * `bm-migrate post`: BlueMind's post-migration admin steps, run as the `post` phase
 * (src/phases/postPhase.ts: the phase; src/phases/post.ts: the plan and its steps;
 * src/phases/postSettings.ts: flags to settings; src/bluemind/: the API, mynetworks and the
 * postfix maps). This file declares the flags and parses them into one typed object.
 */
import { Option } from "commander";
import { CORE_TOKEN_FILE, DEFAULT_CORE_URL } from "../bluemind/api.js";
import type { App } from "../engine/app.js";
import { postPhase } from "../phases/postPhase.js";
import type { PostFlags } from "../phases/postSettings.js";

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

/** post's flags as the phase takes them (their values are checked with the journal, when post runs). */
export function parsePostOptions(opts: Record<string, unknown>): PostFlags {
  const flags: PostFlags = {};
  for (const k of FLAGS) if (typeof opts[k] === "string") flags[k] = opts[k];
  return flags;
}

export function postCommand(app: App, flags: PostFlags): Promise<number> {
  return postPhase(app, flags);
}
