/**
 * The post-migration phase: BlueMind's three admin-console steps, through the core's REST API, as
 * a plan the runner executes and journals. Log in (the admin0 key of bm-core.tok, or admin0's
 * password) and ask the core its version; regenerate the firewall rules with the endpoint of that
 * version and report each server the task's log names; run the mail maintenance and wait until the
 * postfix maps are rebuilt on disk; replace the old address in mynetworks and check what the core
 * saved as a set; then drop the target's own databases the cold sync replaced.
 *
 * Idempotent: the regenerations converge, mynetworks is written only when it would change, the
 * databases are dropped if they exist. A failure names the endpoint, the HTTP status and what to
 * do; running `bm-migrate post` again starts over.
 */
import type { Host } from "../adapters/host.js";
import { describeFailure, HttpError, type HttpFailure, type JsonClient } from "../adapters/http.js";
import {
  ADMIN_LOGIN,
  API_KEY_HEADER,
  CLI_EQUIVALENTS,
  CONFIGURATION_GET,
  CONFIGURATION_SET,
  CORE_TOKEN_FILE,
  DEFAULT_CORE_URL,
  FIREWALL_INTERNAL,
  FIREWALL_SECURITY,
  INSTALLATION_VERSION,
  INVALID_SESSION_STATUS,
  LOGIN,
  LOGIN_ORIGIN,
  LOGOUT,
  MAIL_REPAIR,
  MYNETWORKS_KEY,
  firewallEndpoint,
  isNoSuchService,
  isTaskRef,
  isTaskStatus,
  taskEnded,
  taskLogs,
  taskStatus,
  type Endpoint,
  type InstallationVersion,
  type LoginResponse,
  type SystemConf,
  type TaskStatus,
} from "../bluemind/api.js";
import { checkMynetworks, planMynetworks, type MynetworksPlan } from "../bluemind/mynetworks.js";
import {
  MAP_THROTTLE_MS,
  POSTFIX_DIR,
  mapTimesScript,
  parseMapTimes,
  staleMaps,
} from "../bluemind/postfixMaps.js";
import { StepFailed } from "../engine/errors.js";
import type { Plan, Stage, Step, StepContext, StepResult } from "../engine/plan.js";
import { viewOf, type PlanView } from "../engine/planView.js";
import { sleep } from "../engine/sleep.js";

/** How to become admin0: the key bm-cli uses, or admin0's password. */
export type AuthSource = { kind: "token-file"; path: string } | { kind: "password"; from: string };

/** The secret that opens the API: a session key, or the password to get one. Never journaled. */
export type Credentials =
  { kind: "key"; key: string; from: string } | { kind: "password"; password: string; from: string };

/** Validated settings of one `post` run. */
export interface PostSettings {
  /** The core's base URL (no trailing slash). */
  apiUrl: string;
  auth: AuthSource;
  /** The origin's address (bare IPv4). */
  oldIp: string;
  /** The server's address or networks now: what replaces the old address in mynetworks. */
  newEntries: string[];
  /** The target took the origin's address: mynetworks stays as it is. */
  takeover: boolean;
  /** --bm-version, or the bm-core package's; the core's own answer wins when there is no flag. */
  bmVersion?: string;
  /** The version came from --bm-version (then the core is not asked to override it). */
  versionForced: boolean;
  /** Where each setting came from, for the summary ("--old-ip", "swap journal"...). */
  sources: { oldIp: string; newIp: string; bmVersion: string };
  taskPollMs: number;
  taskTimeoutMs: number;
  /** Bounded wait for the postfix maps to be rebuilt after the mail maintenance. */
  mapsTimeoutMs: number;
  /** Where the maps are (/etc/postfix; tests point it elsewhere). */
  postfixDir: string;
  /** Drop the target's own databases the cold sync replaced (kept until now). */
  dropReplaced: boolean;
}

export interface PostDeps {
  client: JsonClient;
  /** The server itself (post runs there as root): the postfix maps are read here. */
  target: Host;
  /** Drop the replaced databases; resolves to a summary. */
  dropReplacedDatabases: (signal: AbortSignal) => Promise<{ summary: string }>;
}

/** What the steps learn and pass on (filled by `connect`). */
export interface PostSession {
  version?: string;
  versionSource?: string;
  mynetworks?: MynetworksPlan;
  openedSession: boolean;
}

export const POST_STEP_IDS = ["connect", "firewall", "mail-repair", "mynetworks", "cleanup"] as const;
export type PostStepId = (typeof POST_STEP_IDS)[number];

