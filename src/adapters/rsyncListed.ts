/**
 * rsync over a list of paths (--files-from) instead of a whole tree: a pass after the first when
 * the change journal says exactly what changed. Same options as the full pass (-aHS, owners
 * by name) except: no --delete (it needs recursion), deletions travel as missing arguments
 * (--delete-missing-args), and --ignore-times, because a file rewritten with the same size and
 * mtime is listed on the journal's word and rsync's quick check would skip it.
 *
 * The directory itself (".", listed when an entry at its top changed, for its mtime) is special to
 * rsync: its content comes with it, like `rsync -d dir/`. With --ignore-times that re-sent every
 * file at the top (Cyrus's mailboxes.db and deliver.db, which grow with the mailboxes) in every
 * listed copy. Filters keep only the listed names there.
 */
import { run, type ProcessResult } from "./process.js";
import { parseProgressLine, parseStats, rsyncArgs, type RsyncProgress, type RsyncStats } from "./rsync.js";
import type { SshConnection } from "./ssh.js";

export interface RsyncListedPull {
  ssh: SshConnection;
  dir: string;
  /**
   * Paths relative to dir, parents before children, as `latin1` strings of their bytes (names are
   * not always UTF-8). Never absolute, never with `..`: rsync reads them below dir only.
   */
  paths: readonly string[];
  bwlimitKiB?: number;
  /** The origin's side under nice/ionice (a hot pass: the origin serves). */
  nice?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: RsyncProgress) => void;
}

export function rsyncListedArgs(p: RsyncListedPull): string[] {
  return rsyncArgs({
    ssh: p.ssh,
    source: p.dir,
    dest: p.dir,
    ...(p.bwlimitKiB ? { bwlimitKiB: p.bwlimitKiB } : {}),
    ...(p.nice ? { nice: true } : {}),
    filesFrom: "",
    extraArgs: ["--delete-missing-args", "--ignore-times", ...topLevelFilters(p.paths)],
  }).filter((a) => a !== "--delete");
}

const MAX_TOP_FILTERS = 2_000;

/**
 * With "." listed: include the listed names at the top, exclude the rest of it (first match wins;
 * `/*` matches only names at the top, so deeper listed paths pass). Without ".": none needed.
 */
export function topLevelFilters(paths: readonly string[]): string[] {
  if (!paths.includes(".")) return [];
  const top = paths.filter((x) => x !== "." && !x.includes("/"));
  // So many changed names at the top that "." brings little more: rsync's own way.
  if (top.length > MAX_TOP_FILTERS) return [];
  return [...top.map((name) => `--include=/${filterLiteral(name)}`), "--exclude=/*"];
}

/**
 * A name as an rsync filter pattern matching only itself: a backslash escapes a wildcard only in a
 * pattern that has one, and is an ordinary character otherwise. A name's bytes beyond ASCII cannot
 * travel in an argument as they are (arguments are UTF-8 text here): each becomes `?`, which
 * matches any one byte, so that the pattern matches the name (and perhaps a sibling or two, which
 * are then sent as well: more than needed, never less).
 */
export function filterLiteral(name: string): string {
  if (/[\u0080-\uffff]/.test(name)) return name.replace(/[\\*?[]/g, "\\$&").replace(/[\u0080-\uffff]/g, "?");
  return /[*?[]/.test(name) ? name.replace(/[\\*?[]/g, "\\$&") : name;
}

/** Whether a listed path stays below its directory: relative, no `.` or `..` step, no empty one. */
export function safeRelative(path: string): boolean {
  if (path === ".") return true;
  return path !== "" && path.split("/").every((c) => c !== "" && c !== "." && c !== "..");
}

export async function rsyncListedPull(
  p: RsyncListedPull,
): Promise<{ result: ProcessResult; stats: RsyncStats }> {
  const unsafe = p.paths.find((x) => !safeRelative(x));
  if (unsafe !== undefined)
    throw new Error(`refusing to list a path outside ${p.dir}: ${JSON.stringify(unsafe)}`);
  const statsLines: string[] = [];
  const input = Buffer.from(p.paths.map((x) => `${x}\0`).join(""), "latin1");
  const result = await run("rsync", rsyncListedArgs(p), {
    input,
    ...(p.signal ? { signal: p.signal } : {}),
    onStdoutLine: (line) => {
      const prog = parseProgressLine(line);
      if (prog) p.onProgress?.(prog);
      else statsLines.push(line);
    },
  });
  return { result, stats: parseStats(statsLines.join("\n")) };
}
