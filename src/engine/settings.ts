/**
 * Validated settings: command-line flags over the configuration file over defaults. Validation
 * collects every problem and reports them together, before anything is done.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, normalize } from "node:path";
import { z } from "zod";
import { parseDestination, type SshTarget } from "./destination.js";
import { ConfigError } from "./errors.js";

export const DEFAULT_STATE_DIR = "/var/lib/bm-migrate";
export const DEFAULT_LOG_DIR = "/var/log/bm-migrate";
export const DEFAULT_CONFIG_FILE = "/etc/bm-migrate.conf";

/** An absolute, normalized path that is not `/` and has no `..`. */
export function safeAbsolutePath(label: string) {
  return z.string().superRefine((p, ctx) => {
    const problem = pathProblem(p);
    if (problem) ctx.addIssue({ code: "custom", message: `${label} ${problem}` });
  });
}

export function pathProblem(p: string): string | undefined {
  if (p.trim() === "") return "is empty";
  if (!isAbsolute(p)) return `must be an absolute path, not '${p}'`;
  if (p.split("/").includes("..")) return `must not contain '..' ('${p}')`;
  if (normalize(p) === "/" || /^\/+$/.test(p)) return "must not be /";
  return undefined;
}

const destination = z.string().transform((s, ctx) => {
  const d = parseDestination(s);
  if (!d) {
    ctx.addIssue({ code: "custom", message: `origin '${s}' is not [user@]host[:port]` });
    return z.NEVER;
  }
  return d;
});

export const SettingsSchema = z
  .object({
    origin: destination.optional(),
    stateDir: safeAbsolutePath("state-dir").default(DEFAULT_STATE_DIR),
    logDir: safeAbsolutePath("log-dir").default(DEFAULT_LOG_DIR),
    /** rsync bandwidth limit on the origin's link, KiB/s (0: none). */
    bwlimit: z.coerce.number().int().nonnegative().default(0),
    /** Run the origin's side of copies with nice/ionice so it keeps serving. */
    nice: z
      .union([z.boolean(), z.enum(["true", "false", "yes", "no", "on", "off", "1", "0"])])
      .transform((v) => v === true || v === "true" || v === "yes" || v === "on" || v === "1")
      .default(true),
    /** Tables compared and copied at once by the database delta. */
    dbJobs: z.coerce.number().int().min(1).max(64).default(2),
    /**
     * Cold sync: first catch up with a hot pass (the origin still serving) when the last one ended
     * longer ago than this many seconds; "never" to go straight to the downtime.
     */
    catchUpAfter: z
      .union([z.literal("never"), z.coerce.number().int().nonnegative()])
      .transform((v) => (v === "never" ? null : v))
      .default(60),
    /** Override the version profile (normally chosen from bm-core's version). */
    profile: z.enum(["3.5", "4", "5", "5.2"]).optional(),
  })
  .strict();

export type Settings = Omit<z.infer<typeof SettingsSchema>, "origin"> & { origin?: SshTarget };

const FILE_KEYS: Record<string, keyof z.input<typeof SettingsSchema>> = {
  origin: "origin",
  "state-dir": "stateDir",
  "log-dir": "logDir",
  bwlimit: "bwlimit",
  nice: "nice",
  "db-jobs": "dbJobs",
  "catch-up-after": "catchUpAfter",
  profile: "profile",
};

/**
 * Parse the `key = value` configuration file; unknown keys are errors. A `#` that starts a line or
 * follows a blank begins a comment (`bwlimit = 0   # KiB/s`); a value in double quotes may hold
 * either. `lines` says where each value was set, so that a bad value names its file:line.
 */
export function parseConfigFile(
  text: string,
  file: string,
): { values: Record<string, string>; problems: string[]; lines: Record<string, number> } {
  const values: Record<string, string> = {};
  const lines: Record<string, number> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const at = `${file}:${i + 1}`;
    if (!line || line.startsWith("#")) return;
    const m = /^([a-z][a-z0-9-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      problems.push(`${at}: not a 'key = value' line: ${line}`);
      return;
    }
    const key = FILE_KEYS[m[1]!];
    if (!key) {
      problems.push(`${at}: unknown key '${m[1]}' (known: ${Object.keys(FILE_KEYS).join(", ")})`);
      return;
    }
    const v = configValue(m[2]!);
    if (v === undefined) {
      problems.push(`${at}: ${m[1]}: a quoted value must end with its quote, then only a # comment`);
      return;
    }
    values[key] = v;
    lines[key] = i + 1;
  });
  return { values, problems, lines };
}

/** The value of one line, without its trailing comment; undefined when a quote is left open. */
function configValue(rest: string): string | undefined {
  if (rest.startsWith('"')) {
    const m = /^"([^"]*)"\s*(?:#.*)?$/.exec(rest);
    return m ? m[1] : undefined;
  }
  return rest.replace(/(?:^|\s+)#.*$/, "").trim();
}

export interface SettingsSources {
  flags: Record<string, unknown>;
  configFile?: string;
  /** Whether the config file was named explicitly (then it must exist). */
  configExplicit?: boolean;
}

export function loadSettings(src: SettingsSources): Settings {
  const problems: string[] = [];
  let fileValues: Record<string, string> = {};
  let fileLines: Record<string, number> = {};
  if (src.configFile) {
    let text: string | undefined;
    try {
      text = readFileSync(src.configFile, "utf8");
    } catch (err) {
      if (src.configExplicit)
        problems.push(`cannot read configuration file ${src.configFile}: ${(err as Error).message}`);
    }
    if (text !== undefined) {
      const parsed = parseConfigFile(text, src.configFile);
      fileValues = parsed.values;
      fileLines = parsed.lines;
      problems.push(...parsed.problems);
    }
  }
  const merged: Record<string, unknown> = { ...fileValues };
  const fromFlags = new Set<string>();
  for (const [k, v] of Object.entries(src.flags))
    if (v !== undefined) {
      merged[k] = v;
      fromFlags.add(k);
    }
  const r = SettingsSchema.safeParse(merged);
  if (!r.success) {
    const flagName: Record<string, string> = Object.fromEntries(
      Object.entries(FILE_KEYS).map(([flag, key]) => [key, flag]),
    );
    for (const issue of r.error.issues) {
      const key = String(issue.path[0] ?? "");
      const line = fromFlags.has(key) ? undefined : fileLines[key];
      const where = key
        ? `${line !== undefined && src.configFile ? `${src.configFile}:${line}: ` : ""}${flagName[key] ?? key}: `
        : "";
      problems.push(`${where}${issue.message}`);
    }
  }
  if (problems.length || !r.success) {
    throw new ConfigError(`invalid settings:\n  - ${problems.join("\n  - ")}`, {
      hint: "fix the flags or the configuration file and run the command again (bm-migrate --help)",
    });
  }
  return r.data;
}
