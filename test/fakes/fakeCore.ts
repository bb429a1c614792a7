/**
 * A fake BlueMind core for tests and for the lab's core stand-in (lab/standin/core.ts): the
 * endpoints `bm-migrate post` uses, answered as BlueMind's REST layer answers them. Every
 * behaviour names its source, a file of BlueMind's code in the public mirror `mdhender/bluemindfork`
 * (paths below are in that repository; the 4.1 state is its history around 2019-07):
 *
 * - Login: POST /api/auth/login?login=&origin=, body = the password as a JSON string; HTTP 200 and
 *   a LoginResponse either way, `status: "Ok"` with an `authKey`, or `"Bad"` without one
 *   (parent/authentication/net.bluemind.authentication.api/.../IAuthentication.java, LoginResponse.java).
 * - An unknown or expired `X-BM-ApiKey`: HTTP 401, errorCode AUTHENTICATION_FAIL, message
 *   "session id <key> is not valid" (the key echoed: clients must redact it)
 *   (parent/core/net.bluemind.core.rest/src/net/bluemind/core/rest/base/RestServiceMethodHandler.java,
 *   RestResponse.invalidSession).
 * - A path no service serves: HTTP 500, errorCode UNKNOWN, "no service registered on METHOD PATH"
 *   (RestRootHandler.java raises NOT_FOUND; the failure handler of
 *   parent/core/net.bluemind.core.rest.http.vertx/.../RestHttpProxyHandler.java answers every
 *   failure with 500 and ErrorCode.UNKNOWN). Never a 404.
 * - No key on an admin endpoint: the call runs as anonymous and the role check fails, a
 *   ServerFault answered 500 (RestResponse.fault).
 * - A void method (POST /api/configuration, logout) answers 200 with an empty body
 *   (RestHttpProxyHandler.responseHandler ends the response without data).
 * - Firewall: 4.x has POST /api/system/security/_updatefirewallrules (ISecurityMgmt.java); every
 *   5.x has only POST /internal-api/system/firewall/_updatefirewallrules (IInternalFirewallMgmt.java,
 *   the public one removed on the 5.0 line by commit a5d739ce, 2023-05). The task logs
 *   "Host <address> updated" or "Host <address> failed updated" per server and succeeds either way
 *   (parent/system/net.bluemind.system.iptables/.../tools/RulesUpdater.java).
 * - Mail maintenance: POST /api/system/maildelivery/mgmt/_repair, admin0 only; its task only
 *   publishes `postfix.map.dirty` and succeeds at once
 *   (parent/system/net.bluemind.system.service/.../internal/PostfixMgmt.java). The maps are rebuilt
 *   by the listener of that event, throttled per 10 s: the first event rebuilds at once and opens a
 *   10 s window; events inside the window rebuild once when it closes
 *   (parent/mailbackend/net.bluemind.backend.postfix/.../maps/events/DirtyMapEvent.java,
 *   plugins/net.bluemind.lib.vertx/.../utils/Throttle.java). Errors are only logged.
 * - System configuration: GET /api/configuration answers `{values}`; POST with a map runs the
 *   sanitizers before saving. mynetworks: split on spaces and commas, `!` stripped, a set (order
 *   lost), 127.0.0.0/8 and every server address (t_server, as `ip/32`) and every local IPv4
 *   interface address not starting with 127 (as `/32`) added, joined with ", "
 *   (parent/mailbackend/net.bluemind.backend.systemconf/.../internal/MyNetworksSanitizor.java).
 * - Tasks: GET /api/tasks/{id} answers a TaskStatus, GET /api/tasks/{id}/_currentLogs the log lines
 *   (parent/core/net.bluemind.core.task.api/.../ITask.java).
 * - Version: GET /api/system/installation/version answers an InstallationVersion
 *   (parent/system/net.bluemind.system.api/.../IInstallation.java, InstallationVersion.java).
 * Every call is recorded (method, path, query, key, body, status, time) for assertions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";

export interface FakeCoreOptions {
  /** BlueMind version this core is ("4.1.56", "5.1.3", "5.2.1"...): chooses the firewall endpoint. */
  version?: string;
  /** admin0's password (login). */
  adminPassword?: string;
  /** The key in /etc/bm/bm-core.tok: valid from the start. */
  coreToken?: string;
  /** Initial system configuration values. */
  values?: Record<string, string>;
  /** t_server addresses (read at each use, as the core does): the sanitizer adds each as `/32`, the firewall task updates each. */
  serverAddresses?: string[] | (() => string[]);
  /** The host's IPv4 interface addresses (read at each use): the sanitizer adds those not starting with 127. */
  localAddresses?: string[] | (() => string[]);
  /** Called once a call has been answered (the lab's stand-in logs it). */
  onCall?: (call: RecordedCall) => void;
  /** Servers whose firewall update fails (logged "failed updated"; the task still succeeds). */
  firewallFailsOn?: string[];
  /** Polls of GET /api/tasks/{id} until a task ends (at least 2: NotStarted, InProgress, end). */
  pollsToFinish?: number;
  /** Make the task of this step end InError with `errorLog` as its last log entry. */
  failTask?: "firewall" | "repair" | "dir-repair";
  errorLog?: string;
  /** Where the postfix maps are (/etc/postfix): rebuilt after a repair; none: nothing rebuilt. */
  mapsDir?: string;
  /** How long one rebuild of the maps takes (ms). */
  mapRebuildMs?: number;
  /** The throttle window of the map rebuilds (BlueMind: 10 000 ms). */
  mapThrottleMs?: number;
  /** The core's log (/var/log/bm/core.log): map rebuilds are logged there. */
  logFile?: string;
  /** Called after a configuration save, with the values as saved. */
  onConfigurationSaved?: (values: Record<string, string>) => void;
  /** The domains GET /api/domains answers (uids); global.virt is always there. */
  domains?: string[];
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The X-BM-ApiKey header as received (tests check which key was used). */
  apiKey?: string;
  body?: unknown;
  status: number;
  /** When the call arrived (ms since the epoch). */
  at: number;
}

