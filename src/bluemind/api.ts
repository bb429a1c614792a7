/**
 * BlueMind's REST API as far as the post-migration steps need it: the paths, methods and JSON
 * shapes, and which version has which firewall endpoint. Checked against BlueMind's sources
 * (net.bluemind.*.api interfaces and the REST layer):
 * - IAuthentication `/auth/login?login=&origin=`, body = the password as a JSON string, answers
 *   a LoginResponse `{status: "Ok"|"Bad"|..., authKey, message}` with HTTP 200 either way.
 * - The session key travels in the `X-BM-ApiKey` header. An unknown key is a ServerFault
 *   PERMISSION_DENIED "session id <key> is not valid", answered with HTTP 403 and
 *   `{errorCode, errorType, message}`; NOT_FOUND is 404 and every other fault 500.
 * - ISecurityMgmt `/system/security/_updatefirewallrules` (POST, TaskRef); later versions moved it
 *   to the internal IInternalFirewallMgmt `/system/firewall/_updatefirewallrules`, served under
 *   `/internal-api`, and to `bm-cli maintenance update-fw`.
 * - IMailDeliveryMgmt `/system/maildelivery/mgmt/_repair` (POST, TaskRef).
 * - ISystemConfiguration `/configuration`: GET answers SystemConf `{values: {...}}`, POST takes
 *   the changed keys as a map and answers 204.
 * - ITask `/tasks/{id}` (GET) answers TaskStatus `{state, steps, progress, lastLogEntry, result}`.
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
export const taskStatus = (id: string): Endpoint => ({
  method: "GET",
  path: `/api/tasks/${encodeURIComponent(id)}`,
});

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
 * The firewall endpoint a version has: the public ISecurityMgmt one up to 5.1, the internal one
 * from 5.2 on (unknown versions: the public one). The other is the fallback, used only when the
 * first answers 404 (the path is not registered on this core), never after any other failure.
 */
export function firewallEndpoints(version: string | undefined): { first: Endpoint; fallback: Endpoint } {
  const mm = version ? majorMinor(version) : undefined;
  const internal = mm !== undefined && (mm[0] > 5 || (mm[0] === 5 && mm[1] >= 2));
  return internal
    ? { first: FIREWALL_INTERNAL, fallback: FIREWALL_SECURITY }
    : { first: FIREWALL_SECURITY, fallback: FIREWALL_INTERNAL };
}
