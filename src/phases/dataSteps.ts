/**
 * Steps that move the data directories: setting aside what the fresh target had, and rsync.
 */
import type { Host } from "../adapters/host.js";
import { failure, shellQuote } from "../adapters/process.js";
import { RSYNC_VANISHED, rsyncArgs, rsyncPull, type RsyncStats } from "../adapters/rsync.js";
import { tarPull, tarPullCommand, type TarOutcome } from "../adapters/tarStream.js";
import type { SshConnection } from "../adapters/ssh.js";
import { StepFailed } from "../engine/errors.js";
import type { Step, StepContext } from "../engine/plan.js";
import { formatBytes, formatCount } from "../engine/format.js";
import { PROFILES } from "../bluemind/profiles.js";
import { pathProblem } from "../engine/settings.js";
import { statePaths } from "../engine/paths.js";

/** Where a directory's pre-existing target content is kept. */
export function setAsidePath(stateDir: string, dir: string): string {
  return statePaths(stateDir).setAside(dir);
}

/**
 * The fresh install's own content in a data directory must not survive nor be taken for origin
 * data (rsync's quick check compares only size and mtime), so the first sync into a directory
 * starts from empty: its content is moved aside, kept and restorable.
 */
export function setAsideStep(target: Host, dir: string, stateDir: string): Step {
  const aside = setAsidePath(stateDir, dir);
  const script = `set -e
d=${shellQuote(dir)}; a=${shellQuote(aside)}
[ -d "$d" ] || { echo 0; exit 0; }
(umask 077; mkdir -p "$a") # the set-aside copies are root's only
n=$(find "$d" -mindepth 1 -maxdepth 1 | wc -l)
find "$d" -mindepth 1 -maxdepth 1 -exec mv -t "$a" -- {} +
echo "$n"`;
  return {
    id: `set-aside:${dir}`,
    title: `Set aside the target's own content of ${dir}`,
    host: "target",
    commands: [`mv ${dir}/* ${aside}/`],
    async run(ctx) {
      ctx.logCommand(target.label, `move the content of ${dir} to ${aside}`);
      const r = await target.sh(script, { signal: ctx.signal });
      if (r.exitCode !== 0)
        throw failure(target.label, r, `check ${dir} and ${aside} on the target, then run the command again`);
      const n = Number(r.stdout.trim().split("\n").pop() ?? "0");
      return {
        summary: n ? `${n} entries moved to ${aside}` : "nothing to set aside",
        data: { dir, entries: n, aside },
      };
    },
  };
}

export interface RsyncStepOptions {
  hot: boolean;
  nice: boolean;
  bwlimitKiB: number;
}

/** Whether a first copy may be a tar stream: a hot pass without a bandwidth limit (tar has none). */
const tarMayCopyFirst = (o: RsyncStepOptions): boolean => o.hot && !(o.bwlimitKiB > 0);

/**
 * A hot pass into an empty directory (the first copy) streams it with tar: about half the CPU of
 * rsync for small files. Not under a bandwidth limit (tar has none). Whatever tar could not say it
 * copied cleanly, the rsync pass that follows completes.
 */
async function firstCopyByTar(
  ssh: SshConnection,
  target: Host,
  dir: string,
  o: RsyncStepOptions,
  ctx: StepContext,
): Promise<TarOutcome | undefined> {
  if (!tarMayCopyFirst(o)) return undefined;
  const empty = await target.sh(`find ${shellQuote(dir)} -mindepth 1 -maxdepth 1 -print -quit`);
  if (empty.exitCode !== 0 || empty.stdout.trim() !== "") return undefined;
  const pull = { ssh, source: dir, dest: dir, nice: o.nice };
  ctx.logCommand(target.label, tarPullCommand(pull));
  const tar = await tarPull({
    ...pull,
    signal: ctx.signal,
    onProgress: (entries) =>
      ctx.events.emit({
        type: "progress",
        step: `rsync:${dir}`,
        current: `${dir} (tar stream)`,
        filesDone: entries,
      }),
  });
  if (!tar.clean)
    ctx.events.emit({
      type: "info",
      message: `${dir}: the first copy's tar stream was not clean (${[...tar.messages.slice(0, 3), `tar status ${tar.status.origin}/${tar.status.target}`].join("; ")}); rsync completes it`,
    });
  return tar;
}

/** Every data directory a profile moves: the only places an rsync with --delete may write. */
const DATA_DESTINATIONS = new Set(Object.values(PROFILES).flatMap((p) => p.dataDirs));

/**
 * rsync --delete removes whatever the origin lacks: pointed at `/` or /etc it would wipe the
 * target. Refuse any destination that is not a profile's data directory, whatever the caller says.
 */
export function assertDataDestination(dir: string): void {
  const problem = pathProblem(dir);
  if (problem || !DATA_DESTINATIONS.has(dir))
    throw new Error(
      `refusing rsync --delete into '${dir}': ${problem ? `the destination ${problem}` : "not one of the profile's data directories"}`,
    );
}

/**
 * The error for a full target filesystem: names the directory, what the origin's copy of it
 * needs (measured there with du, read-only) and what is free on the target.
 */
