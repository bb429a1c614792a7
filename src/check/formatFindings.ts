/** The preflight's report for people: blockers first, then warnings, then information. */
import { formatDuration } from "../engine/format.js";
import { countBySeverity, sortFindings, type Finding, type Severity } from "./findings.js";

export interface ReportMeta {
  origin: string;
  durationMs: number;
  /** When it was made (ISO). */
  at: string;
  /** The command to run again once fixed. */
  again: string;
}

const HEADINGS: Record<Severity, string> = {
  blocker: "BLOCKERS (the migration cannot start until they are fixed)",
  warning: "WARNINGS",
  info: "INFORMATION",
};

const indent = (text: string, pad: string) =>
  text
    .split("\n")
    .map((l) => pad + l)
    .join("\n");

export function formatFinding(f: Finding): string {
  const lines = [`[${f.id}] ${f.title}`];
  if (f.origin !== undefined) lines.push(indent(`origin: ${f.origin}`, "    "));
  if (f.target !== undefined) lines.push(indent(`target: ${f.target}`, "    "));
  if (f.detail) lines.push(indent(f.detail, "    "));
  if (f.remedy) lines.push(indent(`fix: ${f.remedy}`, "    "));
  return indent(lines.join("\n"), "  ");
}

export function formatFindings(findings: readonly Finding[], meta: ReportMeta): string {
  const n = countBySeverity(findings);
  const out = [
    `bm-migrate check: origin ${meta.origin}, target this machine, ${meta.at}`,
    `${n.blocker} blocker(s), ${n.warning} warning(s), ${n.info} information; checked in ${formatDuration(meta.durationMs)}`,
  ];
  const sorted = sortFindings(findings);
  for (const sev of ["blocker", "warning", "info"] as const) {
    const group = sorted.filter((f) => f.severity === sev);
    if (!group.length) continue;
    out.push("", HEADINGS[sev], ...group.map(formatFinding));
  }
  out.push(
    "",
    n.blocker
      ? `RESULT: ${n.blocker} blocker(s) stand: nothing was copied. Fix them, then run: ${meta.again}`
      : `RESULT: no blocker${n.warning ? ` (${n.warning} warning(s) to read)` : ""}: ready for bm-migrate hot-sync`,
  );
  return out.join("\n") + "\n";
}