interface FakeTask {
  kind: "firewall" | "repair" | "dir-repair";
  polls: number;
  logs: string[];
}

const fault = (errorCode: string, message: string) => ({ errorCode, errorType: "ServerFault", message });

/** The map files BlueMind writes (parent/mailbackend/net.bluemind.backend.postfix/.../PostfixPaths.java). */
export const POSTFIX_MAPS = [
  "virtual_domains",
  "virtual_mailbox",
  "virtual_alias",
  "transport",
  "master_relay_transport",
] as const;

/** MyNetworksSanitizor.sanitize, as a function of what was sent and what the server knows. */
export function sanitizeMynetworks(
  sent: string,
  serverAddresses: string[],
  localAddresses: string[],
): string {
  const parts = new Set<string>();
  for (const part of sent.split(" "))
    for (const p of part.split(",")) {
      const t = p.trim().replace(/^!/, "");
      if (t) parts.add(t);
    }
  const known = serverAddresses.map((a) => `${a}/32`);
  parts.delete("127.0.0.0/8");
  for (const k of known) parts.delete(k);
  const defaults = [
    "127.0.0.0/8",
    ...known,
    ...localAddresses.filter((a) => !a.startsWith("127")).map((a) => `${a}/32`),
  ];
  for (const d of defaults) parts.add(d);
  // A Java HashSet has no order worth keeping: shuffle, so that no client can rely on one.
  return [...parts].sort(() => Math.random() - 0.5).join(", ");
}

