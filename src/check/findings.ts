/**
 * What the preflight reports: findings, each with a stable id, a severity, what was seen on each
 * side and what to do about it (after Leapp's pre-upgrade report: inhibitors stop the run).
 */

export type Severity = "blocker" | "warning" | "info";

/** One result of the preflight. `origin`/`target` hold the values seen on each side. */
export interface Finding {
  /** Stable id, e.g. "bm-version"; `--skip-check ID` names it. */
  id: CheckId;
  severity: Severity;
  title: string;
  origin?: string;
  target?: string;
  detail?: string;
  remedy?: string;
  /** A blocker turned into a warning by `--skip-check`. */
  skipped?: boolean;
}

/** Every check id, in report order. Stable: scripts and `--skip-check` depend on them. */
export const CHECK_IDS = [
  "ssh",
  "facts",
  "bluemind-installed",
  "bm-version",
  "plugins",
  "external-url",
  "subscription",
  "rsync",
  "origin-tools",
  "pg-tools",
  "pg-origin",
  "pg-target",
  "pg-versions",
  "pg-extensions",
  "pg-timezones",
  "disk-space",
  "disk-inodes",
  "owners",
  "owner-ids",
  "fresh-target",
  "clock",
  "os",
  "services",
  "profile",
  "volume",
] as const;
export type CheckId = (typeof CHECK_IDS)[number];

/** Without SSH nothing else can run: this check cannot be skipped. */
export const UNSKIPPABLE: readonly CheckId[] = ["ssh", "facts"];

export function isCheckId(s: string): s is CheckId {
  return (CHECK_IDS as readonly string[]).includes(s);
}

const SEVERITY_ORDER: Record<Severity, number> = { blocker: 0, warning: 1, info: 2 };

/** Blockers first, then warnings, then information; within each, the order of CHECK_IDS. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      CHECK_IDS.indexOf(a.id) - CHECK_IDS.indexOf(b.id),
  );
}

/** Blockers named by `--skip-check` become warnings that say so. */
export function applySkips(findings: readonly Finding[], skip: readonly string[]): Finding[] {
  return findings.map((f) =>
    f.severity === "blocker" && skip.includes(f.id)
      ? { ...f, severity: "warning", skipped: true, title: `${f.title} (skipped with --skip-check ${f.id})` }
      : f,
  );
}

export function blockers(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.severity === "blocker");
}

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const n: Record<Severity, number> = { blocker: 0, warning: 0, info: 0 };
  for (const f of findings) n[f.severity]++;
  return n;
}
