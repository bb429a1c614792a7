/**
 * What `swap` asks before it switches the origin off: is there a passing verification newer than
 * the last finished cold sync? Read from the journal's one fold (engine/status.ts), where "newer"
 * is by position in the journal (append-only, so later lines are later events), not by the clock.
 */
import type { JournalRecord } from "../engine/journal.js";
import { foldJournal, type VerificationStatus } from "../engine/status.js";

export type { VerificationStatus };

/** The newest verification and whether it is newer than the last finished cold-sync pass. */
export function latestVerification(records: readonly JournalRecord[]): VerificationStatus {
  return foldJournal(records).verification;
}
