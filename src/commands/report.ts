/**
 * `bm-migrate report`: reads the journal (and the commands of the log file) and writes the
 * migration report, one self-contained HTML file. Reads only; takes no lock, so it can be run
 * while a phase is running, to show how far it got.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { privateDir } from "../engine/stateDir.js";
import { dirname, join, resolve } from "node:path";
import type { App } from "../engine/app.js";
import { ConfigError } from "../engine/errors.js";
import { renderReport } from "../report/html.js";
import { buildReportModel, commandsFromLog } from "../report/model.js";
import { logPaths, statePaths } from "../engine/paths.js";

/** `<stateDir>/reports/migration-report-20250614T200731Z.html` */
export function defaultReportPath(stateDir: string, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return join(statePaths(stateDir).reports, `migration-report-${stamp}.html`);
}

function readLogCommands(logDir: string): ReturnType<typeof commandsFromLog> {
  const file = logPaths(logDir).log;
  if (!existsSync(file)) return [];
  try {
    return commandsFromLog(readFileSync(file, "utf8"));
  } catch {
    return []; // an unreadable log costs the report its command list, nothing more
  }
}

/** What report takes from its flags. */
export interface ReportOptions {
  /** --out, resolved; absent: the default place in the state directory. */
  out?: string;
}

export function parseReportOptions(opts: Record<string, unknown>): ReportOptions {
  const out = opts["out"];
  return typeof out === "string" && out !== "" ? { out: resolve(out) } : {};
}

export function report(app: App, opts: ReportOptions): Promise<number> {
  const now = new Date();
  const out = opts.out ?? defaultReportPath(app.settings.stateDir, now);
  const model = buildReportModel(app.journal.records(), {
    now: now.getTime(),
    logCommands: readLogCommands(app.settings.logDir),
  });
  const html = renderReport(model);
  // The default place is in the state directory: used only once checked (root's alone).
  if (out.startsWith(`${app.settings.stateDir}/`)) privateDir(app.settings.stateDir);
  try {
    mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
    // Written beside and renamed, so a browser never opens half a report.
    const partial = `${out}.partial`;
    writeFileSync(partial, html, { mode: 0o600 }); // root only, like all state; copy it out to share it
    renameSync(partial, out);
  } catch (err) {
    throw new ConfigError(`cannot write the report to ${out}: ${(err as Error).message}`, {
      cause: err,
      hint: "choose another file with --out <file>",
    });
  }
  if (app.flags.json) app.events.emit({ type: "info", message: "report written", data: { path: out } });
  else app.print(out);
  return Promise.resolve(0);
}
