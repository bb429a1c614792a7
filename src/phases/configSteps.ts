/**
 * The configuration of the cold sync. Directories (every /etc/bm*, /etc/postfix, BlueMind's CA)
 * are made equal to the origin's: rsync --delete with --backup, so that a file only the target had
 * (what its fresh install left) is set aside under the state directory, never left in place to make
 * `verify` fail; single files (certificates, elasticsearch.yml, Cyrus's files) are copied with
 * their owner, mode and mtime, a replaced target file kept. Globs are expanded on the origin.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Host } from "../adapters/host.js";
import { failure, shellQuote } from "../adapters/process.js";
import { rsyncArgs, rsyncPull } from "../adapters/rsync.js";
import type { SshConnection } from "../adapters/ssh.js";
import type { ConfigMirror, ConfigPattern } from "../bluemind/profiles.js";
import { StepFailed } from "../engine/errors.js";
import type { Step, StepContext } from "../engine/plan.js";
import { formatCount } from "../engine/format.js";

const SAFE_PATTERN = /^\/[A-Za-z0-9_./*?[\]-]+$/;

function safe(pattern: string): string {
  if (!SAFE_PATTERN.test(pattern)) throw new Error(`unsafe configuration pattern ${pattern}`);
  return pattern;
}

/** A script for the origin that prints each existing match (relative to /, NUL-terminated) and MISSING:pattern. */
export function expandScript(patterns: ConfigPattern[]): string {
  const lines = patterns.map(
    (p) =>
      `m=0; for f in ${safe(p.pattern)}; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\\0' "\${f#/}"; m=1; fi; done; [ $m = 1 ] || printf 'MISSING:%s\\0' ${shellQuote(p.pattern)}`,
  );
  return `shopt -s nullglob\n${lines.join("\n")}`;
}

/** A script printing the directories (not symlinks) each mirror pattern matches: DIR:path and MISSING:pattern. */
export function mirrorDirsScript(mirrors: readonly ConfigMirror[]): string {
  const lines = mirrors.map(
    (m) =>
      `m=0; for d in ${safe(m.pattern)}; do if [ -d "$d" ] && [ ! -L "$d" ]; then printf 'DIR:%s\\0' "$d"; m=1; fi; done; [ $m = 1 ] || printf 'MISSING:%s\\0' ${shellQuote(m.pattern)}`,
  );
  return `shopt -s nullglob\n${lines.join("\n")}`;
}

export interface ParsedExpansion {
  found: string[];
  missing: string[];
}

/** Splits the NUL-separated output of expandScript/mirrorDirsScript. */
export function parseExpansion(out: string, prefix = ""): ParsedExpansion {
  const entries = out.split("\0").filter((e) => e !== "");
  return {
    missing: entries.filter((e) => e.startsWith("MISSING:")).map((e) => e.slice("MISSING:".length)),
    found: entries
      .filter((e) => !e.startsWith("MISSING:"))
      .map((e) => (prefix && e.startsWith(prefix) ? e.slice(prefix.length) : e)),
  };
}

/** rsync's itemized deletion lines (`*deleting   etc/bm/x`) to the paths deleted, relative to the copy's root. */
export function deletedPaths(lines: readonly string[]): string[] {
  return lines.flatMap((l) => {
    const m = /^\*deleting\s+(.*)$/.exec(l);
    return m?.[1] ? [m[1]] : [];
  });
}

export interface ConfigStepOptions {
  ssh: SshConnection;
  origin: Host;
  target: Host;
  mirrors: ConfigMirror[];
  files: ConfigPattern[];
  /** Where replaced and set-aside target files go (the pass's own directory). */
  backupDir: string;
  /** The bandwidth limit the data copies have (--bwlimit), in KiB/s. */
  bwlimitKiB?: number;
}

