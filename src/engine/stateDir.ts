/**
 * The tool's own directories (state and logs) and the files in them, which hold the journal, the
 * lock, the change log, dumps and copies of the servers' configuration. They are trusted only when
 * nobody but root can change them: a directory another user can write, or a symlink put where the
 * journal, the lock or the log goes, would let that user steer what a root process writes, reads
 * or kills. Nothing is created before a command has validated its flags: the first write asks for
 * the directory (`privateDir`), which is checked (or created, mode 0700) then.
 */
import {
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  closeSync,
  fstatSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { ConfigError } from "./errors.js";

/** A directory the tool cannot trust, with the command that fixes it. */
export class UnsafeStateDir extends ConfigError {}

const checked = new Set<string>();

/** Why `path` (an existing directory of the tool's) cannot be trusted, with its fix; or undefined. */
export function dirProblem(path: string, uid = process.getuid?.() ?? 0): UnsafeStateDir | undefined {
  const st = lstatSync(path);
  if (st.isSymbolicLink())
    return new UnsafeStateDir(
      `${path} is a symbolic link: the tool's state and logs are never reached through one`,
      {
        hint: `replace it by a directory of root's (rm ${path} && mkdir -m 700 ${path}), then run the command again`,
      },
    );
  if (!st.isDirectory())
    return new UnsafeStateDir(`${path} is not a directory`, {
      hint: `move it away and run the command again (the tool creates ${path} itself)`,
    });
  if (st.uid !== uid)
    return new UnsafeStateDir(
      `${path} is owned by uid ${st.uid}, not by root: another user could change the tool's state`,
      {
        hint: `check what is in it, then: chown root:root ${path} && chmod 700 ${path}; then run the command again`,
      },
    );
  if ((st.mode & 0o022) !== 0)
    return new UnsafeStateDir(
      `${path} is writable by ${st.mode & 0o002 ? "every user" : "its group"} (mode ${(st.mode & 0o7777).toString(8)}): another user could replace the tool's files`,
      { hint: `check what is in it, then: chmod 700 ${path}; then run the command again` },
    );
  return undefined;
}

/**
 * The directory, created (0700, with its missing parents) or checked; throws UnsafeStateDir.
 * Its parents must not be writable by others either (else the directory itself could be swapped).
 */
export function privateDir(path: string): string {
  if (checked.has(path)) return path;
  let exists = true;
  try {
    lstatSync(path);
  } catch {
    exists = false;
  }
  if (!exists) mkdirSync(path, { recursive: true, mode: 0o700 });
  const problem = dirProblem(path);
  if (problem) throw problem;
  for (let p = dirname(path); p !== "/" && p !== "."; p = dirname(p)) {
    const st = lstatSync(p);
    // A sticky directory (/tmp) lets nobody replace another user's entry.
    if (!st.isSymbolicLink() && (st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0)
      throw new UnsafeStateDir(`${p}, above ${path}, is writable by every user`, {
        hint: `chmod o-w ${p}, or choose another --state-dir/--log-dir; then run the command again`,
      });
  }
  checked.add(path);
  return path;
}

/** Open for appending (and positioned reads), never through a symlink (O_NOFOLLOW), created 0600. */
export function openAppendNoFollow(path: string): number {
  privateDir(dirname(path));
  try {
    return openSync(
      path,
      constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw symlinkRefused(path);
    throw err;
  }
}

const symlinkRefused = (path: string): UnsafeStateDir =>
  new UnsafeStateDir(`${path} is a symbolic link: the tool never writes or reads its state through one`, {
    hint: `remove the link (rm ${path}) and run the command again`,
  });

/** Append bytes to a file of the tool's, never through a symlink. */
export function appendNoFollow(path: string, data: string | Buffer): void {
  const fd = openAppendNoFollow(path);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
  } finally {
    closeSync(fd);
  }
}

/** A whole file's bytes, never through a symlink; undefined when it does not exist. */
export function readNoFollow(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw symlinkRefused(path);
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.max(65536, size - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
