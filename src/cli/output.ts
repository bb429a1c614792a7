/**
 * Where events go: a live view on a terminal, plain timestamped lines elsewhere, JSON lines with
 * --json; and always the log file, with every command run.
 */
import type { Event, EventSink } from "../engine/events.js";
import { appendNoFollow } from "../engine/stateDir.js";
import { escapeControls, safeJson } from "../engine/text.js";
import { formatBytes, formatDuration } from "../engine/format.js";
import { logPaths } from "../engine/paths.js";

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  tty: boolean;
  color: boolean;
  stream?: NodeJS.WritableStream;
}

export function outputOptionsFromEnv(flags: { json?: boolean; quiet?: boolean }): OutputOptions {
  const tty = Boolean(process.stdout.isTTY) && !flags.json;
  return {
    json: Boolean(flags.json),
    quiet: Boolean(flags.quiet),
    tty,
    color: tty && !process.env["NO_COLOR"],
  };
}

/**
 * The terminal is gone (SIGHUP: the administrator's SSH session dropped). From then on nothing is
 * written to stdout or stderr (a write to a hung-up terminal fails with EIO, and would end the
 * run); the log file keeps everything, and `bm-migrate status --follow` shows it from a new session.
 */
let hungUp = false;
export function terminalHungUp(): void {
  hungUp = true;
}
export function terminalGone(): boolean {
  return hungUp;
}
/** Writes to a terminal that has gone away fail: they must not end the run. */
export function ignoreBrokenTerminal(): void {
  for (const s of [process.stdout, process.stderr])
    if (s.listenerCount("error") === 0)
      s.on("error", () => {
        hungUp = true;
      });
}

export class JsonSink implements EventSink {
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}
  emit(event: Event): void {
    if (hungUp) return;
    this.out.write(safeJson({ ts: new Date().toISOString(), ...event }) + "\n");
  }
}

const paint = (on: boolean, code: string, s: string): string => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

export class HumanSink implements EventSink {
  private live = "";
  /** When the event being shown happened, if not now (a log's line shown later: status --follow). */
  private at: string | undefined;
  private readonly out: NodeJS.WritableStream;
  private readonly progress = new Map<string, string>();
  constructor(private readonly o: OutputOptions) {
    this.out = o.stream ?? process.stdout;
  }

  /** `text`'s parts from elsewhere are escaped already (see emit); only our own colours are raw. */
  private line(text: string): void {
    if (hungUp && !this.o.stream) return;
    if (this.o.tty) this.out.write("\r\x1b[K");
    const stamp = this.o.tty ? "" : `${(this.at ?? new Date().toISOString()).slice(11, 19)} `;
    this.out.write(`${stamp}${text}\n`);
    if (this.o.tty && this.live) this.out.write(this.live);
  }

  private lastDraw = 0;

  /** One live line, never wider than the terminal (a wrapped line could not be redrawn in place). */
  private redrawLive(force = false): void {
    if (!this.o.tty || this.o.quiet || hungUp) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = Math.max(20, ((this.out as NodeJS.WriteStream).columns ?? 100) - 1);
    const parts = [...this.progress.values()];
    const text = parts.length ? `  … ${parts.join(" | ")}` : "";
    const cut = text.length > width ? `${text.slice(0, width - 1)}…` : text;
    this.live = cut ? paint(this.o.color, "2", cut) : "";
    this.out.write(`\r\x1b[K${this.live}`);
  }

