/**
 * The journal: an append-only file of JSON records, one per line, each fsync'ed before the step it
 * records goes on. Everything `status`, `report` and resuming need is derived from it.
 * A step runs, then is logged done: a crash between the two re-runs it, so steps are idempotent.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** What a caller appends; the journal adds the time. */
export interface JournalEntry {
  type: string;
  /** The invocation that wrote it. */
  run?: string;
  phase?: string;
  /** The pass of a phase (each hot-sync is a pass; a resumed pass keeps its id). */
  pass?: string;
  step?: string;
  [key: string]: unknown;
}

/** One line of the journal. `type` says which; the other fields depend on it. */
export interface JournalRecord extends JournalEntry {
  /** ISO timestamp */
  t: string;
}

export interface Journal {
  append(record: JournalEntry): void;
  records(): JournalRecord[];
}

/** The journal kept in memory, for tests. */
export class MemoryJournal implements Journal {
  private readonly list: JournalRecord[] = [];
  append(record: JournalEntry): void {
    this.list.push({ t: new Date().toISOString(), ...record });
  }
  records(): JournalRecord[] {
    return [...this.list];
  }
}

export class FileJournal implements Journal {
  readonly path: string;
  private fd: number | undefined;
  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.path = join(stateDir, "journal.jsonl");
  }
  append(record: JournalEntry): void {
    if (this.fd === undefined) this.fd = openSync(this.path, "a", 0o600);
    const line = JSON.stringify({ t: new Date().toISOString(), ...record }) + "\n";
    writeSync(this.fd, line);
    fsyncSync(this.fd);
  }
  records(): JournalRecord[] {
    if (!existsSync(this.path)) return [];
    const out: JournalRecord[] = [];
    for (const line of readFileSync(this.path, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as JournalRecord);
      } catch {
        // A line cut by a crash mid-write: the step it began is treated as not recorded.
      }
    }
    return out;
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
