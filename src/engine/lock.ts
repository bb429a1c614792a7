/**
 * One run at a time: a lock file holding the pid and command of the run that has it. A lock whose
 * process is gone (kill -9, power cut) is stale and taken over.
 *
 * The children a run starts are recorded in `lock.children` with what identifies a process beyond
 * its pid, which the kernel reuses (after a reboot, pid 7474 may be anybody's login shell): the boot
 * id and the process's start time (field 22 of /proc/PID/stat). Only a process that matches all
 * three is stopped by a later run.
 */
import { constants, openSync, writeSync, closeSync, readFileSync, rmSync } from "node:fs";
import { AlreadyRunning } from "./errors.js";
import { appendNoFollow, privateDir, readNoFollow } from "./stateDir.js";
import { statePaths } from "./paths.js";

export interface LockInfo {
  pid: number;
  command: string;
  started: string;
}

/** This boot's id (changes at every boot), or "" when the kernel does not say. */
export function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

/** When a process started, in clock ticks since boot (/proc/PID/stat field 22); undefined if gone. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // Field 2, the program's name in parentheses, may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[22 - 3];
}

/** A child recorded by a run: the pid and what makes it that process and no other. */
export interface ChildRecord {
  pid: number;
  boot: string;
  start: string;
  command: string;
}

/** The children still running by the record (started, not ended); lines of an older format are left out. */
export function parseChildren(text: string): ChildRecord[] {
  const live = new Map<number, ChildRecord>();
  for (const line of text.split("\n")) {
    const started = /^\+(\d+) (\S+) (\d+) (.*)$/.exec(line);
    if (started) {
      const pid = Number(started[1]);
      live.set(pid, { pid, boot: started[2]!, start: started[3]!, command: started[4]! });
      continue;
    }
    const ended = /^-(\d+)$/.exec(line);
    if (ended) live.delete(Number(ended[1]));
  }
  return [...live.values()];
}

/** Whether `c` is, by boot, start time and program, the process now running with its pid. */
export function sameProcess(c: ChildRecord, boot = bootId()): boolean {
  if (!c.boot || c.boot !== boot) return false;
  if (processStartTime(c.pid) !== c.start) return false;
  try {
    const argv0 = readFileSync(`/proc/${c.pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    return argv0.endsWith(c.command.split("/").pop() ?? "\0");
  } catch {
    return false;
  }
}

export class RunLock {
  private readonly path: string;
  private readonly childrenPath: string;
  private held = false;
  private readonly boot = bootId();
  /** Children of a stale run that were still alive and were stopped. */
  readonly reaped: { pid: number; command: string }[] = [];
  /** Nothing is created until the lock is taken (a refused command leaves nothing behind). */
  constructor(private readonly stateDir: string) {
    this.path = statePaths(stateDir).lock;
    this.childrenPath = statePaths(stateDir).lockChildren;
  }

  /** Record a child of this run (pid, boot, start time and program), so a run after a crash can stop it. */
  childStarted(pid: number, command: string): void {
    if (!this.held) return;
    const start = processStartTime(pid) ?? "0";
    appendNoFollow(this.childrenPath, `+${pid} ${this.boot || "-"} ${start} ${command}\n`);
  }
  childEnded(pid: number): void {
    if (this.held) appendNoFollow(this.childrenPath, `-${pid}\n`);
  }

  /** Stop what a killed run left running (its rsync, pg_dump, psql...): only the very processes it started. */
  private reapStaleChildren(): void {
    const text = readNoFollow(this.childrenPath);
    if (!text) return;
    for (const c of parseChildren(text.toString("utf8"))) {
      if (!sameProcess(c, this.boot)) continue; // gone, or its pid now another process's
      try {
        process.kill(-c.pid, "SIGKILL"); // its whole process group: a pipeline dies with it
        this.reaped.push({ pid: c.pid, command: c.command });
      } catch {
        /* already gone */
      }
    }
    rmSync(this.childrenPath, { force: true });
  }

  acquire(command: string): void {
    privateDir(this.stateDir);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        // O_EXCL never follows a symlink: one put there counts as a lock, and is removed as stale.
        const fd = openSync(
          this.path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        const info: LockInfo = { pid: process.pid, command, started: new Date().toISOString() };
        writeSync(fd, JSON.stringify(info));
        closeSync(fd);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        const other = this.read();
        if (other && isAlive(other.pid) && other.pid !== process.pid) {
          throw new AlreadyRunning(
            `another bm-migrate is running: pid ${other.pid}, \`${other.command}\`, started ${other.started}`,
            { hint: `wait for it to finish (or stop it), then run your command again` },
          );
        }
        rmSync(this.path, { force: true }); // stale: its run was killed
        this.reapStaleChildren();
      }
    }
    throw new AlreadyRunning(`cannot take the lock ${this.path}`);
  }

  read(): LockInfo | undefined {
    try {
      const bytes = readNoFollow(this.path);
      return bytes ? (JSON.parse(bytes.toString("utf8")) as LockInfo) : undefined;
    } catch {
      return undefined;
    }
  }

  release(): void {
    if (this.held) {
      rmSync(this.path, { force: true });
      rmSync(this.childrenPath, { force: true });
    }
    this.held = false;
  }
}

/** Whether a process with this pid exists (EPERM: it does, another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
