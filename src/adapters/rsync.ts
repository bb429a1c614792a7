/**
 * rsync, the real tool, pulling from the origin through the SSH master connection.
 * Owners are mapped by user and group name (the default for root without --numeric-ids), which is
 * what a change of distribution needs: uids differ between the two hosts.
 */
import type { SshConnection } from "./ssh.js";
import { run, type ProcessResult } from "./process.js";

export interface RsyncPull {
  ssh: SshConnection;
  /** Absolute directory on the origin (synced as DIR/ into DIR/). */
  source: string;
  dest: string;
  /** Lower CPU and I/O priority of the origin's rsync (hot sync: the origin keeps serving). */
  nice?: boolean;
  bwlimitKiB?: number;
  /** Delete what the origin does not have (default); off for the configuration copy, like scp. */
  delete?: boolean;
  /** Compare contents, not size+mtime (for a destination that may hold other data). */
  checksum?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: RsyncProgress) => void;
  /**
   * Read the list of relative paths to consider from this NUL-separated list (--files-from): bytes,
   * or a `latin1` string of them (names are not always UTF-8).
   */
  filesFrom?: string | Buffer;
  extraArgs?: string[];
}

export interface RsyncProgress {
  bytes: number;
  percent: number;
  rateBytesPerSec: number;
  etaSec: number;
  /** Files transferred so far (xfr#N). */
  transferred: number;
  /** Files still to check, as rsync counts them (ir-chk/to-chk). */
  toCheck?: number;
  totalToCheck?: number;
}

export interface RsyncStats {
  files: number;
  regularFiles: number;
  dirs: number;
  transferredFiles: number;
  deletedFiles: number;
  totalBytes: number;
  transferredBytes: number;
  /** Bytes on the wire, both ways. */
  sentBytes: number;
  receivedBytes: number;
}

export function rsyncArgs(p: RsyncPull): string[] {
  const src = p.source.endsWith("/") ? p.source : `${p.source}/`;
  const dest = p.dest.endsWith("/") ? p.dest : `${p.dest}/`;
  const args = [
    "-aHS", // archive, hard links, sparse files stay sparse
    ...(p.delete === false ? [] : ["--delete"]),
    "--info=progress2,stats2",
    "--no-human-readable",
    // Extended attributes too (-a leaves them): a file's are part of what it holds (issue 25).
    "--xattrs",
    "-e",
    p.ssh.rsyncShell(),
  ];
  if (p.nice) args.push("--rsync-path=nice -n 10 ionice -c2 -n7 rsync");
  if (p.bwlimitKiB) args.push(`--bwlimit=${p.bwlimitKiB}`);
  if (p.checksum) args.push("--checksum");
  if (p.filesFrom !== undefined) args.push("--from0", "--files-from=-");
  args.push(...(p.extraArgs ?? []));
  args.push(`${p.ssh.destination}:${src}`, dest);
  return args;
}

/** rsync exit 24: files vanished while it ran, which a live origin does. Not an error in a hot pass. */
export const RSYNC_VANISHED = 24;

export async function rsyncPull(p: RsyncPull): Promise<{
  result: ProcessResult;
  stats: RsyncStats;
  /** stdout lines other than progress (stats, itemized changes). */ lines: string[];
}> {
  const statsLines: string[] = [];
  const result = await run("rsync", rsyncArgs(p), {
    ...(p.signal ? { signal: p.signal } : {}),
    ...(p.filesFrom !== undefined
      ? { input: typeof p.filesFrom === "string" ? Buffer.from(p.filesFrom, "latin1") : p.filesFrom }
      : {}),
    onStdoutLine: (line) => {
      const prog = parseProgressLine(line);
      if (prog) p.onProgress?.(prog);
      else statsLines.push(line);
    },
  });
  return { result, stats: parseStats(statsLines.join("\n")), lines: statsLines };
}

const num = (s: string | undefined): number => Number((s ?? "0").replace(/[,.](?=\d{3}\b)/g, ""));

/** `  1234567  45%  12.34MB/s  0:00:12 (xfr#12, ir-chk=1000/2000)` */
export function parseProgressLine(line: string): RsyncProgress | undefined {
  const m =
    /^\s*([\d,.]+)\s+(\d+)%\s+([\d.,]+)([kMGT]?B)\/s\s+(\d+):(\d{2}):(\d{2})(?:\s+\(xfr#(\d+),\s+(?:ir|to)-chk=(\d+)\/(\d+)\))?/.exec(
      line,
    );
  if (!m) return undefined;
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[m[4] as "B"] ?? 1;
  const p: RsyncProgress = {
    bytes: num(m[1]),
    percent: Number(m[2]),
    rateBytesPerSec: Math.round(Number(m[3]!.replace(",", ".")) * unit),
    etaSec: Number(m[5]) * 3600 + Number(m[6]) * 60 + Number(m[7]),
    transferred: Number(m[8] ?? 0),
  };
  if (m[9] !== undefined) {
    p.toCheck = Number(m[9]);
    p.totalToCheck = Number(m[10]);
  }
  return p;
}

export function parseStats(text: string): RsyncStats {
  // Numbers may carry digit grouping ("1,234,567") depending on rsync's version and locale.
  const grab = (re: RegExp): number => {
    const m = re.exec(text);
    return m ? num(m[1]) : 0;
  };
  return {
    files: grab(/Number of files: (\d(?:[\d,.]*\d)?)/),
    regularFiles: grab(/Number of files: [\d,.]+ \(reg: (\d(?:[\d,.]*\d)?)/),
    dirs: grab(/dir: (\d(?:[\d,.]*\d)?)/),
    transferredFiles: grab(/Number of regular files transferred: (\d(?:[\d,.]*\d)?)/),
    deletedFiles: grab(/Number of deleted files: (\d(?:[\d,.]*\d)?)/),
    totalBytes: grab(/Total file size: (\d(?:[\d,.]*\d)?)/),
    transferredBytes: grab(/Total transferred file size: (\d(?:[\d,.]*\d)?)/),
    sentBytes: grab(/Total bytes sent: (\d(?:[\d,.]*\d)?)/),
    receivedBytes: grab(/Total bytes received: (\d(?:[\d,.]*\d)?)/),
  };
}