export function configStep(o: ConfigStepOptions): Step {
  const { ssh, origin, target, backupDir } = o;
  const filesPull = {
    ssh,
    source: "/",
    dest: "/",
    extraArgs: ["-r", "--no-implied-dirs", "--backup", `--backup-dir=${backupDir}`],
    filesFrom: "",
    delete: false,
    bwlimitKiB: o.bwlimitKiB,
  };
  const mirrorPull = (dir: string) => ({
    ssh,
    source: dir,
    dest: dir,
    // Deleted files are backed up too: the target's own extras land in the backup directory.
    extraArgs: ["--itemize-changes", "--backup", `--backup-dir=${join(backupDir, dir)}`],
    delete: true,
    bwlimitKiB: o.bwlimitKiB,
  });
  return {
    id: "config",
    title: "Make the configuration equal to the origin's",
    host: "target",
    commands: [
      ...o.mirrors.map(
        (m) =>
          `rsync ${rsyncArgs(mirrorPull(m.pattern)).join(" ")}  (each directory ${m.pattern} on the origin; the target's own extra files set aside in ${backupDir})`,
      ),
      ...o.files.map((p) => `copy ${p.pattern}${p.optional ? " (optional)" : ""}`),
      `rsync ${rsyncArgs(filesPull).join(" ")}  (list expanded on the origin; replaced files kept in ${backupDir})`,
    ],
    async run(ctx) {
      const [filesOut, dirsOut, targetDirsOut] = await Promise.all([
        // File names as bytes (latin1): a name that is not UTF-8 must reach rsync as it is.
        origin.sh(expandScript(o.files), { signal: ctx.signal, stdoutEncoding: "latin1" }),
        origin.sh(mirrorDirsScript(o.mirrors), { signal: ctx.signal }),
        target.sh(mirrorDirsScript(o.mirrors), { signal: ctx.signal }),
      ]);
      for (const [host, r] of [
        [origin, filesOut],
        [origin, dirsOut],
        [target, targetDirsOut],
      ] as const)
        if (r.exitCode !== 0) throw failure(host.label, r);
      const files = parseExpansion(filesOut.stdout);
      const dirs = parseExpansion(dirsOut.stdout, "DIR:");
      const targetDirs = parseExpansion(targetDirsOut.stdout, "DIR:").found;
      const required = [
        ...files.missing.filter((m) => !o.files.find((p) => p.pattern === m)?.optional),
        ...dirs.missing.filter((m) => !o.mirrors.find((p) => p.pattern === m)?.optional),
      ];
      if (required.length) {
        throw new StepFailed(
          "config",
          `configuration missing on the origin ${ssh.destination}: ${required.join(", ")}`,
          {
            hint: "check the origin's BlueMind installation (bm-migrate check), then run the command again",
          },
        );
      }
      const missing = [...files.missing, ...dirs.missing];
      for (const m of missing)
        ctx.events.emit({
          type: "warning",
          step: "config",
          message: `optional configuration absent on the origin: ${m}`,
        });
      // A directory only the target has (its fresh install's) goes aside whole.
      const targetOnly = targetDirs.filter((d) => !dirs.found.includes(d));
      const setAside: string[] = [];
      if (targetOnly.length) {
        const script = targetOnly
          .map(
            (d) =>
              `mkdir -p ${shellQuote(dirname(join(backupDir, d)))} && mv -T -- ${shellQuote(d)} ${shellQuote(join(backupDir, d))}`,
          )
          .join(" &&\n");
        ctx.logCommand(target.label, `move ${targetOnly.join(", ")} to ${backupDir}`);
        const r = await target.sh(`set -e\n(umask 077; mkdir -p ${shellQuote(backupDir)})\n${script}`, {
          signal: ctx.signal,
        });
        if (r.exitCode !== 0)
          throw failure(target.label, r, `check ${backupDir} on the target, then run the command again`);
        setAside.push(...targetOnly.map((d) => `${d}/`));
      }
      const counts = { files: 0, transferred: 0 };
      const mirrorOne = async (dir: string): Promise<void> => {
        const pull = mirrorPull(dir);
        // Its backup directory made first: the mirrors run at once, and rsync creating their
        // common parents itself failed once (rsync 3.5.0: "error in file IO (code 11)").
        mkdirSync(join(backupDir, dir), { recursive: true, mode: 0o700 });
        ctx.logCommand(target.label, `rsync ${rsyncArgs(pull).join(" ")}`);
        const r = await rsyncPull({ ...pull, signal: ctx.signal });
        if (r.result.exitCode !== 0)
          throw failure(
            `target (rsync ${dir} from ${ssh.destination})`,
            r.result,
            "run the same command again",
          );
        counts.files += r.stats.regularFiles;
        counts.transferred += r.stats.transferredFiles;
        setAside.push(...deletedPaths(r.lines).map((p) => join(dir, p)));
      };
      await Promise.all(dirs.found.map(mirrorOne));
      if (files.found.length) {
        // Parents must exist (no implied dirs: /etc's own attributes are the target's business).
        const parents = [...new Set(files.found.map((f) => dirname(`/${f}`)))];
        const mk = await target.run(["mkdir", "-p", "--", ...parents]);
        if (mk.exitCode !== 0) throw failure(target.label, mk);
        ctx.logCommand(target.label, `rsync ${rsyncArgs(filesPull).join(" ")}`);
        const { result, stats } = await rsyncPull({
          ...filesPull,
          filesFrom: files.found.join("\0") + "\0",
          signal: ctx.signal,
        });
        if (result.exitCode !== 0)
          throw failure(`target (rsync from ${ssh.destination})`, result, "run the same command again");
        counts.files += stats.regularFiles;
        counts.transferred += stats.transferredFiles;
      }
      reportSetAside(ctx, setAside, backupDir);
      return {
        summary: `${formatCount(dirs.found.length)} directories made equal, ${formatCount(files.found.length)} files (${formatCount(counts.files)} files in all, ${formatCount(counts.transferred)} updated)${setAside.length ? `; ${formatCount(setAside.length)} target-only paths set aside in ${backupDir}` : ""}${missing.length ? `, ${missing.length} optional absent` : ""}`,
        data: {
          dirs: dirs.found,
          paths: files.found.length,
          files: counts.files,
          transferredFiles: counts.transferred,
          missing,
          backupDir,
          setAside,
        },
      };
    },
  };
}