const TITLES: Record<PostStepId, string> = {
  connect: "Log in to the BlueMind core, ask its version, read the system configuration",
  firewall: "Regenerate the firewall rules",
  "mail-repair": "Mail maintenance: rebuild the postfix maps",
  mynetworks: "Replace the old address in mynetworks",
  cleanup: "Drop the target's own databases, replaced by the origin's",
};

/** The commands of each step, for the plan and --dry-run. */
function commands(id: PostStepId, version: string | undefined, apiUrl: string): string[] {
  const fw = firewallEndpoint(version);
  switch (id) {
    case "connect":
      return [
        `the admin0 key in ${CORE_TOKEN_FILE} (or with --password-file: ${LOGIN.method} ${LOGIN.path}?login=${ADMIN_LOGIN})`,
        `${INSTALLATION_VERSION.method} ${apiUrl}${INSTALLATION_VERSION.path}`,
        `${CONFIGURATION_GET.method} ${apiUrl}${CONFIGURATION_GET.path}`,
      ];
    case "firewall":
      return [
        fw
          ? `${fw.method} ${apiUrl}${fw.path}  (BlueMind ${version})`
          : `${FIREWALL_SECURITY.method} ${apiUrl}${FIREWALL_SECURITY.path} on 4.x, ${FIREWALL_INTERNAL.path} on 5.x (the core's version decides)`,
        "GET /api/tasks/{id} until the task ends; GET /api/tasks/{id}/_currentLogs for each server's result",
      ];
    case "mail-repair":
      return [
        `${MAIL_REPAIR.method} ${apiUrl}${MAIL_REPAIR.path}`,
        "GET /api/tasks/{id} until the task ends",
        `until every ${POSTFIX_DIR}/*-flat map is newer than the request (BlueMind rebuilds them up to ${MAP_THROTTLE_MS / 1000} s later)`,
      ];
    case "mynetworks":
      return [
        `${CONFIGURATION_SET.method} ${apiUrl}${CONFIGURATION_SET.path} {"mynetworks": "<old address replaced by the new>"}  (only when it changes; never after an address takeover)`,
        `${CONFIGURATION_GET.method} ${apiUrl}${CONFIGURATION_GET.path}  (read back, compared as a set)`,
      ];
    case "cleanup":
      return ['dropdb --if-exists "bj.bm-migrate-old"; dropdb --if-exists "bj-data.bm-migrate-old"'];
  }
}

const stage = (name: string, step: Step): Stage => ({ name, steps: [step] });

function step(
  id: PostStepId,
  version: string | undefined,
  apiUrl: string,
  run: (ctx: StepContext) => Promise<StepResult>,
): Step {
  return { id, title: TITLES[id], host: "target", commands: commands(id, version, apiUrl), run };
}

/** The plan without its work, for `bm-migrate plan` and --dry-run. */
/**
 * The post plan as `bm-migrate plan` and `post --dry-run` print it, before anything is known of
 * the run: the steps of `postPlan` (the default core URL, no housekeeping step), with notes on what
 * the run decides then.
 */
export function postOutline(bmVersion: string | undefined): PlanView {
  const none = (): Promise<StepResult> => Promise.reject(new Error("outline only"));
  const ids = POST_STEP_IDS.filter((id) => id !== "cleanup");
  const plan: Plan = {
    phase: "post",
    stages: ids.map((id) => stage(STAGES[id], step(id, bmVersion, DEFAULT_CORE_URL, none))),
  };
  return viewOf(plan, [
    `BlueMind ${bmVersion ?? "version unknown here"}: the core's own version (GET /api/system/installation/version) chooses the firewall endpoint; --bm-version forces one.`,
    "The old and new addresses come from the swap's journal (--old-ip, --new-ip override); after an address takeover mynetworks stays as it is.",
    "After a cold sync, a last step drops the target's own databases it replaced (bj.bm-migrate-old, bj-data.bm-migrate-old).",
  ]);
}

const STAGES: Record<PostStepId, string> = {
  connect: "Log in to the BlueMind core",
  firewall: "Security > Firewall management: Save",
  "mail-repair": "System administration > Mail maintenance: Run",
  mynetworks: "System administration > System configuration: My networks",
  cleanup: "Housekeeping",
};

