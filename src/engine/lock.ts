/**
 * One run at a time: a lock file holding the pid and command of the run that has it. A lock whose
 * process is gone (kill -9, power cut) is stale and taken over.
 */
import { openSync, writeSync, closeSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { AlreadyRunning } from "./errors.js";

export interface LockInfo {
  pid: number;
  command: string;
  started: string;
}

export class RunLock {
  private readonly path: string;
  private held = false;
  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.path = join(stateDir, "lock");
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
        rmSync(this.path, { force: true }); // stale
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
    if (this.held) rmSync(this.path, { force: true });
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
