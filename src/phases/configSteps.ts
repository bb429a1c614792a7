/**
 * Copying the configuration files of the procedure. Globs are expanded on the origin; rsync keeps
 * owner, mode and mtime; every target file replaced is first kept under the state directory.
 */
import { dirname } from "node:path";
import type { Host } from "../adapters/host.js";
import { failure, shellQuote } from "../adapters/process.js";
import { rsyncArgs, rsyncPull } from "../adapters/rsync.js";
import type { SshConnection } from "../adapters/ssh.js";
import type { ConfigPattern } from "../bluemind/profiles.js";
import { StepFailed } from "../engine/errors.js";
import type { Step } from "../engine/plan.js";
import { formatCount } from "../format.js";

/** A script for the origin that prints each existing match (relative to /, NUL-terminated) and MISSING:pattern. */
export function expandScript(patterns: ConfigPattern[]): string {
  const lines = patterns.map((p) => {
    if (!/^\/[A-Za-z0-9_./*?[\]-]+$/.test(p.pattern))
      throw new Error(`unsafe configuration pattern ${p.pattern}`);
    return `m=0; for f in ${p.pattern}; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\\0' "\${f#/}"; m=1; fi; done; [ $m = 1 ] || printf 'MISSING:%s\\0' ${shellQuote(p.pattern)}`;
  });
  return `shopt -s nullglob\n${lines.join("\n")}`;
}

export function configStep(
  ssh: SshConnection,
  origin: Host,
  target: Host,
  patterns: ConfigPattern[],
  backupDir: string,
  /** The bandwidth limit the data copies have (--bwlimit), in KiB/s. */
  bwlimitKiB?: number,
): Step {
  const extra = ["-r", "--no-implied-dirs", "--backup", `--backup-dir=${backupDir}`];
  // No --delete: like the procedure's scp, files only the target has stay where they are.
  const pull = { ssh, source: "/", dest: "/", extraArgs: extra, filesFrom: "", delete: false, bwlimitKiB };
  return {
    id: "config",
    title: "Copy the configuration files",
    host: "target",
    commands: patterns
      .map(
        (p) =>
          `copy ${p.pattern}${p.recursive ? " (with subdirectories)" : ""}${p.optional ? " (optional)" : ""}`,
      )
      .concat([
        `rsync ${rsyncArgs(pull).join(" ")}  (list expanded on the origin; replaced files kept in ${backupDir})`,
      ]),
    async run(ctx) {
      const list = await origin.sh(expandScript(patterns), { signal: ctx.signal });
      if (list.exitCode !== 0) throw failure(origin.label, list);
      const entries = list.stdout.split("\0").filter((e) => e !== "");
      const missing = entries.filter((e) => e.startsWith("MISSING:")).map((e) => e.slice("MISSING:".length));
      const files = entries.filter((e) => !e.startsWith("MISSING:"));
      const required = missing.filter((m) => !patterns.find((p) => p.pattern === m)?.optional);
      if (required.length) {
        throw new StepFailed(
          "config",
          `configuration files missing on the origin ${ssh.destination}: ${required.join(", ")}`,
          {
            hint: "check the origin's BlueMind installation (bm-migrate check), then run the command again",
          },
        );
      }
      for (const m of missing)
        ctx.events.emit({
          type: "warning",
          step: "config",
          message: `optional configuration absent on the origin: ${m}`,
        });
      // Parents must exist (no implied dirs: /etc's own attributes are the target's business).
      const parents = [...new Set(files.map((f) => dirname(`/${f}`)))];
      const mk = await target.run(["mkdir", "-p", "--", ...parents]);
      if (mk.exitCode !== 0) throw failure(target.label, mk);
      ctx.logCommand(target.label, `rsync ${rsyncArgs({ ...pull, filesFrom: "" }).join(" ")}`);
      const { result, stats } = await rsyncPull({
        ...pull,
        filesFrom: files.join("\0") + "\0",
        signal: ctx.signal,
      });
      if (result.exitCode !== 0)
        throw failure(`target (rsync from ${ssh.destination})`, result, "run the same command again");
      return {
        summary: `${formatCount(files.length)} paths (${formatCount(stats.regularFiles)} files), ${formatCount(stats.transferredFiles)} updated${missing.length ? `, ${missing.length} optional absent` : ""}`,
        data: {
          paths: files.length,
          files: stats.regularFiles,
          transferredFiles: stats.transferredFiles,
          missing,
          backupDir,
        },
      };
    },
  };
}
