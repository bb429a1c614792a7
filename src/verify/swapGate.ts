/**
 * The swap's gate in words: the swap switches the origin off only after a passing verification
 * newer than the last cold sync (see gate.ts for how the journal says so).
 */
import { latestVerification, type VerificationStatus } from "./gate.js";
import type { JournalRecord } from "../engine/journal.js";

/** Why the gate is closed, in words; undefined when it is open. */
export function gateProblem(v: VerificationStatus): string | undefined {
  if (v.passing) return undefined;
  if (!v.coldSync) return "no cold sync has finished yet";
  if (!v.latest) return "no verification has been run";
  if (!v.newerThanColdSync)
    return `the last verification (${v.latest.t}) is older than the last cold sync (${v.coldSync.t})`;
  const n = v.latest.differenceCount ?? v.latest.differences.length;
  return `the last verification (${v.latest.t}) found ${n} difference(s)`;
}

/** The gate as the journal has it now: why the swap would be refused, or undefined. */
export function swapGate(records: JournalRecord[]): string | undefined {
  return gateProblem(latestVerification(records));
}