async function diskFullError(ssh: SshConnection, target: Host, dir: string): Promise<StepFailed> {
  const [df, du] = await Promise.all([
    target.sh(`df -B1 --output=avail ${shellQuote(dir)} | tail -1`),
    ssh.exec(`du -sb ${shellQuote(dir)} 2>/dev/null | cut -f1`, { timeoutMs: 10 * 60_000 }),
  ]);
  const free = Number(df.stdout.trim()) || 0;
  const need = Number(du.stdout.trim()) || 0;
  const needText = need ? `${formatBytes(need)} needed for ${dir} (its size on the origin), ` : "";
  return new StepFailed(
    `rsync:${dir}`,
    `the target's filesystem for ${dir} is full: ${needText}${formatBytes(free)} free`,
    {
      hint: `free space on the target's filesystem holding ${dir}${need ? ` (at least ${formatBytes(Math.max(0, need - free))} more)` : ""}, then run the same command again: it resumes (the origin's data is untouched)`,
    },
  );
}

export function rsyncStep(ssh: SshConnection, target: Host, dir: string, o: RsyncStepOptions): Step {
  assertDataDestination(dir);
  const pull = { ssh, source: dir, dest: dir, nice: o.nice, bwlimitKiB: o.bwlimitKiB };
  return {
    id: `rsync:${dir}`,
    title: `${o.hot ? "Copy" : "Final copy of"} ${dir}`,
    host: "target",
    commands: [
      ...(tarMayCopyFirst(o)
        ? [
            `${tarPullCommand(pull, true)}  (first copy, into an empty directory; rsync completes it when tar was not clean)`,
          ]
        : []),
      ["rsync", ...rsyncArgs(pull)].map(shellQuote).join(" "),
    ],
    async run(ctx) {
      // The origin has the directory or it is absent: an absent one is created empty on the target.
      const mk = await target.run(["mkdir", "-p", dir]);
      if (mk.exitCode !== 0) throw failure(target.label, mk);
      const tar = await firstCopyByTar(ssh, target, dir, o, ctx);
      if (tar?.messages.some((m) => /No space left on device/i.test(m)))
        throw await diskFullError(ssh, target, dir);
      if (tar?.clean) {
        const stats = tarStats(tar);
        return {
          summary: `${formatCount(stats.files)} entries copied as one tar stream of ${formatBytes(stats.totalBytes)} (first copy; headers included)`,
          data: { dir, ...stats, vanished: false, method: "tar" },
        };
      }
      ctx.logCommand(target.label, ["rsync", ...rsyncArgs(pull)].join(" "));
      const { result, stats: rsyncStats } = await rsyncPull({
        ...pull,
        signal: ctx.signal,
        onProgress: (p) =>
          ctx.events.emit({
            type: "progress",
            step: `rsync:${dir}`,
            current: dir,
            bytesDone: p.bytes,
            percent: p.percent,
            rateBytesPerSec: p.rateBytesPerSec,
            etaSec: p.etaSec,
            filesDone: p.transferred,
          }),
      });
      const vanished = result.exitCode === RSYNC_VANISHED;
      if (result.exitCode !== 0 && !(vanished && o.hot)) {
        if (/No space left on device/i.test(result.stderr)) throw await diskFullError(ssh, target, dir);
        if (
          /connection unexpectedly closed|Broken pipe|Connection reset|Timeout|timed out/i.test(result.stderr)
        ) {
          throw new StepFailed(
            `rsync:${dir}`,
            `the connection to the origin ${ssh.destination} was lost while copying ${dir}`,
            {
              cause: failure(ssh.destination, result),
              hint: "check the network between the two servers, then run the same command again: it resumes",
            },
          );
        }
        throw failure(
          `target (rsync from ${ssh.destination})`,
          result,
          "run the same command again: it resumes where it stopped",
        );
      }
      // After a tar stream that was not clean: what both moved.
      const stats = tar ? addMoved(rsyncStats, tarStats(tar)) : rsyncStats;
      if (vanished)
        ctx.events.emit({
          type: "warning",
          step: `rsync:${dir}`,
          message: `${dir}: some files vanished on the origin during the copy (normal while it serves; the next pass takes the rest)`,
        });
      return {
        summary: `${formatCount(stats.files)} entries, ${formatBytes(stats.totalBytes)}; moved ${formatCount(stats.transferredFiles)} files, ${formatBytes(stats.transferredBytes)}, deleted ${formatCount(stats.deletedFiles)}`,
        data: {
          dir,
          ...stats,
          vanished,
          ...(tar
            ? {
                method: "tar+rsync",
                tar: { entries: tar.entries, bytes: tar.bytes, messages: tar.messages.slice(0, 20) },
              }
            : {}),
        },
      };
    },
  };
}

/** A tar stream's work in rsync's terms (every entry is new; bytes are the archive's). */
function tarStats(t: TarOutcome): RsyncStats {
  return {
    files: t.entries,
    regularFiles: t.entries - t.dirs,
    dirs: t.dirs,
    transferredFiles: t.entries - t.dirs,
    deletedFiles: 0,
    totalBytes: t.bytes,
    transferredBytes: t.bytes,
    sentBytes: 0,
    receivedBytes: t.bytes,
  };
}

function addMoved(r: RsyncStats, t: RsyncStats): RsyncStats {
  return {
    ...r,
    transferredFiles: r.transferredFiles + t.transferredFiles,
    transferredBytes: r.transferredBytes + t.transferredBytes,
    receivedBytes: r.receivedBytes + t.receivedBytes,
  };
}
