/**
 * The commands, their descriptions and their own options. A command without `run` is announced
 * in --help and says plainly that it is not built yet.
 */
import { Option } from "commander";
import type { App } from "./app.js";
import { report } from "../commands/report.js";
import { hotSyncCommand } from "../commands/hotSync.js";
import { coldSyncCommand } from "../commands/coldSync.js";

export interface CommandSpec {
  name: string;
  description: string;
  options?: Option[];
  run?: (app: App, opts: Record<string, unknown>) => Promise<number>;
}

const yes = () => new Option("-y, --yes", "do not ask for confirmation (needed when not interactive)");
const dryRun = () => new Option("--dry-run", "print the plan (steps and commands per host) and do nothing");

export const COMMANDS: CommandSpec[] = [
  { name: "check", description: "preflight: inspect both servers and report blockers, warnings and facts" },
  {
    name: "hot-sync",
    description: "copy the data directories while the origin keeps serving (repeatable)",
    options: [dryRun()],
    run: (app) => hotSyncCommand(app),
  },
  {
    name: "cold-sync",
    description: "downtime: stop services on both, final copy, databases and configuration",
    options: [yes(), dryRun()],
    run: (app, opts) => coldSyncCommand(app, opts),
  },
  { name: "verify", description: "prove the target holds exactly what the origin holds" },
  { name: "swap", description: "stop the origin for good and give the target its place" },
  {
    name: "post",
    description: "BlueMind's post-migration admin steps (firewall, mail maintenance, my networks)",
  },
  {
    name: "rollback",
    description: "before the swap: restart the origin's services and describe the target's state",
    options: [yes()],
  },
  {
    name: "status",
    description: "where the migration stands: phases, steps, times, volumes, what to run next",
  },
  {
    name: "run",
    description: "all phases in order, asking before the downtime and before the swap",
    options: [yes()],
  },
  {
    name: "report",
    description: "write the migration report (one self-contained HTML file)",
    options: [
      new Option(
        "--out <file>",
        "where to write it (default <state-dir>/reports/migration-report-<time>.html)",
      ),
    ],
    run: (app, opts) => report(app, opts),
  },
];
