/**
 * `post`'s settings: flags, the journal and this server's facts to validated settings, every
 * problem reported at once; and the secret that opens the API, read from its file.
 *
 * The old and new addresses come from the swap's journal record: after an address takeover the
 * server kept the origin's address (mynetworks stays as it is); after `--keep-target-ip` the old
 * address is the origin's and the new one the target's. A loopback address is never a server's
 * address: bm.ini's `host` may well be 127.0.0.1, and is only used when nothing else says.
 */
import { readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { CORE_TOKEN_FILE, DEFAULT_CORE_URL } from "../bluemind/api.js";
import type { HostFacts } from "../bluemind/facts.js";
import { isLoopback, normalizeNetwork } from "../bluemind/mynetworks.js";
import { POSTFIX_DIR } from "../bluemind/postfixMaps.js";
import { ConfigError } from "../engine/errors.js";
import type { JournalRecord } from "../engine/journal.js";
import type { AuthSource, Credentials, PostSettings } from "./post.js";
import { isRecord } from "../engine/records.js";

/** The flags `post` takes, as commander gives them. */
export interface PostFlags {
  apiUrl?: string;
  tokenFile?: string;
  passwordFile?: string;
  oldIp?: string;
  newIp?: string;
  bmVersion?: string;
  taskTimeout?: string;
  mapsTimeout?: string;
  taskPollMs?: string;
  postfixDir?: string;
}

/** What validation may read besides the flags. */
export interface PostContext {
  records: JournalRecord[];
  /** The --origin host, when given. */
  originHost?: string;
  /** The --profile forced for the run ("4", "5", "5.2"...): a version when nothing better says. */
  profile?: string;
  /** This server's facts (bm.ini host, bm-core version), read only when a flag does not say. */
  localFacts: () => Promise<{ facts?: HostFacts; error?: string }>;
}

const bare = (v: string): string => v.replace(/\/32$/, "");

/** The last swap's addresses and mode, as `swap` journaled them. */
export function swapFromJournal(
  records: JournalRecord[],
): { originIp: string; targetIp?: string; mode: string } | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (isRecord(r, "swap") && typeof r.originIp === "string" && isIPv4(r.originIp))
      return {
        originIp: r.originIp,
        ...(typeof r.targetIp === "string" && isIPv4(r.targetIp) ? { targetIp: r.targetIp } : {}),
        mode: typeof r.mode === "string" ? r.mode : "takeover",
      };
  }
  return undefined;
}

/** The origin's address as any earlier command journaled it (`originIp`), newest first. */
export function originIpFromJournal(records: JournalRecord[]): string | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const v = records[i]?.["originIp"];
    if (typeof v === "string" && isIPv4(bare(v))) return bare(v);
  }
  return undefined;
}

/** One mynetworks entry: IPv4, IPv4/len, or [IPv6]/len as postfix writes it. */
export function networkEntryProblem(entry: string): string | undefined {
  const [addr, len, extra] = entry.split("/");
  if (extra !== undefined || addr === undefined) return `'${entry}' is not an address or a CIDR`;
  const v6 = /^\[(.+)\]$/.exec(addr)?.[1];
  const max = v6 !== undefined ? 128 : 32;
  if (v6 !== undefined ? !isIPv6(v6) : !isIPv4(addr)) return `'${entry}' is not an address or a CIDR`;
  if (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > max))
    return `'${entry}' has a bad prefix length`;
  if (isLoopback(entry)) return `'${entry}' is a loopback address, never a server's address`;
  return undefined;
}

