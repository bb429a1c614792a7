/**
 * The commands, their descriptions and their own options. Each `run` hands commander's record to
 * the command's own parser (`parse<Command>Options`, at the top of its module), then calls the
 * command with the typed object alone. A command without `run` is announced in --help and says
 * plainly that it is not built yet.
 */
import { Option } from "commander";
import type { App } from "../engine/app.js";
import { PLAN_CHOICES, STOP_AFTER_PHASES } from "../engine/records.js";
import { checkCommand, parsePreflightOptions } from "../commands/check.js";
import { parsePostOptions, postCommand, postOptions } from "../commands/post.js";
import { parseReportOptions, report } from "../commands/report.js";
import { hotSyncCommand, parseHotSyncOptions } from "../commands/hotSync.js";
import { coldSyncCommand, parseColdSyncOptions } from "../commands/coldSync.js";
import { parseStatusOptions, statusCommand } from "../commands/status.js";
import { rollbackCommand } from "../commands/rollback.js";
import { parseVerifyOptions, verifyCommand } from "../commands/verify.js";
import { parseRunOptions, runCommand } from "../commands/run.js";
import { parseSwapFlags, swapCommand, swapOptions } from "../commands/swap.js";
import { dryRunOr, parsePlanOptions, planCommand, swapWithDryRun } from "../commands/plan.js";
import { initCommand, parseInitOptions } from "../commands/init.js";

export interface CommandSpec {
  name: string;
  description: string;
  options?: Option[];
  run?: (app: App, opts: Record<string, unknown>) => Promise<number>;
}

const yes = () => new Option("-y, --yes", "do not ask for confirmation (needed when not interactive)");
const catchUpAfter = () =>
  new Option(
    "--catch-up-after <seconds>",
    "before the downtime, catch up with a hot pass when the last one ended longer ago (default 60; 'never')",
  );
const skipCheck = () =>
  new Option(
    "--skip-check <id>",
    "turn one check's blocker into a warning (repeatable; journaled)",
  ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
const forceOverwrite = () =>
  new Option(
    "--force-overwrite-target",
    "accept a target that is already in use (its data will be replaced)",
  );
const dryRun = () => new Option("--dry-run", "print the plan (steps and commands per host) and do nothing");

export const COMMANDS: CommandSpec[] = [
  {
    name: "check",
    description: "preflight: inspect both servers and report blockers, warnings and facts",
    options: [skipCheck(), forceOverwrite(), dryRun()],
    run: dryRunOr("check", (app, opts) => checkCommand(app, parsePreflightOptions(opts))),
  },
  {
    name: "hot-sync",
    description: "copy the data directories while the origin keeps serving (repeatable)",
    options: [dryRun(), skipCheck(), forceOverwrite()],
    run: (app, opts) => hotSyncCommand(app, parseHotSyncOptions(opts)),
  },
  {
    name: "cold-sync",
    description: "downtime: stop services on both, final copy, databases and configuration",
    options: [yes(), catchUpAfter(), dryRun(), skipCheck(), forceOverwrite()],
    run: (app, opts) => coldSyncCommand(app, parseColdSyncOptions(opts)),
  },
  {
    name: "verify",
    description: "prove the target holds exactly what the origin holds",
    options: [
      new Option("--sample <percent>", "compare the content of only this share of data files (e.g. 10%)"),
      dryRun(),
    ],
    run: dryRunOr("verify", (app, opts) => verifyCommand(app, parseVerifyOptions(opts))),
  },
  {
    name: "swap",
    description: "stop the origin for good and give the target its place",
    options: [...swapOptions(), new Option("--dry-run", "the same as without --apply")],
    run: swapWithDryRun((app, opts) => swapCommand(app, parseSwapFlags(opts))),
  },
  {
    name: "post",
    description: "BlueMind's post-migration admin steps (firewall, mail maintenance, my networks)",
    options: [...postOptions(), dryRun()],
    run: dryRunOr("post", (app, opts) => postCommand(app, parsePostOptions(opts))),
  },
  {
    name: "rollback",
    description: "before the swap: restart the origin's services and describe the target's state",
    options: [yes(), dryRun()],
    run: dryRunOr("rollback", (app) => rollbackCommand(app)),
  },
  {
    name: "status",
    description: "where the migration stands: phases, steps, times, volumes, the outage, what to run next",
    options: [
      new Option(
        "--follow",
        "then show a running command's output live (from another session too), until it ends",
      ),
    ],
    run: (app, opts) => statusCommand(app, parseStatusOptions(opts)),
  },
  {
    name: "run",
    description: "all phases in order, asking before the downtime and before the swap",
    options: [
      yes(),
      catchUpAfter(),
      skipCheck(),
      forceOverwrite(),
      new Option("--sample <percent>", "verify: compare the content of only this share of data files"),
      new Option(
        "--stop-after <phase>",
        "end the run once this phase is done (the next run resumes)",
      ).choices([...STOP_AFTER_PHASES]),
      new Option(
        "--refresh-ahead-after <seconds>",
        "before the downtime, a verification ahead older than this is refreshed (a last hot pass, then what changed since); default 15",
      ).hideHelp(),
      // swap's and post's own options, except --apply (run applies) and --force (run never forces)
      ...swapOptions().filter((o) => o.long !== "--apply" && o.long !== "--force"),
      ...postOptions(),
      dryRun(),
    ],
    run: dryRunOr("all", (app, opts) => runCommand(app, parseRunOptions(opts))),
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
    run: (app, opts) => report(app, parseReportOptions(opts)),
  },
  {
    name: "plan",
    description:
      "print every phase's plan (steps, hosts, commands) from both servers' facts; changes nothing",
    options: [
      new Option("--phase <phase>", "only this phase's plan (default all)").choices([...PLAN_CHOICES]),
    ],
    run: (app, opts) => planCommand(app, parsePlanOptions(opts)),
  },
  {
    name: "init",
    description: "write a commented configuration file from what is found on both servers",
    options: [
      new Option("--out <file>", "where to write it (default /etc/bm-migrate.conf)"),
      new Option("--force", "replace an existing file"),
    ],
    run: (app, opts) => initCommand(app, parseInitOptions(opts)),
  },
];