/** The post phase's plan; `session` is filled as the steps run (the command logs out with it). */
export function postPlan(
  s: PostSettings,
  credentials: Credentials,
  deps: PostDeps,
  session: PostSession,
): Plan {
  const v = s.bmVersion;
  const steps: Step[] = [
    step("connect", v, s.apiUrl, (ctx) => connect(s, credentials, deps, session, ctx)),
    step("firewall", v, s.apiUrl, (ctx) => regenerateFirewall(s, credentials, deps, session, ctx)),
    step("mail-repair", v, s.apiUrl, (ctx) => repairMail(s, credentials, deps, ctx)),
    step("mynetworks", v, s.apiUrl, (ctx) => applyMynetworks(s, credentials, deps, session, ctx)),
  ];
  if (s.dropReplaced)
    steps.push(step("cleanup", v, s.apiUrl, (ctx) => deps.dropReplacedDatabases(ctx.signal)));
  return { phase: "post", stages: steps.map((st) => stage(STAGES[st.id as PostStepId], st)) };
}

/** Close the session `connect` opened with a password; a failure here changes nothing. */
export async function closeSession(client: JsonClient, session: PostSession): Promise<void> {
  if (session.openedSession) await client.send({ ...LOGOUT, timeoutMs: 5_000 });
}

// ---------------------------------------------------------------------------------------------
// The steps

