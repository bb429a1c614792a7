/**
 * The journal: an append-only file of JSON records, one per line. Everything `status`, `report` and
 * resuming need is derived from it. A step runs, then is logged done: a crash between the two
 * re-runs it, so steps are idempotent.
 *
 * Each record is written at once (in order, visible to any reader) and made durable by an fsync
 * that runs off the event loop: a synchronous one per record stalled every step running alongside
 * (12-13 ms each on a busy disk, 26 of them in a cold sync's downtime). The runner waits for
 * `flush` at the end of each stage and of the pass, so that a stage's records are on disk before
 * the next stage begins. A record lost to a crash before its fsync is a step re-run, as for a
 * crash during the step.
 */
import { close, fstatSync, fsync, fsyncSync, readSync, writeSync } from "node:fs";
import { openAppendNoFollow, readNoFollow } from "./stateDir.js";
import { statePaths } from "./paths.js";
import type { JournalEntry, JournalRecord } from "./records.js";

/** The records' types live with the journal's vocabulary (records.ts). */
export type { JournalEntry, JournalRecord } from "./records.js";

export interface Journal {
  append(record: JournalEntry): void;
  records(): JournalRecord[];
  /** Resolves once every record appended before the call is on disk. */
  flush(): Promise<void>;
}

/** The journal kept in memory, for tests. */
export class MemoryJournal implements Journal {
  private readonly list: JournalRecord[] = [];
  append(record: JournalEntry): void {
    this.list.push({ t: new Date().toISOString(), ...record } as JournalRecord);
  }
  records(): JournalRecord[] {
    return [...this.list];
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

export class FileJournal implements Journal {
  readonly path: string;
  private fd: number | undefined;
  /** Records written since the last fsync began. */
  private dirty = false;
  private syncing = false;
  private closing = false;
  private failed: Error | undefined;
  /** Callers of flush waiting for the next fsync to end. */
  private waiters: ((err?: Error) => void)[] = [];
  /**
   * Nothing is created here: the state directory is checked (or made) by the first append, so that
   * a command refused for its flags leaves nothing behind.
   * `onTornLine` is told when the journal's last line had no end (a power cut mid-write).
   */
  constructor(
    stateDir: string,
    private readonly onTornLine?: (path: string) => void,
  ) {
    this.path = statePaths(stateDir).journal;
  }
  append(record: JournalEntry): void {
    if (this.failed) throw new Error(`cannot write the journal ${this.path}: ${this.failed.message}`);
    if (this.fd === undefined) {
      this.fd = openAppendNoFollow(this.path);
      this.closing = false;
      this.endTornLine(this.fd);
    }
    const line = JSON.stringify({ t: new Date().toISOString(), ...record }) + "\n";
    writeSync(this.fd, line);
    this.dirty = true;
    this.sync();
  }
  /**
   * A line cut by a crash has no newline: the next record would be glued to it and lost with it.
   * End it first (it stays unreadable and is skipped, as before), and say so.
   */
  private endTornLine(fd: number): void {
    const size = fstatSync(fd).size;
    if (size === 0) return;
    const last = Buffer.alloc(1);
    // O_APPEND writes go to the end whatever the position; a positioned read does not move it.
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return;
    writeSync(fd, "\n");
    this.onTornLine?.(this.path);
  }
  flush(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.dirty && !this.syncing) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push((err) => (err ? reject(err) : resolve()));
      this.sync();
    });
  }
  /** One fsync at a time; records and flushes that come meanwhile are covered by the next one. */
  private sync(): void {
    if (this.syncing || this.fd === undefined) return;
    if (!this.dirty && this.waiters.length === 0) return;
    this.syncing = true;
    this.dirty = false;
    const waiting = this.waiters.splice(0);
    fsync(this.fd, (err) => {
      this.syncing = false;
      if (err) this.failed ??= err;
      for (const w of waiting) w(err ?? undefined);
      if (this.closing) this.closeNow();
      else this.sync();
    });
  }
  private closeNow(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    if (this.dirty) {
      try {
        fsyncSync(fd);
      } catch {
        /* the process is ending: what the kernel holds still reaches the disk */
      }
    }
    close(fd, () => undefined);
    for (const w of this.waiters.splice(0)) w();
  }
  records(): JournalRecord[] {
    const bytes = readNoFollow(this.path);
    if (!bytes) return [];
    const out: JournalRecord[] = [];
    for (const line of bytes.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as JournalRecord);
      } catch {
        // A line cut by a crash mid-write: the step it began is treated as not recorded.
      }
    }
    return out;
  }
  /** Closes the file once the fsync under way (if any) ends; what is pending is synced first. */
  close(): void {
    this.closing = true;
    if (!this.syncing) this.closeNow();
  }
}
