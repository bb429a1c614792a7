/**
 * One run at a time: a lock file holding the pid and command of the run that has it. A lock whose
 * process is gone (kill -9, power cut) is stale and taken over.
 */
import {
  appendFileSync,
  openSync,
  writeSync,
  closeSync,
  readFileSync,
  rmSync,
  mkdirSync,
  existsSync,
} from "node:fs";
import { join } from "node:path";
import { AlreadyRunning } from "./errors.js";

export interface LockInfo {
  pid: number;
  command: string;
  started: string;
}

export class RunLock {
  private readonly path: string;
  private readonly childrenPath: string;
  private held = false;
  /** Children of a stale run that were still alive and were stopped. */
  readonly reaped: { pid: number; command: string }[] = [];
  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.path = join(stateDir, "lock");
    this.childrenPath = join(stateDir, "lock.children");
  }

  /** Record a child of this run (pid and program), so a run after a crash can stop it. */
  childStarted(pid: number, command: string): void {
    if (this.held) appendFileSync(this.childrenPath, `+${pid} ${command}\n`, { mode: 0o600 });
  }
  childEnded(pid: number): void {
    if (this.held) appendFileSync(this.childrenPath, `-${pid}\n`, { mode: 0o600 });
  }

  /** Stop what a killed run left running (its rsync, pg_dump, psql...), checked by program name. */
  private reapStaleChildren(): void {
    if (!existsSync(this.childrenPath)) return;
    const live = new Map<number, string>();
    for (const line of readFileSync(this.childrenPath, "utf8").split("\n")) {
      const m = /^([+-])(\d+)(?: (.*))?$/.exec(line);
      if (!m) continue;
      if (m[1] === "+") live.set(Number(m[2]), m[3] ?? "");
      else live.delete(Number(m[2]));
    }
    for (const [pid, command] of live) {
      let cmdline = "";
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
      } catch {
        continue; // gone
      }
      if (!cmdline.endsWith(command.split("/").pop() ?? "\0")) continue; // pid reused by another program
      try {
        process.kill(-pid, "SIGKILL"); // its whole process group: a pipeline dies with it
        this.reaped.push({ pid, command });
      } catch {
        /* already gone */
      }
    }
    rmSync(this.childrenPath, { force: true });
  }

  acquire(command: string): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.path, "wx", 0o600);
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
      return JSON.parse(readFileSync(this.path, "utf8")) as LockInfo;
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
