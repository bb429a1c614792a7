/**
 * What every command gets: validated settings, the event sinks, the journal, the run's abort
 * signal (Ctrl-C) and a way to ask the administrator. The CLI builds it once per invocation
 * (src/cli/app.ts) and hands it down; nothing below the CLI knows how it is rendered.
 */
import type { Settings } from "./settings.js";
import type { Event, EventSink } from "./events.js";
import type { FileJournal } from "./journal.js";
import type { RunLock } from "./lock.js";

export interface CommonFlags {
  json?: boolean;
  quiet?: boolean;
  yes?: boolean;
  dryRun?: boolean;
}

export interface App {
  readonly command: string;
  readonly settings: Settings;
  readonly flags: CommonFlags;
  readonly events: EventSink;
  readonly journal: FileJournal;
  readonly lock: RunLock;
  readonly runId: string;
  readonly signal: AbortSignal;
  /** stdin and stdout are a terminal and --json is off: questions can be asked. */
  readonly interactive: boolean;
  confirm(question: string): Promise<boolean>;
  /** Text for people on stdout (nothing with --json: JSON lines only there). */
  print(text: string): void;
  logCommand(host: string, command: string): void;
  /**
   * Show an event read back from the log (status --follow) as a run shows it, stamped with the
   * time it was logged. The CLI renders it: layers below never import a renderer.
   */
  showLogged(event: Event, at: string): void;
  close(): void;
}
