/**
 * Validated settings: command-line flags over the configuration file over defaults. Validation
 * collects every problem and reports them together, before anything is done.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, normalize } from "node:path";
import { z } from "zod";
import { parseDestination, type SshTarget } from "../adapters/ssh.js";
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

/** Parse the `key = value` configuration file; unknown keys are errors. */
export function parseConfigFile(
  text: string,
  file: string,
): { values: Record<string, string>; problems: string[] } {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const m = /^([a-z][a-z0-9-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      problems.push(`${file}:${i + 1}: not a 'key = value' line: ${line}`);
      return;
    }
    const key = FILE_KEYS[m[1]!];
    if (!key) {
      problems.push(`${file}:${i + 1}: unknown key '${m[1]}' (known: ${Object.keys(FILE_KEYS).join(", ")})`);
      return;
    }
    let v = m[2]!.trim();
    if (/^".*"$/.test(v)) v = v.slice(1, -1);
    values[key] = v;
  });
  return { values, problems };
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
      problems.push(...parsed.problems);
    }
  }
  const merged: Record<string, unknown> = { ...fileValues };
  for (const [k, v] of Object.entries(src.flags)) if (v !== undefined) merged[k] = v;
  const r = SettingsSchema.safeParse(merged);
  if (!r.success) {
    const flagName: Record<string, string> = Object.fromEntries(
      Object.entries(FILE_KEYS).map(([flag, key]) => [key, flag]),
    );
    for (const issue of r.error.issues) {
      const key = String(issue.path[0] ?? "");
      const where = key ? `${flagName[key] ?? key}: ` : "";
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
