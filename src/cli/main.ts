/**
 * The command line: parses flags (commander), validates settings (zod), builds the App, runs one
 * command and sets the exit code. The only place that exits.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { ConfigError, ExitCode, describeError } from "../engine/errors.js";
import { preferNewestPostgresBinaries } from "../adapters/pgTools.js";
import { DEFAULT_CONFIG_FILE, DEFAULT_LOG_DIR, DEFAULT_STATE_DIR, loadSettings } from "../engine/settings.js";
import { escapeControls, safeJson } from "../engine/text.js";
import { createApp } from "./app.js";
import type { App, CommonFlags } from "../engine/app.js";
import { COMMANDS, type CommandSpec } from "./commands.js";

/** Set by the single-file build (scripts/package.sh, esbuild --define): no package.json there. */
declare const BM_MIGRATE_VERSION: string | undefined;
const pkg =
  typeof BM_MIGRATE_VERSION === "string"
    ? { version: BM_MIGRATE_VERSION }
    : (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
        version: string;
      });

function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new ConfigError(`${name} takes a whole number, not '${v}'`);
    return Number(v);
  };
}

function addCommonOptions(cmd: Command): Command {
  return cmd
    .option("--origin <[user@]host>", "the origin server (user defaults to root)")
    .option("-c, --config <file>", `configuration file (default ${DEFAULT_CONFIG_FILE} when present)`)
    .option("--state-dir <dir>", `journal, dumps and reports (default ${DEFAULT_STATE_DIR})`)
    .option("--log-dir <dir>", `log files (default ${DEFAULT_LOG_DIR})`)
    .option("--json", "one JSON object per line on stdout")
    .option("-q, --quiet", "only warnings, errors and summaries")
    .addOption(new Option("--bwlimit <KiB/s>", "limit rsync's bandwidth").argParser(positiveInt("--bwlimit")))
    .addOption(
      new Option("--db-jobs <n>", "tables compared and copied at once by the database delta").argParser(
        positiveInt("--db-jobs"),
      ),
    )
    .addOption(new Option("--profile <id>", "force the version profile").choices(["3.5", "4", "5", "5.2"]));
}

export async function main(argv: string[]): Promise<number> {
  preferNewestPostgresBinaries();
  const program = new Command();
  let exitCode: number = ExitCode.ok;
  program
    .name("bm-migrate")
    .description(
      "Move a running BlueMind server (the origin) onto this server (the target), with minimal downtime.\n" +
        "Run as root on the target. Phases: check, hot-sync (repeatable), cold-sync (downtime), verify, swap, post.",
    )
    .version(pkg.version, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  for (const spec of COMMANDS) {
    const cmd = addCommonOptions(program.command(spec.name).description(spec.description));
    for (const o of spec.options ?? []) cmd.addOption(o);
    cmd.exitOverride();
    cmd.action(async (opts: Record<string, unknown>) => {
      exitCode = await runCommand(spec, opts);
    });
  }
  program.addHelpText(
    "after",
    "\nExit codes: 0 done; 1 a step failed (run the same command again to resume); 2 usage or configuration error; 3 preflight found blockers.",
  );
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === "commander.helpDisplayed" ||
        err.code === "commander.version" ||
        err.code === "commander.help"
      )
        return ExitCode.ok;
      return ExitCode.usage;
    }
    const d = describeError(err);
    process.stderr.write(
      escapeControls(`bm-migrate: ${d.message}\n${d.hint ? `next: ${d.hint}\n` : ""}`, {
        keepNewlines: true,
      }),
    );
    return d.exitCode;
  }
  return exitCode;
}

async function runCommand(spec: CommandSpec, opts: Record<string, unknown>): Promise<number> {
  const flags: CommonFlags = {
    json: Boolean(opts["json"]),
    quiet: Boolean(opts["quiet"]),
    yes: Boolean(opts["yes"]),
    dryRun: Boolean(opts["dryRun"]),
  };
  let app: App | undefined;
  try {
    const configFile = typeof opts["config"] === "string" ? opts["config"] : DEFAULT_CONFIG_FILE;
    const settings = loadSettings({
      flags: {
        origin: opts["origin"],
        stateDir: opts["stateDir"],
        logDir: opts["logDir"],
        bwlimit: opts["bwlimit"],
        dbJobs: opts["dbJobs"],
        catchUpAfter: opts["catchUpAfter"],
        profile: opts["profile"],
      },
      configFile,
      configExplicit: typeof opts["config"] === "string",
    });
    if (!spec.run) {
      throw new ConfigError(`'${spec.name}' is not built yet in this version of bm-migrate`, {
        hint: "see the README for the commands available now",
      });
    }
    app = createApp(spec.name, settings, flags);
    return await spec.run(app, opts);
  } catch (err) {
    const d = describeError(err);
    if (flags.json) {
      process.stdout.write(
        safeJson({
          ts: new Date().toISOString(),
          type: "error",
          message: d.message,
          hint: d.hint,
          exitCode: d.exitCode,
        }) + "\n",
      );
    }
    process.stderr.write(
      escapeControls(`bm-migrate ${spec.name}: ${d.message}\n${d.hint ? `next: ${d.hint}\n` : ""}`, {
        keepNewlines: true,
      }),
    );
    return d.exitCode;
  } finally {
    app?.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bm-migrate: internal error: ${String(err instanceof Error ? err.stack : err)}\n`);
    process.exitCode = ExitCode.stepFailed;
  },
);