function reportSetAside(ctx: StepContext, paths: readonly string[], where: string): void {
  if (!paths.length) return;
  const shown = paths.slice(0, 20).join(", ");
  ctx.events.emit({
    type: "info",
    message: `Set aside (only the target had them; kept in ${where}): ${shown}${paths.length > 20 ? ` and ${paths.length - 20} more` : ""}`,
    data: { setAside: paths, where },
  });
}

/**
 * What the target's own install leaves that must not survive (5.x: bm-core's queues of the fresh
 * install under /var/cache/bm-core): moved under the state directory, listed.
 */
export function leftoversStep(target: Host, globs: readonly string[], asideDir: string): Step {
  const script = `shopt -s nullglob
set -e
a=${shellQuote(asideDir)}
for p in ${globs.map(safe).join(" ")}; do
  if [ -e "$p" ] || [ -L "$p" ]; then
    (umask 077; mkdir -p "$a$(dirname "$p")")
    rm -rf -- "$a$p"; mv -T -- "$p" "$a$p"; printf '%s\\n' "$p"
  fi
done`;
  return {
    id: "target-leftovers",
    title: "Set aside what the target's own install left (bm-core's queues)",
    host: "target",
    commands: globs.map((g) => `mv ${g} ${asideDir}${g}`),
    async run(ctx) {
      ctx.logCommand(target.label, `move ${globs.join(" ")} to ${asideDir}`);
      const r = await target.sh(script, { signal: ctx.signal });
      if (r.exitCode !== 0)
        throw failure(target.label, r, `check ${asideDir} on the target, then run the command again`);
      const moved = r.stdout.split("\n").filter(Boolean);
      reportSetAside(ctx, moved, asideDir);
      return {
        summary: moved.length
          ? `${moved.length} set aside in ${asideDir}`
          : "nothing left by the target's install",
        data: { setAside: moved, backupDir: asideDir },
      };
    },
  };
}