export class FakeCore {
  readonly calls: RecordedCall[] = [];
  readonly values: Record<string, string>;
  /** When the maps were last rebuilt (ms), and how often. */
  mapsRebuiltAt: number[] = [];
  private readonly sessions = new Set<string>();
  private readonly tasks = new Map<string, FakeTask>();
  private readonly o: FakeCoreOptions & {
    version: string;
    adminPassword: string;
    coreToken: string;
    pollsToFinish: number;
    errorLog: string;
  };
  private server: Server | undefined;
  private throttle: NodeJS.Timeout | undefined;
  private pendingDirty = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  url = "";

  constructor(options: FakeCoreOptions = {}) {
    this.o = {
      ...options,
      version: options.version ?? "4.1.56",
      adminPassword: options.adminPassword ?? "admin0-secret-pw",
      coreToken: options.coreToken ?? "core-token-0123456789abcdef",
      pollsToFinish: Math.max(2, options.pollsToFinish ?? 3),
      errorLog: options.errorLog ?? "Fail to update postfix maps: permission denied",
    };
    this.values = { mynetworks: "127.0.0.0/8", ...options.values };
    this.sessions.add(this.o.coreToken);
    this.domains = options.domains ?? ["bluemind.lab"];
  }
  private readonly domains: string[];

  /** 5.x has the internal firewall endpoint only; 4.x the public one only. */
  get major(): number {
    return Number(/^(\d+)/.exec(this.o.version)?.[1] ?? "4");
  }

  /** A new admin0 key (5.x re-reads bm-core.tok when it changes: Token.java). */
  setCoreToken(token: string): void {
    this.sessions.delete(this.o.coreToken);
    this.o.coreToken = token;
    this.sessions.add(token);
  }