export async function resolvePostSettings(flags: PostFlags, ctx: PostContext): Promise<PostSettings> {
  const problems: string[] = [];

  let apiUrl = DEFAULT_CORE_URL;
  if (flags.apiUrl !== undefined) {
    try {
      const u = new URL(flags.apiUrl);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http");
      apiUrl = flags.apiUrl.replace(/\/+$/, "");
    } catch {
      problems.push(`--api-url '${flags.apiUrl}' is not an http:// or https:// URL`);
    }
  }

  const auth: AuthSource =
    flags.passwordFile !== undefined
      ? { kind: "password", from: flags.passwordFile }
      : { kind: "token-file", path: flags.tokenFile ?? CORE_TOKEN_FILE };
  if (flags.passwordFile !== undefined && flags.tokenFile !== undefined)
    problems.push("give either --password-file or --token-file, not both");

  const swap = swapFromJournal(ctx.records);
  let facts: HostFacts | undefined;
  let factsError: string | undefined;
  const needFacts = flags.bmVersion === undefined || (flags.newIp === undefined && !swap);
  if (needFacts) {
    const r = await ctx.localFacts();
    facts = r.facts;
    factsError = r.error;
  }

  // The old address.
  let oldIp: string | undefined;
  let oldSource = "--old-ip";
  if (flags.oldIp !== undefined) {
    if (!isIPv4(bare(flags.oldIp)) || isLoopback(flags.oldIp))
      problems.push(`--old-ip '${flags.oldIp}' is not the IPv4 address of a server`);
    else oldIp = bare(flags.oldIp);
  } else if (swap) {
    oldIp = swap.originIp;
    oldSource = "the swap's journal";
  } else {
    oldIp = originIpFromJournal(ctx.records);
    oldSource = "journal";
    if (!oldIp && ctx.originHost && isIPv4(ctx.originHost)) {
      oldIp = ctx.originHost;
      oldSource = "--origin";
    }
    if (!oldIp)
      problems.push(
        "--old-ip is required: the origin's old address is not in the journal (give --old-ip a.b.c.d)",
      );
  }

  // The new address(es); an address takeover keeps the old one.
  let newEntries: string[] = [];
  let newSource = "--new-ip";
  let takeover = false;
  if (flags.newIp !== undefined) {
    newEntries = flags.newIp.split(/[\s,]+/).filter(Boolean);
    if (newEntries.length === 0) problems.push("--new-ip is empty");
    for (const e of newEntries) {
      const p = networkEntryProblem(e);
      if (p) problems.push(`--new-ip: ${p}`);
    }
    takeover = oldIp !== undefined && newEntries.map(normalizeNetwork).includes(normalizeNetwork(oldIp));
    if (takeover && newEntries.length > 1)
      problems.push(
        `--new-ip contains the old address ${oldIp}: after an address takeover mynetworks stays as it is; give only the new address(es)`,
      );
  } else if (swap && oldSource === "the swap's journal") {
    if (swap.mode === "takeover") {
      takeover = true;
      newEntries = [swap.originIp];
      newSource = "the swap's journal (address takeover)";
    } else if (swap.targetIp && !isLoopback(swap.targetIp)) {
      newEntries = [swap.targetIp];
      newSource = "the swap's journal (the target kept its address)";
    }
  }
  if (newEntries.length === 0 && flags.newIp === undefined) {
    const host = facts?.bmIni?.host;
    if (host && isIPv4(host) && !isLoopback(host) && host !== oldIp) {
      newEntries = [host];
      newSource = "bm.ini host";
    } else {
      const why = host
        ? isLoopback(host)
          ? `bm.ini's host is ${host}, a loopback address`
          : `bm.ini's host is ${host}`
        : `this server's address could not be read from /etc/bm/bm.ini${factsError ? ` (${factsError})` : ""}`;
      problems.push(`--new-ip is required: no swap in the journal and ${why}`);
    }
  }

  const bmVersion = flags.bmVersion ?? facts?.bmVersion ?? ctx.profile;
  const versionSource =
    flags.bmVersion !== undefined
      ? "--bm-version"
      : facts?.bmVersion
        ? "bm-core package"
        : ctx.profile
          ? "--profile"
          : "unknown";
  if (flags.bmVersion !== undefined && !/^\d+(\.\d+)*([-.~+][\w.~+-]*)?$/.test(flags.bmVersion))
    problems.push(`--bm-version '${flags.bmVersion}' is not a version like 4.1.56 or 5.2`);

  const taskTimeoutMs = seconds(flags.taskTimeout, "--task-timeout", 900, problems) * 1000;
  const mapsTimeoutMs = seconds(flags.mapsTimeout, "--maps-timeout", 60, problems) * 1000;
  const taskPollMs = flags.taskPollMs === undefined ? 1000 : Number(flags.taskPollMs);
  if (!Number.isInteger(taskPollMs) || taskPollMs < 10)
    problems.push(`--task-poll-ms takes a whole number >= 10`);

  if (problems.length || oldIp === undefined) {
    throw new ConfigError(`invalid settings for post:\n  - ${problems.join("\n  - ")}`, {
      hint: "fix the flags and run: bm-migrate post (bm-migrate post --help)",
    });
  }
  const replaced = ctx.records.some((r) => isRecord(r, "step-done") && r.step.startsWith("database:"));
  return {
    apiUrl,
    auth,
    oldIp,
    newEntries,
    takeover,
    ...(bmVersion ? { bmVersion } : {}),
    versionForced: flags.bmVersion !== undefined,
    sources: { oldIp: oldSource, newIp: newSource, bmVersion: versionSource },
    taskPollMs,
    taskTimeoutMs,
    mapsTimeoutMs,
    postfixDir: flags.postfixDir ?? POSTFIX_DIR,
    dropReplaced: replaced,
  };
}

function seconds(v: string | undefined, name: string, dflt: number, problems: string[]): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1) {
    problems.push(`${name} takes a whole number of seconds, not '${v}'`);
    return dflt;
  }
  return Number(v);
}

/** Read the secret named by the settings. A file's last newline is not part of it. */
export function readCredentials(
  auth: AuthSource,
  readStdin: () => string = () => readFileSync(0, "utf8"),
): Credentials {
  if (auth.kind === "token-file") {
    // The core trims the file too (net.bluemind.config/Token.java).
    const key = readSecretFile(auth.path, "the admin0 key").trim();
    if (!key)
      throw new ConfigError(`${auth.path} is empty`, {
        hint: "log in with --password-file FILE (or - for stdin)",
      });
    return { kind: "key", key, from: auth.path };
  }
  const from = auth.from === "-" ? "stdin" : auth.from;
  const text = auth.from === "-" ? readStdin() : readSecretFile(auth.from, "admin0's password");
  const password = text.replace(/\r?\n$/, "");
  if (!password)
    throw new ConfigError(`no password in ${from}`, { hint: "put admin0's password in the file (one line)" });
  return { kind: "password", password, from };
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "does not exist"
        : code === "EACCES"
          ? "is not readable (run as root)"
          : (err as Error).message;
    throw new ConfigError(`cannot read ${what}: ${path} ${why}`, {
      hint:
        path === CORE_TOKEN_FILE
          ? "run on the BlueMind server as root, or log in with --password-file FILE (or - for stdin)"
          : "give a readable file",
    });
  }
}