  emit(event: Event): void {
    const c = this.o.color;
    const e = escapeEvent(event);
    switch (e.type) {
      case "phase-started":
        if (!this.o.quiet) this.line(paint(c, "1", `== ${e.phase}${e.pass ? ` (pass ${e.pass})` : ""}`));
        break;
      case "phase-finished":
        this.line(
          paint(
            c,
            "1",
            `== ${e.phase} finished in ${formatDuration(e.durationMs)}${e.summary ? `: ${e.summary}` : ""}`,
          ),
        );
        break;
      case "step-started":
        if (!this.o.quiet) this.line(`-> ${e.title}${e.host ? paint(c, "2", ` [${e.host}]`) : ""}`);
        break;
      case "progress": {
        const bits: string[] = [];
        if (e.current) bits.push(e.current);
        if (e.percent !== undefined) bits.push(`${e.percent}%`);
        if (e.bytesDone !== undefined) bits.push(formatBytes(e.bytesDone));
        if (e.filesDone !== undefined)
          bits.push(`${e.filesDone}${e.filesTotal ? `/${e.filesTotal}` : ""} files`);
        if (e.rateBytesPerSec) bits.push(`${formatBytes(e.rateBytesPerSec)}/s`);
        if (e.etaSec !== undefined) bits.push(`ETA ${formatDuration(e.etaSec * 1000)}`);
        this.progress.set(e.step, bits.join(" "));
        this.redrawLive();
        break;
      }
      case "step-finished":
        this.progress.delete(e.step);
        if (!this.o.quiet)
          this.line(
            `   ${paint(c, "32", "ok")} ${e.title}: ${e.summary}${e.skipped ? "" : paint(c, "2", ` (${formatDuration(e.durationMs)})`)}`,
          );
        this.redrawLive(true);
        break;
      case "step-failed":
        this.progress.delete(e.step);
        this.line(`   ${paint(c, "31", "FAILED")} ${e.title}: ${e.error}`);
        if (e.hint) this.line(`   next: ${e.hint}`);
        this.redrawLive();
        break;
      case "info":
        if (!this.o.quiet) this.line(e.message);
        break;
      case "warning":
        this.line(paint(c, "33", `warning: ${e.message}`));
        break;
      case "outage":
        this.line(
          paint(
            c,
            "1",
            e.ongoing || e.ms === undefined
              ? `Outage so far: ${formatDuration((this.at ? Date.parse(this.at) : Date.now()) - Date.parse(e.startedAt))} (since ${e.startedAt.slice(11, 19)} UTC; it ends when BlueMind answers on the target)`
              : `Outage: ${formatDuration(e.ms)} from the origin's stop (${e.startedAt.slice(11, 19)} UTC) until BlueMind answered on the target (${e.endedAt?.slice(11, 19) ?? "?"} UTC): ${e.parts.map((p) => `${p.name === "between" ? "between commands" : p.name} ${formatDuration(p.ms)}`).join(", ")}`,
          ),
        );
        break;
      case "command":
        break; // in the log file only
    }
  }

  /** An event that happened at `at` (ISO time), shown with that time rather than now. */
  emitAt(event: Event, at: string): void {
    this.at = at;
    try {
      this.emit(event);
    } finally {
      this.at = undefined;
    }
  }

  /** Leave the terminal clean (no live line). */
  finish(): void {
    if (this.o.tty && this.live && !hungUp) this.out.write("\r\x1b[K");
    this.live = "";
  }
}

/** Every string of an event with its control characters escaped (a message's own line breaks kept). */
export function escapeEvent<E extends Event>(e: E): E {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e))
    out[k] = typeof v === "string" ? escapeControls(v, { keepNewlines: true }) : v;
  return out as E;
}

/**
 * The log file: every event and every command, one timestamped line each (secrets removed
 * upstream). The log directory is checked (or created) by the first line, never followed through a
 * symlink; a log that cannot be written is said once on the terminal, not silently dropped.
 */
export class LogFileSink implements EventSink {
  readonly path: string;
  private broken = false;
  constructor(
    logDir: string,
    private readonly onBroken?: (why: string) => void,
  ) {
    this.path = logPaths(logDir).log;
  }
  emit(e: Event): void {
    if (this.broken || e.type === "progress") return;
    try {
      appendNoFollow(this.path, `${new Date().toISOString()} ${safeJson(e)}\n`);
    } catch (err) {
      this.broken = true;
      this.onBroken?.(`cannot write the log ${this.path}: ${(err as Error).message}`);
    }
  }
}

export class FanoutSink implements EventSink {
  constructor(private readonly sinks: EventSink[]) {}
  emit(e: Event): void {
    for (const s of this.sinks) s.emit(e);
  }
}
