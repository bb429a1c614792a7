/**
 * Room on the target: for each filesystem that receives data (data directories, and the state
 * directory where dumps are written), the origin's data measured there (hard links once), less what
 * is already synced, plus a margin, must fit in the free bytes and inodes.
 */
import { formatBytes, formatCount } from "../engine/format.js";
import type { Finding } from "./findings.js";
import type { PreflightFacts } from "./gather.js";

/** Room kept free beyond the need: rsync's temporary files, logs, the live origin still growing. */
export const MARGIN_BYTES_MIN = 64 * 1024 * 1024;
export const MARGIN_INODES_MIN = 1000;
export const MARGIN_FRACTION = 0.05;

export interface FsNeed {
  mount: string;
  /** What lands there: data directories and/or dumps. */
  destinations: string[];
  needBytes: number;
  needInodes: number;
  /** Origin's size of what lands there, before subtracting what is already on the target. */
  originBytes: number;
  originInodes: number;
  availBytes: number;
  availInodes: number;
  totalInodes: number;
}

const margin = (need: number, min: number) => Math.max(min, Math.ceil(need * MARGIN_FRACTION));

/** Needs per target filesystem; undefined when either side could not be measured. */
export function filesystemNeeds(f: PreflightFacts): FsNeed[] | undefined {
  const os = f.origin.storage;
  const ts = f.target.storage;
  if (!os || !ts) return undefined;
  const byMount = new Map<string, FsNeed>();
  const add = (
    path: string,
    label: string,
    bytes: number,
    inodes: number,
    have: { bytes: number; inodes: number },
  ) => {
    const space = ts.spaces.find((s) => s.path === path);
    if (!space) return;
    const n =
      byMount.get(space.mount) ??
      ({
        mount: space.mount,
        destinations: [],
        needBytes: 0,
        needInodes: 0,
        originBytes: 0,
        originInodes: 0,
        availBytes: space.availBytes,
        availInodes: space.availInodes,
        totalInodes: space.totalInodes,
      } satisfies FsNeed);
    n.destinations.push(label);
    n.originBytes += bytes;
    n.originInodes += inodes;
    // What is already there is replaced in place (rsync --delete frees what the origin lacks).
    n.needBytes += Math.max(0, bytes - have.bytes);
    n.needInodes += Math.max(0, inodes - have.inodes);
    byMount.set(space.mount, n);
  };
  for (const dir of f.dataDirs) {
    const o = os.dirs.find((d) => d.path === dir);
    const t = ts.dirs.find((d) => d.path === dir);
    add(dir, dir, o?.bytes ?? 0, o?.inodes ?? 0, { bytes: t?.bytes ?? 0, inodes: t?.inodes ?? 0 });
  }
  const dumpBytes = Object.values(f.origin.db?.sizes ?? {}).reduce((a, b) => a + b, 0);
  add(f.stateDir, `${f.stateDir} (database dumps)`, dumpBytes, 0, { bytes: 0, inodes: 0 });
  return [...byMount.values()];
}

export function diskFindings(f: PreflightFacts): Finding[] {
  const needs = filesystemNeeds(f);
  if (!needs) {
    const why = [
      f.origin.errors.storage && `origin: ${f.origin.errors.storage}`,
      f.target.errors.storage && `target: ${f.target.errors.storage}`,
    ]
      .filter(Boolean)
      .join("; ");
    if (!f.target.storage || (f.ssh.ok && !f.origin.storage))
      return [
        {
          id: "disk-space",
          severity: "warning",
          title: "could not measure the data to move or the room on the target",
          ...(why ? { detail: why } : {}),
          remedy: "check that find and df work for root on both servers, then check again",
        },
      ];
    return [];
  }
  const out: Finding[] = [];
  const fine: string[] = [];
  for (const n of needs) {
    const mb = margin(n.needBytes, MARGIN_BYTES_MIN);
    const mi = margin(n.needInodes, MARGIN_INODES_MIN);
    const what =
      n.destinations.length > 3 ? `${n.destinations.length} destinations` : n.destinations.join(", ");
    const bytesOk = n.availBytes >= n.needBytes + mb;
    const inodesOk = n.totalInodes === 0 || n.availInodes >= n.needInodes + mi;
    if (!bytesOk)
      out.push({
        id: "disk-space",
        severity: "blocker",
        title: `not enough space on the target's ${n.mount}`,
        origin: `${formatBytes(n.originBytes)} to hold (${n.destinations.join(", ")})`,
        target: `${formatBytes(n.availBytes)} free on ${n.mount}`,
        detail: `needs ${formatBytes(n.needBytes)} beyond what is already there, plus a margin of ${formatBytes(mb)}`,
        remedy: `free or add ${formatBytes(n.needBytes + mb - n.availBytes)} on the target's ${n.mount}, or mount a larger filesystem there, then check again`,
      });
    if (!inodesOk)
      out.push({
        id: "disk-inodes",
        severity: "blocker",
        title: `not enough inodes on the target's ${n.mount}`,
        origin: `${formatCount(n.originInodes)} files and directories to hold (${n.destinations.join(", ")})`,
        target: `${formatCount(n.availInodes)} inodes free on ${n.mount}`,
        detail: `needs ${formatCount(n.needInodes)} beyond what is already there, plus a margin of ${formatCount(mi)}`,
        remedy: `make a filesystem with more inodes for ${n.destinations.join(", ")} on the target (mkfs -N, or a filesystem without a fixed inode table)`,
      });
    if (bytesOk && inodesOk)
      fine.push(
        `${n.mount} (${what}): needs ${formatBytes(n.needBytes)} + ${formatBytes(mb)} margin, ${formatBytes(n.availBytes)} free` +
          (n.totalInodes
            ? `; ${formatCount(n.needInodes)} + ${formatCount(mi)} inodes, ${formatCount(n.availInodes)} free`
            : ""),
      );
  }
  if (fine.length)
    out.push({
      id: "disk-space",
      severity: "info",
      title: "room on the target for the origin's data",
      detail: fine.join("\n"),
    });
  return out;
}
