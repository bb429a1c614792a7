/**
 * `bm-migrate init --origin HOST [--out FILE] [--force]`: reads both servers (facts and free space,
 * read-only) and writes a commented configuration file that every later command loads. An existing
 * file is kept unless --force; the new file is proven to load before it takes the place.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { App } from "../engine/app.js";
import type { Host } from "../adapters/host.js";
import { gatherFacts } from "../bluemind/facts.js";
import { DATA_DIRS_4, PROFILES, profileFor } from "../bluemind/profiles.js";
import { parseStorage, storageScript, type FsSpace } from "../check/probes.js";
import { ConfigError, ExitCode } from "../engine/errors.js";
import { DEFAULT_CONFIG_FILE, loadSettings } from "../engine/settings.js";
import { formatDestination, mismatches, renderConfigFile, type ConfigDraft } from "../config/configFile.js";
import { connect, requireOrigin } from "../phases/connect.js";

export interface InitOptions {
  out: string;
  force: boolean;
}

export function parseInitOptions(opts: Record<string, unknown>): InitOptions {
  const out = typeof opts["out"] === "string" && opts["out"] !== "" ? opts["out"] : DEFAULT_CONFIG_FILE;
  return { out: resolve(out), force: Boolean(opts["force"]) };
}

/** Free space of the filesystems under `paths` (df only: nothing is walked). */
async function freeSpace(host: Host, paths: string[], signal: AbortSignal): Promise<FsSpace[]> {
  const r = await host.sh(storageScript([], paths), { timeoutMs: 60_000, signal });
  return r.exitCode === 0 ? parseStorage(r.stdout).spaces : [];
}

/** Write `text` to `out` through a file beside it that must load as settings first. */
function writeChecked(out: string, text: string, force: boolean): void {
  const partial = `${out}.partial`;
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(partial, text, { mode: 0o644 });
  } catch (err) {
    throw new ConfigError(`cannot write ${out}: ${(err as Error).message}`, {
      cause: err,
      hint: "run as root, or choose another file with --out FILE",
    });
  }
  try {
    loadSettings({ flags: {}, configFile: partial, configExplicit: true });
    if (!force && existsSync(out))
      throw new ConfigError(`${out} appeared while it was being written; it was kept`, {
        hint: "look at it, then run init again (--force replaces it)",
      });
    renameSync(partial, out);
  } finally {
    rmSync(partial, { force: true });
  }
}

export async function initCommand(app: App, opts: InitOptions): Promise<number> {
  const origin = requireOrigin(app);
  if (existsSync(opts.out) && !opts.force)
    throw new ConfigError(`${opts.out} exists; it was kept as it is`, {
      hint: `add --force to replace it, or write elsewhere with --out FILE`,
    });
  const hosts = await connect(app);
  try {
    const [o, t] = await Promise.all([
      gatherFacts(hosts.origin, app.signal),
      gatherFacts(hosts.target, app.signal),
    ]);
    const forced = app.settings.profile ? PROFILES[app.settings.profile] : undefined;
    const profile = forced ?? (o.facts?.bmVersion ? profileFor(o.facts.bmVersion) : undefined);
    const dirs = profile?.dataDirs ?? DATA_DIRS_4;
    const [originSpaces, targetSpaces] = await Promise.all([
      freeSpace(hosts.origin, dirs, app.signal),
      freeSpace(hosts.target, [...dirs, app.settings.stateDir], app.signal),
    ]);
    const draft: ConfigDraft = {
      settings: { ...app.settings, origin },
      origin: { label: hosts.ssh.destination, ...o, spaces: originSpaces },
      target: { label: t.facts?.hostname ?? "this server", ...t, spaces: targetSpaces },
      ...(profile ? { profile } : {}),
      profileForced: forced !== undefined,
      writtenAt: new Date().toISOString(),
    };
    writeChecked(opts.out, renderConfigFile(draft), opts.force);
    const warnings = mismatches(o.facts, t.facts);
    if (!profile)
      warnings.push("no migration profile for the origin's BlueMind version: run bm-migrate check");
    for (const w of warnings) app.events.emit({ type: "warning", message: w });
    const again = opts.out === DEFAULT_CONFIG_FILE ? "" : ` --config ${opts.out}`;
    if (app.flags.json) {
      process.stdout.write(
        JSON.stringify({
          ts: new Date().toISOString(),
          type: "config-written",
          path: opts.out,
          origin: formatDestination(origin),
          profile: profile?.id,
          warnings,
        }) + "\n",
      );
    } else {
      app.print(
        `Wrote ${opts.out}: origin ${formatDestination(origin)}, profile ${profile?.id ?? "none"} (details in its comments).\n` +
          `Next: bm-migrate check${again}`,
      );
    }
    return ExitCode.ok;
  } finally {
    await hosts.ssh.close();
  }
}
