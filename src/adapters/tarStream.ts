/**
 * The first copy of a data directory into an empty one, as one tar stream from the origin through
 * the SSH master (GNU tar on both sides). Nothing is compared on a first copy, and without rsync's
 * protocol (a generator and a receiver per file, per-file checksums) it costs about half the CPU
 * for a tree of small files, which is what bounds the first hot sync of a mail store.
 *
 * What it keeps is what `rsync -aHS` keeps: owners and groups by name (GNU tar run by root on
 * both sides), modes, mtimes to the nanosecond (the POSIX format's extended headers: the default
 * format would round them to the second), a directory's set after its content, symbolic links,
 * hard links within the tree, and the holes of sparse files. What it cannot copy (a socket), or a file that
 * changed or vanished while it was read, makes it report "not clean": the caller then runs the
 * rsync pass, which completes the tree.
 */
import type { SshConnection } from "./ssh.js";
import { run, shellQuote, type ProcessResult } from "./process.js";

export interface TarPull {
  ssh: SshConnection;
  /** Absolute directory on the origin. */
  source: string;
  /** The empty directory on the target. */
  dest: string;
  /** Lower CPU and I/O priority of the origin's tar. */
  nice?: boolean;
  signal?: AbortSignal;
  /** Called now and then with the entries extracted so far. */
  onProgress?: (entries: number) => void;
}

export interface TarOutcome {
  /** Both ends finished without a word: the copy is complete as of the moment it read each file. */
  clean: boolean;
  /** Entries extracted (directories included) and how many were directories. */
  entries: number;
  dirs: number;
  /** Archive bytes read by the extracting tar (content plus headers). */
  bytes: number;
  /** Exit status of the origin's tar (through ssh) and of the target's. */
  status: { origin: number; target: number };
  /** tar's own messages (warnings, errors), for the log and the journal. */
  messages: string[];
  result: ProcessResult;
}

const STATUS_LINE = "bm-migrate-tar-status";

/**
 * The shell command line the target runs; for people (`display`), ssh without the master
 * connection's options, as the plan shows rsync's `-e ssh`.
 */
export function tarPullCommand(p: Omit<TarPull, "signal" | "onProgress">, display = false): string {
  const remote = `cd ${shellQuote(p.source)} && exec ${p.nice ? "nice -n 10 ionice -c2 -n7 " : ""}tar --create --file=- --sparse --format=posix --pax-option=delete=atime,delete=ctime --xattrs --xattrs-include='*' .`;
  const ssh = ["ssh", ...(display ? [] : p.ssh.sshArgs()), p.ssh.destination, "--", remote]
    .map(shellQuote)
    .join(" ");
  return `${ssh} | tar --extract --file=- --same-owner --preserve-permissions --xattrs --xattrs-include='*' --verbose --totals --directory=${shellQuote(p.dest)}`;
}

export async function tarPull(p: TarPull): Promise<TarOutcome> {
  let entries = 0;
  let dirs = 0;
  let bytes = 0;
  let status = { origin: -1, target: -1 };
  const messages: string[] = [];
  const script = `${tarPullCommand(p)}
s=("\${PIPESTATUS[@]}"); echo "${STATUS_LINE} \${s[0]} \${s[1]}" >&2`;
  const result = await run("bash", ["-c", script], {
    ...(p.signal ? { signal: p.signal } : {}),
    onStdoutLine: (name) => {
      entries++;
      if (name.endsWith("/")) dirs++;
      if (entries % 2000 === 0) p.onProgress?.(entries);
    },
    onStderrLine: (line) => {
      const s = new RegExp(`^${STATUS_LINE} (\\d+) (\\d+)$`).exec(line);
      const total = /^Total bytes read: (\d+)/.exec(line);
      if (s) status = { origin: Number(s[1]), target: Number(s[2]) };
      else if (total) bytes = Number(total[1]);
      else messages.push(line);
    },
  });
  p.onProgress?.(entries);
  return {
    clean: result.exitCode === 0 && status.origin === 0 && status.target === 0 && messages.length === 0,
    entries,
    dirs,
    bytes,
    status,
    messages,
    result,
  };
}
