/**
 * What `swap` asks before it switches the origin off: is there a passing verification newer than
 * the last finished cold sync? Read from the journal only. "Newer" is by position in the journal
 * (append-only, so later lines are later events), not by the clock.
 */
import type { JournalRecord } from "../engine/journal.js";
import type { Difference } from "./compare.js";

/** The journal record `verify` writes. */
export interface VerifyResultRecord extends JournalRecord {
  type: "verify-result";
  ok: boolean;
  /** The first 200 differences. */
  differences: Difference[];
  /** Total number of differences (may exceed the ones kept). */
  differenceCount?: number;
  counts: { files: number; dirs: number; bytes: number; tables: number; rows: number };
  /** Percentage of data files whose content was compared, when not all. */
  sample?: number;
  /** The origin's BlueMind or postfix ran during the verification. */
  originRunning?: boolean;
  durationMs: number;
}

export interface VerificationStatus {
  /** The newest verify-result, if any. */
  latest?: VerifyResultRecord;
  /** The newest finished cold-sync pass, if any. */
  coldSync?: JournalRecord;
  /** `latest` was journaled after `coldSync` (false when either is missing). */
  newerThanColdSync: boolean;
  /** What swap requires: the newest verification passed, and it is newer than the cold sync. */
  passing: boolean;
}

export function isVerifyResult(r: JournalRecord): r is VerifyResultRecord {
  return r.type === "verify-result" && typeof r["ok"] === "boolean";
}

/** The newest verification and whether it is newer than the last finished cold-sync pass. */
export function latestVerification(records: readonly JournalRecord[]): VerificationStatus {
  let latestAt = -1;
  let coldAt = -1;
  records.forEach((r, i) => {
    if (isVerifyResult(r)) latestAt = i;
    else if (r.type === "pass-finished" && r.phase === "cold-sync") coldAt = i;
  });
  const latest = latestAt >= 0 ? (records[latestAt] as VerifyResultRecord) : undefined;
  const coldSync = coldAt >= 0 ? records[coldAt] : undefined;
  const newerThanColdSync = latestAt >= 0 && coldAt >= 0 && latestAt > coldAt;
  return {
    ...(latest ? { latest } : {}),
    ...(coldSync ? { coldSync } : {}),
    newerThanColdSync,
    passing: newerThanColdSync && latest!.ok,
  };
}
