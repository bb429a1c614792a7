/**
 * BlueMind's REST API as far as the post-migration steps need it: the paths, methods and JSON
 * shapes, which version has which firewall endpoint, and what its status codes mean. Checked
 * against BlueMind's sources (mdhender/bluemindfork; see also test/fakes/fakeCore.ts):
 * - IAuthentication `/auth/login?login=&origin=`, body = the password as a JSON string, answers
 *   a LoginResponse `{status: "Ok"|"Bad"|"Expired", authKey, message}` with HTTP 200 either way.
 * - The session key travels in `X-BM-ApiKey`. An unknown or expired key answers **401**
 *   AUTHENTICATION_FAIL "session id <key> is not valid" (RestServiceMethodHandler.java,
 *   RestResponse.invalidSession).
 * - A path no service serves answers **500** errorCode UNKNOWN (RestRootHandler.java's NOT_FOUND
 *   fault, answered 500 by RestHttpProxyHandler.java): never detect an endpoint by a 404.
 * - A void method answers 200 with an empty body.
 * - IInstallation `/system/installation/version` (GET) answers InstallationVersion
 *   `{softwareVersion, ...}` on 4.1 and on 5.x: ask the core its version, then choose.
 * - Firewall: ISecurityMgmt `/api/system/security/_updatefirewallrules` on 4.x; every 5.x has only
 *   IInternalFirewallMgmt `/internal-api/system/firewall/_updatefirewallrules` (removed from the
 *   public API on the 5.0 line, commit a5d739ce, 2023-05), served on the core's port 8090 only.
 * - IMailDeliveryMgmt `/system/maildelivery/mgmt/_repair` (POST, TaskRef, admin0 only): its task
 *   only marks the postfix maps dirty (PostfixMgmt.java); see postfixMaps.ts.
 * - ISystemConfiguration `/configuration`: GET answers SystemConf `{values: {...}}`, POST takes the
 *   changed keys as a map, sanitizes them (see mynetworks.ts) and answers 200, empty.
 * - ITask `/tasks/{id}` (GET) answers TaskStatus `{state, steps, progress, lastLogEntry, result}`,
 *   `/tasks/{id}/_currentLogs` the log lines so far (ITask.java, 4.1 and 5.x).
 */
import type { HttpMethod } from "../adapters/http.js";

/** Where the core listens on the server itself. */
export const DEFAULT_CORE_URL = "http://localhost:8090";
/** An admin0 session key kept by BlueMind for bm-cli; readable by root only. */
export const CORE_TOKEN_FILE = "/etc/bm/bm-core.tok";
export const ADMIN_LOGIN = "admin0@global.virt";
export const API_KEY_HEADER = "X-BM-ApiKey";
/** The `origin` BlueMind records for our sessions. */
export const LOGIN_ORIGIN = "bm-migrate";
/** The system configuration key holding postfix's mynetworks. */
export const MYNETWORKS_KEY = "mynetworks";

export interface Endpoint {
  method: HttpMethod;
  path: string;
}

export const LOGIN: Endpoint = { method: "POST", path: "/api/auth/login" };
export const LOGOUT: Endpoint = { method: "POST", path: "/api/auth/logout" };
export const FIREWALL_SECURITY: Endpoint = {
  method: "POST",
  path: "/api/system/security/_updatefirewallrules",
};
export const FIREWALL_INTERNAL: Endpoint = {
  method: "POST",
  path: "/internal-api/system/firewall/_updatefirewallrules",
};
export const MAIL_REPAIR: Endpoint = { method: "POST", path: "/api/system/maildelivery/mgmt/_repair" };
export const CONFIGURATION_GET: Endpoint = { method: "GET", path: "/api/configuration" };
export const CONFIGURATION_SET: Endpoint = { method: "POST", path: "/api/configuration" };
export const INSTALLATION_VERSION: Endpoint = { method: "GET", path: "/api/system/installation/version" };
export const taskStatus = (id: string): Endpoint => ({
  method: "GET",
  path: `/api/tasks/${encodeURIComponent(id)}`,
});
export const taskLogs = (id: string): Endpoint => ({
  method: "GET",
  path: `/api/tasks/${encodeURIComponent(id)}/_currentLogs`,
});

/** What IInstallation.getVersion answers. */
export interface InstallationVersion {
  softwareVersion?: string | null;
  versionName?: string | null;
}

/** The same steps by hand, for hints. */
export const CLI_EQUIVALENTS = {
  firewall: "bm-cli maintenance update-fw",
  repair: "bm-cli maintenance repair --ops mailboxPostfixMaps",
  mynetworks: (value: string) => `bm-cli sysconf set mynetworks -v "${value}"`,
} as const;

/** "Ok", "Bad", "Expired"... (BlueMind may add others). */
export type LoginStatus = string;

export interface LoginResponse {
  status: LoginStatus;
  authKey?: string | null;
  message?: string | null;
}

export interface TaskRef {
  id: string;
}

export type TaskState = "NotStarted" | "InProgress" | "InError" | "Success";

export interface TaskStatus {
  state: TaskState;
  steps?: number;
  progress?: number;
  lastLogEntry?: string | null;
  result?: string | null;
}

export interface SystemConf {
  values: Record<string, string | null>;
}

export function isTaskRef(v: unknown): v is TaskRef {
  return typeof v === "object" && v !== null && typeof (v as { id?: unknown }).id === "string";
}

export function isTaskStatus(v: unknown): v is TaskStatus {
  const s = (v as { state?: unknown } | null)?.state;
  return s === "NotStarted" || s === "InProgress" || s === "InError" || s === "Success";
}

export const taskEnded = (s: TaskState): boolean => s === "InError" || s === "Success";

/** Parse "4.1.56", "5.2.3-1" or "5" into [major, minor]; undefined when it is not a version. */
export function majorMinor(version: string): [number, number] | undefined {
  const m = /^(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2] ?? "0")];
}

/**
 * The firewall endpoint of a version: the public ISecurityMgmt one on 4.x and older, the internal
 * one on every 5.x and later. Undefined when the version is unknown: no endpoint can be found by
 * trying (an unknown path answers 500 like any failure).
 */
export function firewallEndpoint(version: string | undefined): Endpoint | undefined {
  const mm = version ? majorMinor(version) : undefined;
  if (!mm) return undefined;
  return mm[0] >= 5 ? FIREWALL_INTERNAL : FIREWALL_SECURITY;
}

/** How the core answers a path no service serves (RestHttpProxyHandler: 500, errorCode UNKNOWN). */
export function isNoSuchService(status: number | undefined, excerpt: string): boolean {
  return status === 500 && /no service registered/i.test(excerpt);
}

/** An unknown or expired key (RestResponse.invalidSession). */
export const INVALID_SESSION_STATUS = 401;
