/**
 * The comparison of two database manifests (database/manifest.ts): what differs between the
 * origin's and the target's schema, sequences and rows, with exactly what a change of PostgreSQL
 * major version implies accepted and listed.
 */
import type { Difference } from "./compare.js";
import { crossesPublicSchemaChange } from "../database/majorUpgrade.js";
import type { DbManifest } from "../database/manifest.js";

/** Totals of the origin's side. */
export interface DbCounts {
  tables: number;
  rows: number;
}

/** The server's major version, as its manifest says (0 when it does not). */
export function manifestMajor(m: DbManifest): number {
  return Number(m.get("server\x1fpostgresql")?.["major"] ?? 0);
}

/** Schema public's owner and grants as a release before 15 makes them: its owner's, CREATE for all. */
const text = (v: unknown): string => (typeof v === "string" ? v : "");

const isPre15Public = (a: Record<string, unknown>): boolean => {
  const owner = text(a["owner"]);
  const grants = text(a["grants"]);
  const who = /^[a-z_][a-z0-9_$]*$/.test(owner) ? owner : `"${owner.replace(/"/g, '""')}"`;
  return grants === "" || grants === `{${who}=UC/${who},=UC/${who}}`;
};

/** ... and as 15 and later make them: pg_database_owner's, USAGE for all. */
const isPost15Public = (a: Record<string, unknown>): boolean =>
  a["owner"] === "pg_database_owner" &&
  ["", "{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}"].includes(text(a["grants"]));

/** The release whose ALL PRIVILEGES on a table or view include MAINTAIN (`m` in an ACL). */
const MAINTAIN_PRIVILEGE = 17;
const RELATIONS = new Set(["table", "view", "materialized view", "foreign table"]);

/** An ACL of a release before 17 as 17 writes the same grants: ALL (`arwdDxt`) gained MAINTAIN. */
export function withMaintain(acl: string): string {
  return acl.replace(/=arwdDxt\//g, "=arwdDxtm/").replace(/=a\*r\*w\*d\*D\*x\*t\*\//g, "=a*r*w*d*D*x*t*m*/");
}

/**
 * The origin's attributes of one object as the target's major version writes the same thing, and
 * the words for each change made; only what a change of major version implies: schema public's
 * owner and grants, each side as its own version makes them (see phases/majorUpgrade.ts), and
 * ALL PRIVILEGES on a relation, which includes MAINTAIN from 17 on.
 */
export function asOnTargetVersion(
  kind: string,
  name: string,
  o: Record<string, unknown>,
  t: Record<string, unknown>,
  originMajor: number,
  targetMajor: number,
): { attrs: Record<string, unknown>; notes: string[] } {
  if (
    kind === "schema" &&
    name === "public" &&
    crossesPublicSchemaChange(originMajor, targetMajor) &&
    isPre15Public(o) &&
    isPost15Public(t)
  ) {
    return {
      attrs: { ...o, owner: t["owner"], grants: t["grants"] },
      notes: [
        `schema public: owner ${show(o["owner"])} and grants ${show(o["grants"])} on PostgreSQL ${originMajor}, ${show(t["owner"])} and ${show(t["grants"])} on ${targetMajor}: each as its version makes them`,
      ],
    };
  }
  const grants = text(o["grants"]);
  if (RELATIONS.has(kind) && originMajor < MAINTAIN_PRIVILEGE && targetMajor >= MAINTAIN_PRIVILEGE) {
    const on17 = withMaintain(grants);
    if (on17 !== grants)
      return {
        attrs: { ...o, grants: on17 },
        notes: [
          `${kind} ${name}: grants ${grants} on PostgreSQL ${originMajor} are ${on17} on ${targetMajor} (ALL includes MAINTAIN from 17 on)`,
        ],
      };
  }
  return { attrs: o, notes: [] };
}

/** Compare one database's manifests; each difference is a sentence. */
export function compareDbManifests(
  database: string,
  origin: DbManifest,
  target: DbManifest,
): { differences: Difference[]; counts: DbCounts; normalised: string[] } {
  const differences: Difference[] = [];
  const normalised: string[] = [];
  const counts: DbCounts = { tables: 0, rows: 0 };
  const [originMajor, targetMajor] = [manifestMajor(origin), manifestMajor(target)];
  const keys = [...new Set([...origin.keys(), ...target.keys()])].sort();
  for (const key of keys) {
    const [kind, name] = key.split("\x1f") as [string, string];
    const o = origin.get(key);
    const t = target.get(key);
    if (kind === "server") continue; // each side's version: what the comparison takes into account
    const adjusted = o && t ? asOnTargetVersion(kind, name, o, t, originMajor, targetMajor) : undefined;
    if (kind === "rows" && o) {
      counts.tables++;
      counts.rows += Number(o["rows"] ?? 0);
    }
    const where = `${database}: ${kind === "rows" ? "table" : kind === "sequence value" ? "sequence" : kind} ${name}`;
    const diff = (what: string): void => {
      differences.push({ where, what });
    };
    const contents = kind === "rows" || kind === "materialized view rows";
    if (contents && (!o || !t)) continue; // the table or view itself is reported missing or extra
    if (kind === "sequence value" && (!o || !t)) continue;
    if (!t) {
      diff("missing on target");
      continue;
    }
    if (!o) {
      diff("extra on target");
      continue;
    }
    if (contents && o["populated"] === undefined && t["populated"] === undefined) {
      if (o["rows"] !== t["rows"]) diff(`${String(o["rows"])} rows vs ${String(t["rows"])}`);
      else if (o["hash"] !== t["hash"])
        diff(`content differs (${String(o["rows"])} ${o["rows"] === 1 ? "row" : "rows"} on both)`);
      continue;
    }
    const before = differences.length;
    for (const attr of [...new Set([...Object.keys(o), ...Object.keys(t)])].sort()) {
      const a = o[attr];
      const b = t[attr];
      if (JSON.stringify(adjusted?.attrs[attr] ?? a) === JSON.stringify(b)) continue;
      if (attr === "definition") diff("definition differs");
      else if (kind === "sequence value") diff(`${attr} ${show(a)} vs ${show(b)}`);
      else diff(`${attr} differs: ${show(a)} vs ${show(b)}`);
    }
    // What the versions imply is accepted only where it makes the object equal.
    if (differences.length === before)
      normalised.push(...(adjusted?.notes ?? []).map((n) => `${database}: ${n}`));
  }
  return { differences, counts, normalised };
}

function show(v: unknown): string {
  if (v === undefined || v === null || v === "") return "(none)";
  return typeof v === "string" ? v : JSON.stringify(v);
}
