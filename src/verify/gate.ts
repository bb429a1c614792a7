/**
 * The swap's gate: the swap switches the origin off only after a passing verification newer than
 * the last finished cold sync. Read from the journal's one fold (engine/status.ts), where "newer"
 * is by position in the journal (append-only, so later lines are later events), not by the clock.
 */
import type { JournalRecord } from "../engine/journal.js";
import { foldJournal, type VerificationStatus } from "../engine/status.js";

/** The newest verification and whether it is newer than the last finished cold-sync pass. */
export function latestVerification(records: readonly JournalRecord[]): VerificationStatus {
  return foldJournal(records).verification;
}

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
export function swapGate(records: readonly JournalRecord[]): string | undefined {
  return gateProblem(latestVerification(records));
}
