/**
 * What the engine tells the outside while it works. The CLI turns these into a live terminal
 * view, plain timestamped lines, or JSON lines (--json); the report reads their journaled twins.
 */
export type Event =
  | { type: "phase-started"; phase: string; pass?: string }
  | { type: "phase-finished"; phase: string; durationMs: number; summary?: string }
  | { type: "step-started"; step: string; title: string; host?: string }
  | {
      type: "progress";
      step: string;
      /** What is being worked on (a directory, a table). */
      current?: string;
      bytesDone?: number;
      bytesTotal?: number;
      filesDone?: number;
      filesTotal?: number;
      percent?: number;
      rateBytesPerSec?: number;
      etaSec?: number;
    }
  | {
      type: "step-finished";
      step: string;
      title: string;
      durationMs: number;
      summary: string;
      skipped?: boolean;
    }
  | { type: "step-failed"; step: string; title: string; durationMs: number; error: string; hint?: string }
  | { type: "info"; message: string; data?: Record<string, unknown> }
  | { type: "warning"; message: string; step?: string }
  | { type: "command"; host: string; command: string }
  | {
      /** The outage users feel (origin's stop until BlueMind answers on the target), measured. */
      type: "outage";
      startedAt: string;
      endedAt?: string;
      ms?: number;
      ongoing: boolean;
      parts: { name: string; ms: number }[];
      /** The cold phase alone (the cold sync's own downtime record). */
      coldSyncMs?: number;
    };

export interface EventSink {
  emit(event: Event): void;
}

/** Collects events, for tests. */
export class RecordingSink implements EventSink {
  readonly events: Event[] = [];
  emit(event: Event): void {
    this.events.push(event);
  }
}
