/**
 * `bm-migrate post`: the three admin-console steps of BlueMind's procedure, through the core's
 * REST API: regenerate the firewall rules, run the mail maintenance (postfix maps) and replace
 * the old address in `mynetworks`. Three layers: `runPost` (the work, on validated settings and a
 * client), `resolvePostSettings` (flags, journal and local facts to settings, every problem at
 * once) and `postCommand` (the CLI handler).
 *
 * Idempotent: the two regenerations converge (running them again rebuilds the same rules and
 * maps), and mynetworks is only written when its value would change. Nothing is retried: a
 * failure names the endpoint and the HTTP status and stops; running the command again resumes.
 */
import { readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { Option } from "commander";
import { LocalHost } from "../adapters/host.js";
import { HttpError, JsonClient, describeFailure, type HttpFailure } from "../adapters/http.js";
import {
  ADMIN_LOGIN,
  API_KEY_HEADER,
  CLI_EQUIVALENTS,
  CONFIGURATION_GET,
  CONFIGURATION_SET,
  CORE_TOKEN_FILE,
  DEFAULT_CORE_URL,
  LOGIN,
  LOGIN_ORIGIN,
  LOGOUT,
  MAIL_REPAIR,
  MYNETWORKS_KEY,
  firewallEndpoints,
  isTaskRef,
  isTaskStatus,
  taskEnded,
  taskStatus,
  type Endpoint,
  type LoginResponse,
  type SystemConf,
  type TaskStatus,
} from "../bluemind/api.js";
import { gatherFacts, type HostFacts } from "../bluemind/facts.js";
import { profileFor } from "../bluemind/profiles.js";
import { dropReplacedDatabases as dropReplaced, replacedName } from "../phases/databaseSteps.js";
import { ConfigError, ExitCode, StepFailed } from "../engine/errors.js";
import type { EventSink } from "../engine/events.js";
import type { Journal, JournalRecord } from "../engine/journal.js";
import type { App } from "../cli/app.js";

// ---------------------------------------------------------------------------------------------
// Settings

/** How to become admin0: the key bm-cli uses, or admin0's password. */
export type AuthSource = { kind: "token-file"; path: string } | { kind: "password"; from: string };

/** Validated settings of one `post` run. */
export interface PostSettings {
  /** The core's base URL (no trailing slash). */
  apiUrl: string;
  auth: AuthSource;
  /** The origin's address, as found in mynetworks (bare IPv4). */
  oldIp: string;
  /** What replaces it: addresses or CIDRs. */
  newEntries: string[];
  /** BlueMind version (chooses the firewall endpoint); undefined when unknown. */
  bmVersion?: string;
  /** Where each setting came from, for the summary ("--old-ip", "journal", "bm.ini host"...). */
  sources: { oldIp: string; newIp: string; bmVersion: string };
  taskPollMs: number;
  taskTimeoutMs: number;
}

/** The secret that opens the API: a session key, or the password to get one. Never journaled. */
export type Credentials =
  { kind: "key"; key: string; from: string } | { kind: "password"; password: string; from: string };

// ---------------------------------------------------------------------------------------------
// mynetworks

/** What replacing the old address in mynetworks gives. */
export interface MynetworksPlan {
  before: string;
  after: string;
  changed: boolean;
  /** Why nothing changes, when nothing does. */
  reason?: "already-replaced" | "same-value" | "old-absent";
}

const withoutHostMask = (t: string): string => t.replace(/\/32$/, "");

/**
 * Replace `oldIp` (written `a.b.c.d` or `a.b.c.d/32`) by `replacement` in a mynetworks value.
 * Entries may be separated by commas and/or spaces; the value's own separator is kept. A bare
 * new address takes the old entry's form (`/32` stays `/32`); entries already present are not
 * added twice.
 */
export function replaceInMynetworks(current: string, oldIp: string, replacement: string[]): MynetworksPlan {
  const tokens = current.split(/[\s,]+/).filter(Boolean);
  const sep = current.includes(",") ? (/,\s/.test(current) ? ", " : ",") : " ";
  const old = withoutHostMask(oldIp);
  const isOld = (t: string): boolean => withoutHostMask(t) === old;
  if (!tokens.some(isOld)) {
    const present = new Set(tokens.map(withoutHostMask));
    const allThere = replacement.every((r) => present.has(withoutHostMask(r)));
    return {
      before: current,
      after: current,
      changed: false,
      reason: allThere ? "already-replaced" : "old-absent",
    };
  }
  const out: string[] = [];
  const seen = new Set<string>();
  const push = (t: string): void => {
    const key = withoutHostMask(t);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(t);
  };
  for (const t of tokens) {
    if (!isOld(t)) {
      push(t);
      continue;
    }
    const hostMask = t.endsWith("/32");
    for (const r of replacement) push(hostMask && isIPv4(r) ? `${r}/32` : r);
  }
  const after = out.join(sep);
  return after === current
    ? { before: current, after, changed: false, reason: "same-value" }
    : { before: current, after, changed: true };
}

// ---------------------------------------------------------------------------------------------
// The work

export interface PostDeps {
  client: JsonClient;
  events: EventSink;
  journal: Journal;
  signal: AbortSignal;
  runId: string;
  /** Regenerate the firewall without the API (bm-cli), when neither endpoint exists. */
  firewallByCli?: () => Promise<{ ok: boolean; detail: string }>;
  /** Drop the target's own databases the cold sync replaced (kept until now, see databaseStep). */
  dropReplacedDatabases?: () => Promise<{ summary: string; changed: boolean }>;
}

export interface PostStepOutcome {
  step: PostStepId;
  title: string;
  summary: string;
  changed: boolean;
}

export interface PostOutcome {
  steps: PostStepOutcome[];
  mynetworks: MynetworksPlan;
  /** Something was written that was not already so (mynetworks). */
  changed: boolean;
}

export type PostStepId = "connect" | "firewall" | "mail-repair" | "mynetworks" | "cleanup";

const TITLES: Record<PostStepId, string> = {
  connect: "Log in to the BlueMind core and read the system configuration",
  firewall: "Regenerate the firewall rules",
  "mail-repair": "Mail maintenance (rebuild the postfix maps)",
  mynetworks: "Replace the old address in mynetworks",
  cleanup: "Drop the target's own databases, replaced by the origin's",
};

/** Run the three steps. Throws StepFailed (exit 1) on the first failure. */
export async function runPost(
  settings: PostSettings,
  credentials: Credentials,
  deps: PostDeps,
): Promise<PostOutcome> {
  const { client } = deps;
  let openedSession = false;
  try {
    let plan: MynetworksPlan | undefined;
    const steps: PostStepOutcome[] = [];
    steps.push(
      await runStep(deps, "connect", async () => {
        const key =
          credentials.kind === "key" ? credentials.key : await login(client, credentials, deps.signal);
        openedSession = credentials.kind === "password";
        client.setHeader(API_KEY_HEADER, key);
        // Read first: it proves the key works before anything is written, and it is the "before".
        const conf = await client.send<SystemConf>({ ...CONFIGURATION_GET, signal: deps.signal });
        if (!conf.ok)
          throw apiFailed("connect", "reading the system configuration", conf.failure, credentials);
        const current = conf.body?.values?.[MYNETWORKS_KEY] ?? "";
        plan = replaceInMynetworks(current, settings.oldIp, settings.newEntries);
        const how =
          credentials.kind === "key" ? `key from ${credentials.from}` : `password from ${credentials.from}`;
        return { summary: `admin0 (${how}) on ${client.url}; mynetworks is '${current}'`, changed: false };
      }),
    );
    const mynetworks = plan!;
    steps.push(await runStep(deps, "firewall", () => regenerateFirewall(settings, credentials, deps)));
    steps.push(await runStep(deps, "mail-repair", () => repairMail(settings, credentials, deps)));
    steps.push(
      await runStep(deps, "mynetworks", () => applyMynetworks(settings, credentials, deps, mynetworks)),
    );
    if (deps.dropReplacedDatabases) steps.push(await runStep(deps, "cleanup", deps.dropReplacedDatabases));
    return { steps, mynetworks, changed: steps.some((s) => s.changed && s.step !== "cleanup") };
  } finally {
    if (openedSession) {
      // Close the session we opened; a failure here changes nothing for the migration.
      await client.send({ ...LOGOUT, timeoutMs: 5_000 });
    }
  }
}

async function login(
  client: JsonClient,
  c: Extract<Credentials, { kind: "password" }>,
  signal: AbortSignal,
): Promise<string> {
  client.addSecret(c.password);
  const r = await client.send<LoginResponse>({
    ...LOGIN,
    query: { login: ADMIN_LOGIN, origin: LOGIN_ORIGIN },
    body: c.password,
    signal,
  });
  if (!r.ok) {
    throw new StepFailed("connect", `logging in as ${ADMIN_LOGIN}: ${describeFailure(r.failure)}`, {
      hint: `check that the core answers at ${client.url} (or give --api-url), then run: bm-migrate post`,
    });
  }
  const status = r.body?.status ?? "(none)";
  const authKey = r.body?.authKey;
  if (status !== "Ok" || typeof authKey !== "string" || authKey === "") {
    const msg = r.body?.message ? `: ${client.redact(r.body.message)}` : "";
    throw new StepFailed(
      "connect",
      `login refused for ${ADMIN_LOGIN}: ${LOGIN.method} ${LOGIN.path} answered HTTP ${r.status} with status ${status}${msg}`,
      { hint: `check admin0's password in ${c.from}, or use the key in ${CORE_TOKEN_FILE} (--token-file)` },
    );
  }
  client.addSecret(authKey);
  return authKey;
}

/** Emit, journal and time one step; a failure is journaled, emitted and rethrown as StepFailed. */
async function runStep(
  deps: PostDeps,
  step: PostStepId,
  work: () => Promise<{ summary: string; changed: boolean; data?: Record<string, unknown> }>,
): Promise<PostStepOutcome> {
  const title = TITLES[step];
  const started = Date.now();
  deps.events.emit({ type: "step-started", step, title, host: "target" });
  deps.journal.append({ type: "post-step", run: deps.runId, phase: "post", step, status: "started" });
  try {
    const r = await work();
    const durationMs = Date.now() - started;
    deps.journal.append({
      type: "post-step",
      run: deps.runId,
      phase: "post",
      step,
      status: "done",
      changed: r.changed,
      summary: r.summary,
      durationMs,
      ...(r.data ?? {}),
    });
    deps.events.emit({ type: "step-finished", step, title, durationMs, summary: r.summary });
    return { step, title, summary: r.summary, changed: r.changed };
  } catch (err) {
    const durationMs = Date.now() - started;
    const failure =
      err instanceof StepFailed
        ? err
        : new StepFailed(step, `${title}: ${err instanceof Error ? err.message : String(err)}`, {
            cause: err,
          });
    deps.journal.append({
      type: "post-step",
      run: deps.runId,
      phase: "post",
      step,
      status: "failed",
      error: failure.message,
      durationMs,
    });
    deps.events.emit({
      type: "step-failed",
      step,
      title,
      durationMs,
      error: failure.message,
      ...(failure.hint ? { hint: failure.hint } : {}),
    });
    throw failure;
  }
}

async function regenerateFirewall(s: PostSettings, c: Credentials, deps: PostDeps) {
  const { first, fallback } = firewallEndpoints(s.bmVersion);
  let endpoint: Endpoint = first;
  let r = await deps.client.send({ ...endpoint, signal: deps.signal });
  if (!r.ok && r.failure.kind === "status" && r.failure.status === 404) {
    // This core has not registered that path: the version guess was wrong, the other one is it.
    deps.events.emit({
      type: "warning",
      step: "firewall",
      message: `${endpoint.method} ${endpoint.path} does not exist on this core (HTTP 404); using ${fallback.path}`,
    });
    endpoint = fallback;
    r = await deps.client.send({ ...endpoint, signal: deps.signal });
    if (!r.ok && r.failure.kind === "status" && r.failure.status === 404 && deps.firewallByCli) {
      const cli = await deps.firewallByCli();
      if (!cli.ok)
        throw new StepFailed(
          "firewall",
          `neither firewall endpoint exists and \`${CLI_EQUIVALENTS.firewall}\` failed: ${cli.detail}`,
          {
            hint: "press Save in Security > Firewall management of the admin console, then run: bm-migrate post",
          },
        );
      return {
        summary: `rules regenerated with \`${CLI_EQUIVALENTS.firewall}\``,
        changed: false,
        data: { via: "bm-cli" },
      };
    }
  }
  if (!r.ok) throw apiFailed("firewall", "regenerating the firewall rules", r.failure, c);
  const status = await waitForTask(deps, s, "firewall", endpoint, r.body);
  return {
    summary: `rules regenerated (${endpoint.method} ${endpoint.path}, task ${status.id}: ${status.state})`,
    // A regeneration from the same configuration gives the same rules.
    changed: false,
    data: { endpoint: endpoint.path, taskId: status.id, state: status.state },
  };
}

async function repairMail(s: PostSettings, c: Credentials, deps: PostDeps) {
  const r = await deps.client.send({ ...MAIL_REPAIR, signal: deps.signal });
  if (!r.ok) throw apiFailed("mail-repair", "starting the mail maintenance", r.failure, c);
  const status = await waitForTask(deps, s, "mail-repair", MAIL_REPAIR, r.body);
  const result = status.result ? `; result: ${oneLine(status.result)}` : "";
  const last = status.lastLogEntry ? `; last log: ${oneLine(status.lastLogEntry)}` : "";
  return {
    summary: `postfix maps rebuilt (task ${status.id}: ${status.state}${result}${last})`,
    changed: false,
    data: {
      endpoint: MAIL_REPAIR.path,
      taskId: status.id,
      state: status.state,
      result: status.result ?? null,
    },
  };
}

async function applyMynetworks(s: PostSettings, c: Credentials, deps: PostDeps, plan: MynetworksPlan) {
  const data = { before: plan.before, after: plan.after, oldIp: s.oldIp, newEntries: s.newEntries };
  if (!plan.changed) {
    const why =
      plan.reason === "old-absent"
        ? `${s.oldIp} is not in it and ${s.newEntries.join(", ")} is not either: left as it is`
        : plan.reason === "already-replaced"
          ? `already has ${s.newEntries.join(", ")} and not ${s.oldIp}`
          : "the new value equals the old";
    if (plan.reason === "old-absent") {
      deps.events.emit({
        type: "warning",
        step: "mynetworks",
        message: `mynetworks '${plan.before}' does not contain ${s.oldIp}; nothing replaced. If relaying must be allowed, set it by hand: ${CLI_EQUIVALENTS.mynetworks(`${plan.before} ${s.newEntries.join(" ")}`.trim())}`,
      });
    }
    return {
      summary: `mynetworks unchanged: '${plan.before}' (${why})`,
      changed: false,
      data: { ...data, reason: plan.reason },
    };
  }
  const r = await deps.client.send({
    ...CONFIGURATION_SET,
    body: { [MYNETWORKS_KEY]: plan.after },
    signal: deps.signal,
  });
  if (!r.ok) throw apiFailed("mynetworks", "saving mynetworks", r.failure, c);
  // Read it back: the value the core keeps is the one that counts.
  const check = await deps.client.send<SystemConf>({ ...CONFIGURATION_GET, signal: deps.signal });
  if (!check.ok) throw apiFailed("mynetworks", "reading mynetworks back", check.failure, c);
  const stored = check.body?.values?.[MYNETWORKS_KEY] ?? "";
  if (stored !== plan.after) {
    throw new StepFailed(
      "mynetworks",
      `mynetworks was saved as '${plan.after}' but the core now has '${stored}'`,
      {
        hint: `check System administration > System configuration, or set it by hand: ${CLI_EQUIVALENTS.mynetworks(plan.after)}`,
      },
    );
  }
  return { summary: `mynetworks: '${plan.before}' -> '${plan.after}'`, changed: true, data };
}

/** Poll a task until it ends; InError and a timeout are StepFailed with the task's last log entry. */
async function waitForTask(
  deps: PostDeps,
  s: PostSettings,
  step: PostStepId,
  started: Endpoint,
  ref: unknown,
): Promise<TaskStatus & { id: string }> {
  if (!isTaskRef(ref)) {
    throw new StepFailed(
      step,
      `${started.method} ${started.path} answered without a task reference: ${oneLine(JSON.stringify(ref) ?? "")}`,
    );
  }
  const deadline = Date.now() + s.taskTimeoutMs;
  const ep = taskStatus(ref.id);
  let last: TaskStatus | undefined;
  for (;;) {
    const r = await deps.client.send<TaskStatus>({ ...ep, signal: deps.signal });
    if (!r.ok) throw apiFailed(step, `following task ${ref.id}`, r.failure);
    if (!isTaskStatus(r.body)) {
      throw new StepFailed(
        step,
        `${ep.method} ${ep.path} answered something that is not a task status: ${oneLine(JSON.stringify(r.body) ?? "")}`,
      );
    }
    last = r.body;
    if (last.steps && last.progress !== undefined) {
      deps.events.emit({
        type: "progress",
        step,
        current: `task ${ref.id} ${last.state}`,
        percent: Math.round((100 * last.progress) / last.steps),
      });
    }
    if (taskEnded(last.state)) break;
    if (Date.now() >= deadline) {
      throw new StepFailed(
        step,
        `task ${ref.id} (${started.path}) is still ${last.state} after ${Math.round(s.taskTimeoutMs / 1000)} s${last.lastLogEntry ? `; last log: ${oneLine(last.lastLogEntry)}` : ""}`,
        {
          hint: "it may still finish: look at the task in the admin console, then run: bm-migrate post (--task-timeout to wait longer)",
        },
      );
    }
    await sleep(s.taskPollMs, deps.signal);
  }
  if (last.state === "InError") {
    throw new StepFailed(
      step,
      `task ${ref.id} started by ${started.method} ${started.path} ended InError: ${last.lastLogEntry ? oneLine(last.lastLogEntry) : "(no log entry)"}`,
      { hint: `see /var/log/bm/core.log on this server; fix the cause, then run: bm-migrate post` },
    );
  }
  return { ...last, id: ref.id };
}

function apiFailed(step: PostStepId, doing: string, f: HttpFailure, c?: Credentials): StepFailed {
  let hint = `fix the cause, then run: bm-migrate post`;
  if (f.kind === "status" && f.status === 403 && c) {
    hint =
      c.kind === "key"
        ? `the admin0 key in ${c.from} was refused: it may be stale (copied from the origin?); restart bm-core to renew it, or log in with --password-file`
        : "the session was refused: run the command again";
  } else if (f.kind === "network" || f.kind === "timeout") {
    hint = `is bm-core running on this server (bmctl status)? Give --api-url if it listens elsewhere, then run: bm-migrate post`;
  } else if (f.kind === "status" && f.status === 404) {
    hint = `this core has no such endpoint: check --bm-version, or do the step in the admin console`;
  }
  return new StepFailed(step, `${doing}: ${describeFailure(f)}`, { hint, cause: new HttpError(f) });
}

const oneLine = (s: string): string => s.replace(/\s+/g, " ").trim().slice(0, 300);

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error("interrupted"));
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Error("interrupted"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------
// Validation

/** The flags `post` takes, as commander gives them. */
export interface PostFlags {
  apiUrl?: string;
  tokenFile?: string;
  passwordFile?: string;
  oldIp?: string;
  newIp?: string;
  bmVersion?: string;
  taskTimeout?: string;
  taskPollMs?: string;
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

/** The origin's address as an earlier command journaled it (`originIp`), newest first. */
export function originIpFromJournal(records: JournalRecord[]): string | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const v = records[i]?.["originIp"];
    if (typeof v === "string" && isIPv4(withoutHostMask(v))) return withoutHostMask(v);
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

  let facts: HostFacts | undefined;
  let factsError: string | undefined;
  if (flags.newIp === undefined || flags.bmVersion === undefined) {
    const r = await ctx.localFacts();
    facts = r.facts;
    factsError = r.error;
  }

  let oldIp: string | undefined;
  let oldSource = "--old-ip";
  if (flags.oldIp !== undefined) {
    if (!isIPv4(withoutHostMask(flags.oldIp)))
      problems.push(`--old-ip '${flags.oldIp}' is not an IPv4 address`);
    else oldIp = withoutHostMask(flags.oldIp);
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

  let newEntries: string[] = [];
  let newSource = "--new-ip";
  const newRaw = flags.newIp ?? facts?.bmIni?.host;
  if (flags.newIp === undefined) newSource = "bm.ini host";
  if (newRaw === undefined) {
    problems.push(
      `--new-ip is required: this server's address could not be read from /etc/bm/bm.ini${factsError ? ` (${factsError})` : ""}`,
    );
  } else {
    newEntries = newRaw.split(/[\s,]+/).filter(Boolean);
    if (newEntries.length === 0) problems.push(`--new-ip is empty`);
    for (const e of newEntries) {
      const p = networkEntryProblem(e);
      if (p) problems.push(`${newSource}: ${p}`);
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
  const taskPollMs = flags.taskPollMs === undefined ? 1000 : Number(flags.taskPollMs);
  if (!Number.isInteger(taskPollMs) || taskPollMs < 10)
    problems.push(`--task-poll-ms takes a whole number >= 10`);

  if (problems.length || oldIp === undefined) {
    throw new ConfigError(`invalid settings for post:\n  - ${problems.join("\n  - ")}`, {
      hint: "fix the flags and run: bm-migrate post (bm-migrate post --help)",
    });
  }
  return {
    apiUrl,
    auth,
    oldIp,
    newEntries,
    ...(bmVersion ? { bmVersion } : {}),
    sources: { oldIp: oldSource, newIp: newSource, bmVersion: versionSource },
    taskPollMs,
    taskTimeoutMs,
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

// ---------------------------------------------------------------------------------------------
// CLI

export function postOptions(): Option[] {
  return [
    new Option("--api-url <url>", `the BlueMind core's URL (default ${DEFAULT_CORE_URL})`),
    new Option("--token-file <file>", `admin0 key file (default ${CORE_TOKEN_FILE})`),
    new Option("--password-file <file>", "log in as admin0 with the password in this file (- reads stdin)"),
    new Option("--old-ip <ip>", "the origin's old address in mynetworks (default: from the journal)"),
    new Option("--new-ip <ip|cidr list>", "what replaces it (default: this server's bm.ini host)"),
    new Option(
      "--bm-version <version>",
      "BlueMind version, chooses the firewall endpoint (default: bm-core's)",
    ),
    new Option("--task-timeout <seconds>", "how long to wait for each BlueMind task (default 900)"),
    new Option("--task-poll-ms <ms>").hideHelp(),
  ];
}

export async function postCommand(app: App, opts: Record<string, unknown>): Promise<number> {
  const str = (k: string): string | undefined => (typeof opts[k] === "string" ? opts[k] : undefined);
  const flags: PostFlags = {};
  for (const k of [
    "apiUrl",
    "tokenFile",
    "passwordFile",
    "oldIp",
    "newIp",
    "bmVersion",
    "taskTimeout",
    "taskPollMs",
  ] as const) {
    const v = str(k);
    if (v !== undefined) flags[k] = v;
  }
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
  try {
    const client = new JsonClient(settings.apiUrl, {
      timeoutMs: 60_000,
      onRequest: (method, url) => app.logCommand("target", `${method} ${url}`),
    });
    app.events.emit({
      type: "phase-started",
      phase: "post",
    });
    const started = Date.now();
    // Housekeeping, after a cold sync replaced databases here: a target whose PostgreSQL cannot be
    // reached now keeps them, and says so.
    const replacedDatabases = previous.some(
      (r) => r.type === "step-done" && typeof r["step"] === "string" && r["step"].startsWith("database:"),
    );
    const dropReplacedDatabases = async (): Promise<{ summary: string; changed: boolean }> => {
      const dbs = profileFor(settings.bmVersion ?? "")?.databases ?? ["bj", "bj-data"];
      try {
        return await dropReplaced(dbs, app.signal);
      } catch (err) {
        const why = (err instanceof Error ? err.message : String(err)).split("\n")[0];
        const later = dbs.map((d) => `dropdb --if-exists "${replacedName(d)}"`).join("; ");
        app.events.emit({
          type: "warning",
          step: "cleanup",
          message: `the replaced databases were not dropped (${why}); later, as postgres: ${later}`,
        });
        return { summary: `not done (${why}): drop them later (${later})`, changed: false };
      }
    };
    const outcome = await runPost(settings, credentials, {
      client,
      events: app.events,
      journal: app.journal,
      signal: app.signal,
      runId: app.runId,
      firewallByCli: async () => {
        const r = await target.run(["bm-cli", "maintenance", "update-fw"], {
          timeoutMs: 600_000,
          signal: app.signal,
        });
        app.logCommand("target", r.command);
        return {
          ok: r.exitCode === 0,
          detail: r.stderr.trim().split("\n").slice(-3).join(" ") || `exit ${r.exitCode}`,
        };
      },
      ...(replacedDatabases ? { dropReplacedDatabases } : {}),
    });
    const doneBefore = previous.filter((r) => r.type === "post-finished").pop();
    const summary = outcome.changed
      ? "mynetworks updated; firewall rules and postfix maps regenerated"
      : `nothing changed${doneBefore ? ` (already done on ${doneBefore.t})` : ""}: mynetworks unchanged; firewall rules and postfix maps regenerated as they were`;
    app.journal.append({
      type: "post-finished",
      run: app.runId,
      phase: "post",
      changed: outcome.changed,
      mynetworksBefore: outcome.mynetworks.before,
      mynetworksAfter: outcome.mynetworks.after,
    });
    app.events.emit({ type: "phase-finished", phase: "post", durationMs: Date.now() - started, summary });
    app.print(formatSummary(settings, credentials, outcome));
    return ExitCode.ok;
  } finally {
    app.lock.release();
  }
}

export function formatSummary(s: PostSettings, c: Credentials, o: PostOutcome): string {
  const lines = [
    `BlueMind post-migration steps on ${s.apiUrl} (version ${s.bmVersion ?? "unknown"}, ${s.sources.bmVersion}; as admin0 by ${c.kind === "key" ? `key in ${c.from}` : `password from ${c.from}`}):`,
  ];
  for (const st of o.steps) lines.push(`  ${st.step.padEnd(12)} ${st.summary}`);
  lines.push(
    `  old address ${s.oldIp} (${s.sources.oldIp}) -> ${s.newEntries.join(", ")} (${s.sources.newIp})`,
    o.changed
      ? "Done: the three steps are complete."
      : "Done: nothing changed (running it again is harmless).",
  );
  return lines.join("\n");
}
