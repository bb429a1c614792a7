/**
 * The target must be a fresh install, not a server in use: the migration overwrites its databases
 * and data directories. A fresh BlueMind holds one or two directory users (admin0, admin) and a few
 * mailboxes; its data directories hold a few files. Once bm-migrate has synced, the target's data
 * directories are expected to hold the origin's data and only the databases are looked at; once a
 * cold sync has restored databases, neither is.
 */
import { formatCount } from "../engine/format.js";
import type { CheckContext } from "./context.js";
import type { Finding } from "./findings.js";
import type { PreflightFacts } from "./gather.js";

export const FRESH_MAX_USERS = 10;
export const FRESH_MAX_MAILBOXES = 10;
/**
 * A fresh install's spool, Cyrus databases and search index hold a few hundred files; a server in
 * use holds its users' mail, thousands of files at least. Between the two, the databases decide.
 */
export const FRESH_MAX_FILES = 10_000;

export function freshTargetFindings(f: PreflightFacts, ctx: CheckContext): Finding[] {
  const db = f.target.db;
  const dirs = f.target.storage?.dirs;
  if ((!db || !db.ok) && !dirs) return [];
  const files = dirs ? dirs.reduce((a, d) => a + d.paths, 0) : undefined;
  const reasons: string[] = [];
  const dbCounts = !f.databasesRestoredBefore;
  if (dbCounts && db?.users !== undefined && db.users > FRESH_MAX_USERS)
    reasons.push(`${db.users} directory users (a fresh install has about 2)`);
  if (dbCounts && db?.mailboxes !== undefined && db.mailboxes > FRESH_MAX_MAILBOXES)
    reasons.push(`${db.mailboxes} mailboxes (a fresh install has a few)`);
  if (files !== undefined && files > FRESH_MAX_FILES && !f.syncedBefore)
    reasons.push(
      `${formatCount(files)} files in its data directories (a fresh install has a few hundred at most)`,
    );
  const describe = (s: "origin" | "target"): string => {
    const d = f[s].db;
    const fs = f[s].storage?.dirs.reduce((a, x) => a + x.paths, 0);
    return [
      d?.ok ? `${d.users ?? "no"} directory users, ${d.mailboxes ?? "no"} mailboxes` : "databases not read",
      fs !== undefined ? `${formatCount(fs)} files in data directories` : "",
    ]
      .filter(Boolean)
      .join(", ");
  };
  const values = { origin: describe("origin"), target: describe("target") };
  if (!reasons.length)
    return [
      {
        id: "fresh-target",
        severity: "info",
        title: `the target looks like a fresh install${f.syncedBefore ? " (data directories already synced by bm-migrate)" : ""}`,
        ...values,
      },
    ];
  return [
    {
      id: "fresh-target",
      severity: ctx.forceOverwriteTarget ? "warning" : "blocker",
      title: ctx.forceOverwriteTarget
        ? "the target is in use and will be overwritten (--force-overwrite-target)"
        : "the target is not a fresh install: it looks like a server in use",
      ...values,
      detail: `On the target: ${reasons.join("; ")}. The migration replaces its databases and data directories.`,
      remedy:
        "make sure this is the right target: reinstall it fresh, or, to overwrite it anyway, add --force-overwrite-target",
    },
  ];
}