  async start(port = 0, host = "127.0.0.1"): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve));
    const a = this.server.address() as AddressInfo;
    this.url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${a.port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    if (this.throttle) clearTimeout(this.throttle);
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Calls that changed something (the POSTs), as "METHOD path". */
  writes(): string[] {
    return this.calls.filter((c) => c.method === "POST").map((c) => `${c.method} ${c.path}`);
  }

  private list(v: string[] | (() => string[]) | undefined): string[] {
    return typeof v === "function" ? v() : (v ?? []);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private log(line: string): void {
    if (this.o.logFile) appendFileSync(this.o.logFile, `${new Date().toISOString()} [core] ${line}\n`);
  }

  /** DirtyMapEvent behind Throttle: at once, then at most once more when the window closes. */
  private mapsDirty(): void {
    if (this.throttle) {
      this.pendingDirty = true;
      return;
    }
    this.throttle = setTimeout(() => {
      this.throttle = undefined;
      if (this.pendingDirty) {
        this.pendingDirty = false;
        this.rebuildMaps();
      }
    }, this.o.mapThrottleMs ?? 10_000);
    this.rebuildMaps();
  }

  private rebuildMaps(): void {
    const dir = this.o.mapsDir;
    if (!dir) return;
    this.log("Updating postfix maps");
    const t0 = Date.now();
    this.later(this.o.mapRebuildMs ?? 0, () => {
      const now = new Date();
      for (const name of POSTFIX_MAPS) {
        const flat = join(dir, `${name}-flat`);
        const db = join(dir, `${name}.db`);
        // The content comes from the directory in BlueMind; here it stays what it was.
        writeFileSync(flat, existsSync(flat) ? readFileSync(flat) : "");
        if (existsSync(db)) utimesSync(db, now, now);
        else writeFileSync(db, "");
      }
      this.mapsRebuiltAt.push(Date.now());
      this.log(`Postfix maps updated (${Date.now() - t0} ms)`);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const raw = await readBody(req);
    let body: unknown;
    if (raw.length) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const header = req.headers["x-bm-apikey"];
    const apiKey = Array.isArray(header) ? header[0] : header;
    const call: RecordedCall = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(body !== undefined ? { body } : {}),
      status: 0,
      at: Date.now(),
    };
    this.calls.push(call);
    const reply = (status: number, json?: unknown): void => {
      call.status = status;
      res.on("finish", () => this.o.onCall?.(call));
      if (json === undefined) {
        res.writeHead(status, { "Content-Length": 0 }).end();
        return;
      }
      const text = JSON.stringify(json);
      res.writeHead(status, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(text),
      });
      res.end(text);
    };

    const route = `${call.method} ${url.pathname}`;
    if (route === "POST /api/auth/login") return reply(200, this.login(call, body));
    if (!this.serves(call.method, url.pathname))
      return reply(500, fault("UNKNOWN", `no service registered on ${call.method} ${url.pathname}`));
    if (apiKey !== undefined && !this.sessions.has(apiKey))
      return reply(401, fault("AUTHENTICATION_FAIL", `session id ${apiKey} is not valid`));
    if (apiKey === undefined)
      return reply(500, fault("FORBIDDEN", "API method call requires following roles: [systemManagement]"));

    if (route === "POST /api/auth/logout") {
      this.sessions.delete(apiKey);
      return reply(200);
    }
    if (route === "GET /api/system/installation/version")
      return reply(200, {
        softwareVersion: this.o.version,
        databaseVersion: this.o.version,
        versionName: this.o.version,
        needsUpgrade: false,
      });
    if (route === "GET /api/configuration") return reply(200, { values: { ...this.values } });
    if (route === "POST /api/configuration") {
      if (typeof body !== "object" || body === null || Array.isArray(body))
        return reply(500, fault("UNKNOWN", "Cannot convert body to JSON"));
      const changes = { ...(body as Record<string, unknown>) };
      if (typeof changes["mynetworks"] === "string")
        changes["mynetworks"] = sanitizeMynetworks(
          changes["mynetworks"],
          this.list(this.o.serverAddresses),
          this.list(this.o.localAddresses),
        );
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) delete this.values[k];
        else this.values[k] = typeof v === "string" ? v : JSON.stringify(v);
      }
      this.o.onConfigurationSaved?.({ ...this.values });
      return reply(200);
    }
    if (route.endsWith("/_updatefirewallrules")) return reply(200, this.newTask("firewall"));
    if (route === "POST /api/system/maildelivery/mgmt/_repair") return reply(200, this.newTask("repair"));
    const directory = this.directoryRoutes(route, body);
    if (directory) return reply(directory.status, directory.json);
    const task = /^GET \/api\/tasks\/([^/]+)(\/_currentLogs)?$/.exec(route);
    if (task) {
      const t = this.tasks.get(decodeURIComponent(task[1]!));
      if (!t) return reply(500, fault("UNKNOWN", `task ${task[1]} not found`));
      return task[2] ? reply(200, t.logs.slice()) : reply(200, this.poll(t));
    }
    return reply(500, fault("UNKNOWN", `no service registered on ${call.method} ${url.pathname}`));
  }

  private serves(method: string, path: string): boolean {
    if (this.knowsDirectory(method, path)) return true;
    if (path === "/api/system/security/_updatefirewallrules") return method === "POST" && this.major < 5;
    if (path === "/internal-api/system/firewall/_updatefirewallrules")
      return method === "POST" && this.major >= 5;
    return (
      (method === "POST" && path === "/api/auth/logout") ||
      (method === "GET" && path === "/api/system/installation/version") ||
      (path === "/api/configuration" && (method === "GET" || method === "POST")) ||
      (method === "POST" && path === "/api/system/maildelivery/mgmt/_repair") ||
      (method === "GET" && /^\/api\/tasks\/[^/]+(\/_currentLogs)?$/.test(path))
    );
  }

  // --- Domains and directory maintenance (issue 17: repairs once the target's core runs) ---------
  // IDomains `@Path("/domains")` `@GET all()`: ItemValue<Domain> list (Domains.java, IDomains.java);
  // IDirEntryMaintenance `@Path("/directory/{domain}/{entryUid}/mgmt")`, `POST _maintenance/repair`
  // with a RepairConfig {opIdentifiers, dry, ...}, a TaskRef. Operations of a DOMAIN entry:
  // hollow.directory (HollowDirectoryRepair.java), domain.keycloak (KeycloakRealmRepairSupport.java).
  private static readonly REPAIR = /^\/api\/directory\/([^/]+)\/([^/]+)\/mgmt\/_maintenance\/repair$/;

  private knowsDirectory(method: string, path: string): boolean {
    return (method === "GET" && path === "/api/domains") || (method === "POST" && FakeCore.REPAIR.test(path));
  }

  private directoryRoutes(route: string, body: unknown): { status: number; json?: unknown } | undefined {
    if (route === "GET /api/domains")
      return {
        status: 200,
        json: [
          { uid: "global.virt", value: { name: "global.virt", global: true } },
          ...this.domains.map((d) => ({ uid: d, value: { name: d, global: false } })),
        ],
      };
    const m = route.startsWith("POST ") ? FakeCore.REPAIR.exec(route.slice(5)) : null;
    if (!m) return undefined;
    const domain = decodeURIComponent(m[1] ?? "");
    const ops = (body as { opIdentifiers?: unknown } | undefined)?.opIdentifiers;
    if (!this.domains.includes(domain) && domain !== "global.virt")
      return { status: 500, json: fault("NOT_FOUND", `domain ${domain} not found`) };
    if (!Array.isArray(ops))
      return { status: 500, json: fault("INVALID_PARAMETER", "opIdentifiers is null") };
    return { status: 200, json: this.newTask("dir-repair") };
  }
  // --- end of domains and directory maintenance ---------------------------------------------

  private login(call: RecordedCall, body: unknown): unknown {
    if (call.query["login"] === "admin0@global.virt" && body === this.o.adminPassword) {
      const authKey = randomUUID();
      this.sessions.add(authKey);
      return {
        status: "Ok",
        authKey,
        message: null,
        authUser: { displayName: "admin0", domainUid: "global.virt" },
      };
    }
    return { status: "Bad", authKey: null, message: `Login failed for login '${call.query["login"] ?? ""}'` };
  }

  private newTask(kind: FakeTask["kind"]): { id: string } {
    const id = String(1000 + this.tasks.size);
    this.tasks.set(id, { kind, polls: 0, logs: [] });
    return { id };
  }

  private poll(task: FakeTask): unknown {
    task.polls++;
    const steps = 10;
    if (task.polls === 1)
      return { state: "NotStarted", steps, progress: 0, lastLogEntry: null, result: null };
    if (task.polls < this.o.pollsToFinish) {
      if (task.logs.length === 0) task.logs.push(task.kind === "firewall" ? "Server list retrieved" : "");
      return {
        state: "InProgress",
        steps,
        progress: 5,
        lastLogEntry: task.logs.at(-1) ?? null,
        result: null,
      };
    }
    if (task.polls === this.o.pollsToFinish) this.finish(task);
    if (this.o.failTask === task.kind)
      return { state: "InError", steps, progress: 7, lastLogEntry: this.o.errorLog, result: null };
    return { state: "Success", steps, progress: steps, lastLogEntry: task.logs.at(-1) ?? null, result: null };
  }

  private finish(task: FakeTask): void {
    if (task.kind === "repair") {
      if (this.o.failTask !== "repair") this.mapsDirty();
      else task.logs.push(this.o.errorLog);
      return;
    }
    if (task.logs[0] !== "Server list retrieved") task.logs.unshift("Server list retrieved");
    for (const host of this.list(this.o.serverAddresses))
      task.logs.push(`Host ${host} ${this.o.firewallFailsOn?.includes(host) ? "failed updated" : "updated"}`);
    if (this.o.failTask === "firewall") task.logs.push(this.o.errorLog);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
