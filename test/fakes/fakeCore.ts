/**
 * A fake BlueMind core for tests: the endpoints `bm-migrate post` uses, answered the way
 * BlueMind's REST layer answers them (see src/bluemind/api.ts for the sources):
 * - POST /api/auth/login?login=&origin= with the password as a JSON string: HTTP 200 and a
 *   LoginResponse, `status: "Ok"` with a fresh `authKey`, or `status: "Bad"` without one.
 * - `X-BM-ApiKey` unknown: HTTP 403 `{errorCode: "PERMISSION_DENIED", errorType: "ServerFault",
 *   message: "session id <key> is not valid"}` (BlueMind echoes the key: clients must redact it).
 * - No key on an admin endpoint: the call runs as anonymous and fails the role check, a
 *   ServerFault FORBIDDEN, which BlueMind's JSON codec answers with HTTP 500.
 * - A path not registered: HTTP 404 NOT_FOUND "no service registered on path ...".
 * - Tasks: a TaskRef `{id}`; GET /api/tasks/{id} goes NotStarted -> InProgress -> Success (or
 *   InError) over `pollsToFinish` polls.
 * - GET /api/configuration `{values}`; POST merges the map (null removes a key), answers 204.
 * Every call is recorded (method, path, query, key, body) for assertions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";

export type FirewallFlavour = "security" | "internal";

export interface FakeCoreOptions {
  /** admin0's password (login). */
  adminPassword?: string;
  /** The key in /etc/bm/bm-core.tok: valid from the start. */
  coreToken?: string;
  /** Which firewall endpoint this core has: "security" (4.x, early 5.x) or "internal" (5.2+). */
  firewall?: FirewallFlavour;
  /** Initial system configuration values. */
  values?: Record<string, string>;
  /** Polls of GET /api/tasks/{id} until a task ends (at least 2: NotStarted, InProgress, end). */
  pollsToFinish?: number;
  /** Make the task of this step end InError with `errorLog` as its last log entry. */
  failTask?: "firewall" | "repair" | "dir-repair";
  errorLog?: string;
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
}

interface FakeTask {
  kind: "firewall" | "repair" | "dir-repair";
  polls: number;
}

const fault = (errorCode: string, message: string) => ({ errorCode, errorType: "ServerFault", message });

export class FakeCore {
  readonly calls: RecordedCall[] = [];
  readonly values: Record<string, string>;
  private readonly sessions = new Set<string>();
  private readonly tasks = new Map<string, FakeTask>();
  private readonly o: Required<Omit<FakeCoreOptions, "failTask" | "values" | "domains">> &
    Pick<FakeCoreOptions, "failTask">;
  private server: Server | undefined;
  url = "";

  constructor(options: FakeCoreOptions = {}) {
    this.o = {
      adminPassword: options.adminPassword ?? "admin0-secret-pw",
      coreToken: options.coreToken ?? "core-token-0123456789abcdef",
      firewall: options.firewall ?? "security",
      pollsToFinish: Math.max(2, options.pollsToFinish ?? 3),
      failTask: options.failTask,
      errorLog: options.errorLog ?? "postmap: fatal: open /etc/postfix/transport.db: Permission denied",
    };
    this.values = { mynetworks: "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128", ...options.values };
    this.sessions.add(this.o.coreToken);
    this.domains = options.domains ?? ["bluemind.lab"];
  }
  private readonly domains: string[];

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Calls that changed something (the POSTs), as "METHOD path". */
  writes(): string[] {
    return this.calls.filter((c) => c.method === "POST").map((c) => `${c.method} ${c.path}`);
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
    };
    this.calls.push(call);
    const reply = (status: number, json?: unknown): void => {
      call.status = status;
      if (json === undefined) {
        res.writeHead(status).end();
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
    if (!this.knows(call.method, url.pathname))
      return reply(404, fault("NOT_FOUND", `no service registered on path ${url.pathname}`));
    if (apiKey !== undefined && !this.sessions.has(apiKey))
      return reply(403, fault("PERMISSION_DENIED", `session id ${apiKey} is not valid`));
    if (apiKey === undefined)
      return reply(500, fault("FORBIDDEN", "API method call requires following roles: [systemManagement]"));

    if (route === "POST /api/auth/logout") {
      this.sessions.delete(apiKey);
      return reply(204);
    }
    if (route === "GET /api/configuration") return reply(200, { values: { ...this.values } });
    if (route === "POST /api/configuration") {
      if (typeof body !== "object" || body === null || Array.isArray(body))
        return reply(500, fault("INVALID_PARAMETER", "Cannot convert body to JSON"));
      for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
        if (v === null) delete this.values[k];
        else this.values[k] = typeof v === "string" ? v : JSON.stringify(v);
      }
      return reply(204);
    }
    if (route.endsWith("/_updatefirewallrules")) return reply(200, this.newTask("firewall"));
    if (route === "POST /api/system/maildelivery/mgmt/_repair") return reply(200, this.newTask("repair"));
    const directory = this.directoryRoutes(route, body);
    if (directory) return reply(directory.status, directory.json);
    const taskId = /^GET \/api\/tasks\/([^/]+)$/.exec(route)?.[1];
    if (taskId !== undefined) {
      const task = this.tasks.get(decodeURIComponent(taskId));
      if (!task) return reply(404, fault("NOT_FOUND", `task ${taskId} not found`));
      return reply(200, this.poll(task));
    }
    return reply(404, fault("NOT_FOUND", `no service registered on path ${url.pathname}`));
  }

  private knows(method: string, path: string): boolean {
    if (this.knowsDirectory(method, path)) return true;
    if (path === "/api/system/security/_updatefirewallrules")
      return method === "POST" && this.o.firewall === "security";
    if (path === "/internal-api/system/firewall/_updatefirewallrules")
      return method === "POST" && this.o.firewall === "internal";
    return (
      (method === "POST" && path === "/api/auth/logout") ||
      (path === "/api/configuration" && (method === "GET" || method === "POST")) ||
      (method === "POST" && path === "/api/system/maildelivery/mgmt/_repair") ||
      (method === "GET" && /^\/api\/tasks\/[^/]+$/.test(path))
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
    this.tasks.set(id, { kind, polls: 0 });
    return { id };
  }

  private poll(task: FakeTask): unknown {
    task.polls++;
    const steps = 10;
    if (task.polls === 1)
      return { state: "NotStarted", steps, progress: 0, lastLogEntry: null, result: null };
    if (task.polls < this.o.pollsToFinish)
      return { state: "InProgress", steps, progress: 5, lastLogEntry: `${task.kind}: working`, result: null };
    if (this.o.failTask === task.kind)
      return { state: "InError", steps, progress: 7, lastLogEntry: this.o.errorLog, result: null };
    const result =
      task.kind === "repair" ? JSON.stringify({ ops: ["mailboxPostfixMaps"], repaired: 3 }) : null;
    const last = task.kind === "repair" ? "postfix maps rebuilt" : "firewall rules updated";
    return { state: "Success", steps, progress: steps, lastLogEntry: last, result };
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
