/**
 * Builds the application context (engine/app.ts) for one invocation: the event sinks (screen,
 * JSON, log file), the journal, the lock, signals and questions.
 */
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { createInterface } from "node:readline/promises";
import type { Settings } from "../engine/settings.js";
import type { Event, EventSink } from "../engine/events.js";
import type { App, CommonFlags } from "../engine/app.js";
import { FileJournal } from "../engine/journal.js";
import { RunLock } from "../engine/lock.js";
import { observeChildren } from "../adapters/process.js";
import { escapeControls } from "../engine/text.js";
import {
  FanoutSink,
  HumanSink,
  JsonSink,
  LogFileSink,
  ignoreBrokenTerminal,
  outputOptionsFromEnv,
  terminalGone,
  terminalHungUp,
} from "./output.js";

export function createApp(command: string, settings: Settings, flags: CommonFlags): App {
  const out = outputOptionsFromEnv(flags);
  const human = flags.json ? undefined : new HumanSink(out);
  const screen: EventSink = flags.json ? new JsonSink() : human!;
  const logFile = new LogFileSink(settings.logDir, (message) => screen.emit({ type: "warning", message }));
  const events = new FanoutSink([logFile, screen]);
  const controller = new AbortController();
  // Every concurrent child listens to the run's signal (a cold sync runs a dozen at once).
  setMaxListeners(64, controller.signal);
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) return;
    events.emit({
      type: "warning",
      message: `${sig} received: stopping cleanly (children are stopped, the journal stays consistent)`,
    });
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // The administrator's session dropped: the run goes on (its children are in sessions of their
  // own and never see the hang-up), its output only in the log; questions are answered no.
  const onHangup = (): void => {
    terminalHungUp();
    events.emit({
      type: "warning",
      message: `SIGHUP: the terminal hung up; the run goes on, its output is in ${logFile.path} (follow it: bm-migrate status --follow)`,
    });
  };
  ignoreBrokenTerminal();
  process.on("SIGHUP", onHangup);
  /** Renders what status --follow reads back from the log. */
  let follower: HumanSink | undefined;
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !flags.json;
  const journal = new FileJournal(settings.stateDir, (path) =>
    events.emit({
      type: "warning",
      message: `the journal's last line (${path}) was cut off, by a power cut or a kill during a write: it is ended now, and the step it recorded counts as not recorded`,
    }),
  );
  const lock = new RunLock(settings.stateDir);
  observeChildren({
    started: (pid, cmd) => lock.childStarted(pid, cmd),
    ended: (pid) => lock.childEnded(pid),
  });
  return {
    command,
    settings,
    flags,
    events,
    journal,
    lock,
    runId: `${new Date().toISOString().replace(/[:.]/g, "").slice(0, 15)}-${randomUUID().slice(0, 4)}`,
    signal: controller.signal,
    interactive,
    async confirm(question: string): Promise<boolean> {
      if (flags.yes) return true;
      if (!interactive || terminalGone()) {
        if (terminalGone())
          events.emit({
            type: "info",
            message: `No one can answer now (the terminal hung up): "${question}" — no`,
          });
        return false;
      }
      human?.finish();
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      // The terminal may hang up while the question waits: the interface then closes without an
      // answer, and fails to restore the terminal (EIO), which unhandled would end the run.
      const answer = await new Promise<string | undefined>((resolve) => {
        rl.on("error", () => resolve(undefined));
        rl.on("close", () => resolve(undefined));
        rl.question(`${question} [y/N] `).then(resolve, () => resolve(undefined));
      });
      rl.close();
      if (answer === undefined) {
        events.emit({ type: "info", message: `No answer (the terminal closed): "${question}" — no` });
        return false;
      }
      return /^y(es)?$/i.test(answer.trim());
    },
    print(text: string): void {
      // Also in the log: a follower from another session sees what the administrator would have.
      if (command !== "status") logFile.emit({ type: "info", message: text.trimEnd() });
      if (!flags.json && !terminalGone()) {
        human?.finish();
        const safe = escapeControls(text, { keepNewlines: true });
        process.stdout.write(safe.endsWith("\n") ? safe : `${safe}\n`);
      }
    },
    logCommand(host: string, cmd: string): void {
      events.emit({ type: "command", host, command: cmd });
    },
    showLogged(e: Event, at: string): void {
      if (flags.json) process.stdout.write(JSON.stringify({ ts: at, ...e }) + "\n");
      else (follower ??= new HumanSink({ ...out, json: false, tty: false, color: false })).emitAt(e, at);
    },
    close(): void {
      human?.finish();
      journal.close();
      observeChildren(undefined);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.off("SIGHUP", onHangup);
    },
  };
}