async function connect(
  s: PostSettings,
  c: Credentials,
  deps: PostDeps,
  session: PostSession,
  ctx: StepContext,
): Promise<StepResult> {
  const { client } = deps;
  const key = c.kind === "key" ? c.key : await login(client, c, ctx.signal);
  session.openedSession = c.kind === "password";
  client.setHeader(API_KEY_HEADER, key);
  // Read first: it proves the key works before anything is written, and it is the "before".
  const ver = await client.send<InstallationVersion>({ ...INSTALLATION_VERSION, signal: ctx.signal });
  if (!ver.ok) throw apiFailed("connect", "asking the core its version", ver.failure, c);
  const coreVersion = ver.body?.softwareVersion ?? undefined;
  if (s.versionForced || !coreVersion) {
    session.version = s.bmVersion;
    session.versionSource = s.sources.bmVersion;
  } else {
    session.version = coreVersion;
    session.versionSource = "the core";
  }
  const conf = await client.send<SystemConf>({ ...CONFIGURATION_GET, signal: ctx.signal });
  if (!conf.ok) throw apiFailed("connect", "reading the system configuration", conf.failure, c);
  const current = conf.body?.values?.[MYNETWORKS_KEY] ?? "";
  session.mynetworks = planMynetworks(current, s.oldIp, s.newEntries, s.takeover);
  const how = c.kind === "key" ? `key from ${c.from}` : `password from ${c.from}`;
  return {
    summary: `admin0 (${how}) on ${client.url}; BlueMind ${session.version ?? "version unknown"} (${session.versionSource}); mynetworks is '${current}'`,
    data: { version: session.version ?? null, versionSource: session.versionSource, mynetworks: current },
  };
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

async function regenerateFirewall(
  s: PostSettings,
  c: Credentials,
  deps: PostDeps,
  session: PostSession,
  ctx: StepContext,
): Promise<StepResult> {
  const endpoint = firewallEndpoint(session.version);
  if (!endpoint)
    throw new StepFailed(
      "firewall",
      `BlueMind's version is unknown (the core did not say, no bm-core package here), and the firewall endpoint depends on it: ${FIREWALL_SECURITY.path} on 4.x, ${FIREWALL_INTERNAL.path} on 5.x`,
      { hint: "give the version: bm-migrate post --bm-version 4.1.56 (or 5.1, 5.2...)" },
    );
  const r = await deps.client.send({ ...endpoint, signal: ctx.signal });
  if (!r.ok) {
    const f = r.failure;
    if (f.kind === "status" && isNoSuchService(f.status, f.excerpt))
      throw new StepFailed(
        "firewall",
        `this core does not serve ${endpoint.method} ${endpoint.path} (HTTP 500 "no service registered"), the endpoint of BlueMind ${session.version} (${session.versionSource})`,
        {
          hint: `check the version (--bm-version); or press Save in Security > Firewall management of the admin console${session.version?.startsWith("5") ? ` (or run ${CLI_EQUIVALENTS.firewall}, which exits 0 even when its task fails)` : ""}, then run: bm-migrate post`,
          cause: new HttpError(f),
        },
      );
    throw apiFailed("firewall", "regenerating the firewall rules", f, c);
  }
  const status = await waitForTask(deps, s, "firewall", endpoint, r.body, ctx);
  // RulesUpdater logs each server "Host <address> updated" or "... failed updated" and succeeds
  // either way: the log is the only place a failed server shows.
  const logs = await deps.client.send<unknown>({ ...taskLogs(status.id), signal: ctx.signal });
  const lines =
    logs.ok && Array.isArray(logs.body) ? logs.body.filter((l): l is string => typeof l === "string") : [];
  const updated: string[] = [];
  const failed: string[] = [];
  for (const l of lines) {
    const m = /Host (\S+) (failed updated|updated)/.exec(l);
    if (m) (m[2] === "updated" ? updated : failed).push(m[1]!);
  }
  const hosts = logs.ok
    ? `${updated.length ? `updated on ${updated.join(", ")}` : "no server named in the task's log"}${failed.length ? `; FAILED on ${failed.join(", ")}` : ""}`
    : `the task's log could not be read (${describeFailure(logs.failure)})`;
  if (failed.length)
    throw new StepFailed(
      "firewall",
      `the firewall task ${status.id} ended ${status.state}, but its log says the rules were not written on ${failed.join(", ")} (${hosts})`,
      {
        hint: `see /var/log/bm/core.log ("error during iptables write") and that bm-node runs on ${failed.join(", ")}; then run: bm-migrate post`,
      },
    );
  return {
    summary: `rules regenerated with ${endpoint.method} ${endpoint.path} (task ${status.id}: ${status.state}); ${hosts}`,
    data: { endpoint: endpoint.path, taskId: status.id, state: status.state, updated, failed },
  };
}

async function repairMail(
  s: PostSettings,
  c: Credentials,
  deps: PostDeps,
  ctx: StepContext,
): Promise<StepResult> {
  const requestedAt = Date.now();
  const r = await deps.client.send({ ...MAIL_REPAIR, signal: ctx.signal });
  if (!r.ok) throw apiFailed("mail-repair", "starting the mail maintenance", r.failure, c);
  const status = await waitForTask(deps, s, "mail-repair", MAIL_REPAIR, r.body, ctx);
  // Success only says the maps were marked dirty: wait until they are rebuilt on disk.
  const deadline = Date.now() + s.mapsTimeoutMs;
  let flat: string[] = [];
  let stale: string[] = [];
  // BlueMind writes the maps one after another, and creates those that were missing: a look in
  // the middle of a rebuild can find every map there is fresh while one is still to come. Rebuilt
  // means fresh twice in a row, with the same maps.
  let freshBefore: string | undefined;
  for (;;) {
    const out = await deps.target.sh(mapTimesScript(s.postfixDir), { signal: ctx.signal, timeoutMs: 30_000 });
    ({ flat, stale } = staleMaps(parseMapTimes(out.stdout), requestedAt));
    if (flat.length === 0)
      throw new StepFailed(
        "mail-repair",
        `the mail maintenance task ${status.id} ended ${status.state}, but there is no postfix map (*-flat) in ${s.postfixDir} to see it rebuilt`,
        {
          hint: `see /var/log/bm/core.log ("Fail to update postfix maps"); run ${CLI_EQUIVALENTS.repair}, then: bm-migrate post`,
        },
      );
    const fresh = stale.length === 0 ? flat.join("\n") : undefined;
    if (fresh !== undefined && fresh === freshBefore) break;
    freshBefore = fresh;
    if (fresh === undefined && Date.now() >= deadline)
      throw new StepFailed(
        "mail-repair",
        `the mail maintenance task ${status.id} ended ${status.state}, but ${Math.round(s.mapsTimeoutMs / 1000)} s later ${stale.join(", ")} ${stale.length > 1 ? "are" : "is"} still older than the request: the maps were not rebuilt`,
        {
          hint: `see /var/log/bm/core.log ("Fail to update postfix maps": BlueMind only logs it), fix the cause, then run: bm-migrate post`,
        },
      );
    if (!(await sleep(Math.min(250, s.taskPollMs), ctx.signal))) throw new Error("interrupted");
  }
  const after = ((Date.now() - requestedAt) / 1000).toFixed(1);
  return {
    summary: `postfix maps rebuilt: ${flat.length} maps in ${s.postfixDir} newer than the request, ${after} s after it (task ${status.id}: ${status.state})`,
    data: {
      endpoint: MAIL_REPAIR.path,
      taskId: status.id,
      state: status.state,
      maps: flat,
      seconds: Number(after),
    },
  };
}

async function applyMynetworks(
  s: PostSettings,
  c: Credentials,
  deps: PostDeps,
  session: PostSession,
  ctx: StepContext,
): Promise<StepResult> {
  const plan = session.mynetworks!;
  if (plan.kind === "unchanged") {
    const why =
      plan.reason === "takeover"
        ? `address takeover: the server kept ${s.oldIp}, nothing to replace`
        : plan.reason === "already-replaced"
          ? `already has ${s.newEntries.join(", ")} and not ${s.oldIp}`
          : `${s.oldIp} is not in it and ${s.newEntries.join(", ")} is not either`;
    if (plan.reason === "old-absent")
      ctx.events.emit({
        type: "warning",
        step: "mynetworks",
        message: `mynetworks '${plan.current}' does not contain ${s.oldIp}; nothing replaced. If relaying must be allowed from ${s.newEntries.join(", ")}, set it by hand: ${CLI_EQUIVALENTS.mynetworks(`${plan.current} ${s.newEntries.join(" ")}`.trim())}`,
      });
    return {
      summary: `mynetworks unchanged: '${plan.current}' (${why})`,
      data: { before: plan.current, after: plan.current, reason: plan.reason, changed: false },
    };
  }
  const r = await deps.client.send({
    ...CONFIGURATION_SET,
    body: { [MYNETWORKS_KEY]: plan.send },
    signal: ctx.signal,
  });
  if (!r.ok) throw apiFailed("mynetworks", "saving mynetworks", r.failure, c);
  // The core's sanitizer rewrites what it saves: read it back and compare as sets.
  const back = await deps.client.send<SystemConf>({ ...CONFIGURATION_GET, signal: ctx.signal });
  if (!back.ok) throw apiFailed("mynetworks", "reading mynetworks back", back.failure, c);
  const stored = back.body?.values?.[MYNETWORKS_KEY] ?? "";
  const check = checkMynetworks(stored, plan.send, s.oldIp, s.newEntries);
  if (!check.ok) {
    const what = [
      check.missing.length ? `${check.missing.join(", ")} missing` : "",
      check.oldStillThere ? `the old address ${s.oldIp} still there` : "",
    ]
      .filter(Boolean)
      .join(", ");
    throw new StepFailed(
      "mynetworks",
      `mynetworks was sent as '${plan.send}' but the core now has '${stored}': ${what}`,
      {
        hint: check.oldStillThere
          ? `the core re-adds every server address of its t_server table and every interface address: if ${s.oldIp} is still one of them, finish the address change (swap --keep-target-ip does it), then run: bm-migrate post`
          : `set it in System configuration > My networks of the admin console, then run: bm-migrate post`,
      },
    );
  }
  const added = check.added.length ? `; the core added its own ${check.added.join(", ")}` : "";
  return {
    summary: `mynetworks: ${s.oldIp} replaced by ${s.newEntries.join(", ")}; the core holds '${stored}'${added}`,
    data: { before: plan.current, sent: plan.send, after: stored, added: check.added, changed: true },
  };
}

async function waitForTask(
  deps: PostDeps,
  s: PostSettings,
  step: PostStepId,
  started: Endpoint,
  body: unknown,
  ctx: StepContext,
): Promise<TaskStatus & { id: string }> {
  if (!isTaskRef(body)) {
    throw new StepFailed(
      step,
      `${started.method} ${started.path} did not answer a task reference ({"id": ...})`,
      {
        hint: "this core's API differs from what bm-migrate knows: do the step in the admin console",
      },
    );
  }
  const ref = body;
  const deadline = Date.now() + s.taskTimeoutMs;
  let last: TaskStatus | undefined;
  for (;;) {
    const r = await deps.client.send<TaskStatus>({ ...taskStatus(ref.id), signal: ctx.signal });
    if (!r.ok) throw apiFailed(step, `following task ${ref.id}`, r.failure);
    if (!isTaskStatus(r.body))
      throw new StepFailed(step, `GET /api/tasks/${ref.id} answered something that is not a task status`, {
        hint: "do the step in the admin console",
      });
    last = r.body;
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
    if (!(await sleep(s.taskPollMs, ctx.signal))) throw new Error("interrupted");
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
  let hint = `see /var/log/bm/core.log on this server, fix the cause, then run: bm-migrate post`;
  if (f.kind === "status" && f.status === INVALID_SESSION_STATUS) {
    hint =
      c?.kind === "key"
        ? `the admin0 key in ${c.from} was refused (HTTP 401): it may be stale (copied from the origin?). A 4.x core reads it at start: restart bm-core (bmctl restart); 5.x re-reads it when it changes. Or log in with --password-file`
        : "the session was refused (HTTP 401): run the command again";
  } else if (f.kind === "network" || f.kind === "timeout") {
    hint = `does bm-core run on this server (bm-migrate status shows it)? Give --api-url if it listens elsewhere, then run: bm-migrate post`;
  } else if (f.kind === "status" && isNoSuchService(f.status, f.excerpt)) {
    hint = `this core does not serve that path: check --bm-version, or do the step in the admin console`;
  }
  return new StepFailed(step, `${doing}: ${describeFailure(f)}`, { hint, cause: new HttpError(f) });
}

const oneLine = (s: string): string => s.replace(/\s+/g, " ").trim().slice(0, 300);
