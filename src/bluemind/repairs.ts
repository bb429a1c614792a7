/**
 * BlueMind's own repairs, asked through its REST API once the target's core runs: the maintenance
 * operations of a domain's directory entry. Checked against BlueMind's source (mdhender/bluemindfork):
 * - IDirEntryMaintenance (net.bluemind.directory.api): `@Path("/directory/{domain}/{entryUid}/mgmt")`,
 *   `POST _maintenance/repair` with a RepairConfig, answers a TaskRef; `GET _maintenance` lists the
 *   operations available on that entry.
 * - RepairConfig (net.bluemind.directory.api): `{opIdentifiers: [..], dry, logToCoreLog, verbose}`.
 * - HollowDirectoryRepair (net.bluemind.directory.hollow.datamodel.producer.impl): operation
 *   `hollow.directory`, on DOMAIN entries: drops the domain's hollow snapshot and produces it again
 *   from the directory (what BlueMind's own server cloning runs afterwards).
 * - KeycloakRealmRepairSupport (net.bluemind.keycloak...): operation `domain.keycloak`, on DOMAIN
 *   entries (5.x): "Ensure that domain has a correct keycloak configuration (realm, client)".
 * - IDomains (net.bluemind.domain.api): `@Path("/domains")`, `@GET all()` answers the domains as
 *   ItemValue<Domain> `[{uid, value: {name, global, ...}}]`. A domain's directory entry has the
 *   domain's uid (the entry of kind DOMAIN), so the repair goes to /directory/{uid}/{uid}/mgmt.
 * The task is then followed with ITask (`GET /api/tasks/{id}`, see api.ts).
 */
import type { Endpoint } from "./api.js";
import type { RepairOp } from "./profiles.js";

export const DOMAINS_ALL: Endpoint = { method: "GET", path: "/api/domains" };

export function domainRepair(domainUid: string): Endpoint {
  const d = encodeURIComponent(domainUid);
  return { method: "POST", path: `/api/directory/${d}/${d}/mgmt/_maintenance/repair` };
}

export interface RepairConfig {
  opIdentifiers: string[];
  dry: boolean;
  logToCoreLog: boolean;
  verbose: boolean;
}

export function repairConfig(ops: readonly RepairOp[]): RepairConfig {
  return { opIdentifiers: [...ops], dry: false, logToCoreLog: true, verbose: false };
}

/** A domain as IDomains.all() answers it (only what the repairs need). */
export interface DomainItem {
  uid: string;
  value?: { name?: string; global?: boolean };
}

/**
 * The domains to repair: every domain but the global one (`global.virt`, admin0's), whose directory
 * has no users of its own. Anything not shaped like a domain list is refused.
 */
export function domainsToRepair(body: unknown): string[] {
  if (!Array.isArray(body)) throw new Error("GET /api/domains did not answer a list");
  return (body as DomainItem[])
    .filter((d) => typeof d?.uid === "string" && d.value?.global !== true && d.uid !== "global.virt")
    .map((d) => d.uid);
}

/** The same repair by hand, for hints. */
export const repairByHand = (ops: readonly RepairOp[], domain: string): string =>
  `bm-cli maintenance repair --ops ${ops.join(",")} ${domain}`;
