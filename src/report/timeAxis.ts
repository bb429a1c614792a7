/**
 * The timeline's horizontal axis. A migration is hours of hot sync, idle hours, then minutes of
 * downtime: on a plain linear axis the downtime would be a hairline. So the idle gaps that would
 * dominate are collapsed into a fixed-width break, and each cluster of activity gets at least a
 * readable share of the width, with its own ticks. Pure, for unit tests.
 */

export interface Interval {
  start: number;
  end: number;
}

export interface AxisPiece {
  kind: "span" | "break";
  t0: number;
  t1: number;
  x0: number;
  x1: number;
  /** For a break: the idle time it stands for (between the activities, without the air). */
  idleMs?: number;
}

export interface AxisTick {
  x: number;
  t: number;
  /** "HH:MM" (UTC) */
  label: string;
  /** The date, on the first tick of each cluster. */
  date?: string;
}

export interface TimeAxis {
  x(t: number): number;
  pieces: AxisPiece[];
  ticks: AxisTick[];
}

export interface AxisOptions {
  x0: number;
  x1: number;
  /** Width of a collapsed gap, px. */
  breakWidth?: number;
  /** Least share of the width a cluster gets when there are several. */
  minShare?: number;
  /** A gap longer than this fraction of the total active time is collapsed. */
  gapRatio?: number;
  /** Least distance between two ticks, px. */
  tickSpacing?: number;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const TICK_STEPS = [
  1000,
  5000,
  15_000,
  30_000,
  MIN,
  2 * MIN,
  5 * MIN,
  10 * MIN,
  15 * MIN,
  30 * MIN,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  24 * HOUR,
];

/** Intervals sorted and overlapping ones joined. */
export function mergeIntervals(intervals: Interval[]): Interval[] {
  const sorted = intervals
    .filter((i) => Number.isFinite(i.start) && Number.isFinite(i.end))
    .map((i) => ({ start: Math.min(i.start, i.end), end: Math.max(i.start, i.end) }))
    .sort((a, b) => a.start - b.start);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else out.push({ ...i });
  }
  return out;
}

/** Clusters of activity: merged intervals whose gaps are short enough to draw to scale. */
export function clusters(intervals: Interval[], gapRatio: number): Interval[] {
  const merged = mergeIntervals(intervals);
  const active = merged.reduce((s, i) => s + (i.end - i.start), 0);
  const keepGap = Math.max(gapRatio * active, MIN);
  const out: Interval[] = [];
  for (const i of merged) {
    const last = out[out.length - 1];
    if (last && i.start - last.end <= keepGap) last.end = i.end;
    else out.push({ ...i });
  }
  return out;
}

/** Shares of the width proportional to length, each at least `minShare` (when that fits). */
export function shares(lengths: number[], minShare: number): number[] {
  const n = lengths.length;
  if (n === 0) return [];
  if (n === 1 || minShare * n >= 1) return lengths.map(() => 1 / n);
  const fixed = new Set<number>();
  for (;;) {
    const freeLen = lengths.reduce((s, l, i) => (fixed.has(i) ? s : s + l), 0);
    const freeShare = 1 - fixed.size * minShare;
    let changed = false;
    for (let i = 0; i < n; i++) {
      if (fixed.has(i)) continue;
      if ((lengths[i]! / freeLen) * freeShare < minShare) {
        fixed.add(i);
        changed = true;
      }
    }
    if (!changed) return lengths.map((l, i) => (fixed.has(i) ? minShare : (l / freeLen) * freeShare));
  }
}

export function buildTimeAxis(intervals: Interval[], o: AxisOptions): TimeAxis {
  const breakWidth = o.breakWidth ?? 28;
  const raw = clusters(intervals, o.gapRatio ?? 0.25);
  if (raw.length === 0) return { x: () => o.x0, pieces: [], ticks: [] };
  // A little air on both sides of each cluster, so bars do not touch a break.
  const cl = raw.map((c) => {
    const len = Math.max(c.end - c.start, 1000);
    const pad = len * 0.03;
    return { start: c.start - pad, end: c.start + len + pad };
  });
  const usable = o.x1 - o.x0 - breakWidth * (cl.length - 1);
  const share = shares(
    cl.map((c) => c.end - c.start),
    o.minShare ?? 0.22,
  );
  const pieces: AxisPiece[] = [];
  let x = o.x0;
  cl.forEach((c, i) => {
    if (i > 0) {
      const idleMs = raw[i]!.start - raw[i - 1]!.end;
      pieces.push({ kind: "break", t0: cl[i - 1]!.end, t1: c.start, x0: x, x1: x + breakWidth, idleMs });
      x += breakWidth;
    }
    const w = usable * share[i]!;
    pieces.push({ kind: "span", t0: c.start, t1: c.end, x0: x, x1: x + w });
    x += w;
  });
  const at = (t: number): number => {
    const first = pieces[0]!;
    if (t <= first.t0) return first.x0;
    for (const p of pieces) {
      if (t <= p.t1) return p.x0 + ((t - p.t0) / (p.t1 - p.t0 || 1)) * (p.x1 - p.x0);
    }
    return pieces[pieces.length - 1]!.x1;
  };
  return { x: at, pieces, ticks: ticksFor(pieces, o.tickSpacing ?? 56) };
}

function ticksFor(pieces: AxisPiece[], spacing: number): AxisTick[] {
  const ticks: AxisTick[] = [];
  let lastDate = "";
  for (const p of pieces) {
    if (p.kind !== "span") continue;
    const msPerPx = (p.t1 - p.t0) / Math.max(p.x1 - p.x0, 1);
    const step = TICK_STEPS.find((s) => s / msPerPx >= spacing) ?? TICK_STEPS[TICK_STEPS.length - 1]!;
    const times: number[] = [];
    for (let t = Math.ceil(p.t0 / step) * step; t <= p.t1; t += step) times.push(t);
    if (times.length === 0) times.push(p.t0);
    times.forEach((t, i) => {
      const iso = new Date(t).toISOString();
      const date = iso.slice(0, 10);
      const label = step < MIN ? iso.slice(11, 19) : iso.slice(11, 16);
      const x = p.x0 + ((t - p.t0) / (p.t1 - p.t0 || 1)) * (p.x1 - p.x0);
      ticks.push({ x, t, label, ...(i === 0 || date !== lastDate ? { date } : {}) });
      lastDate = date;
    });
  }
  return ticks;
}
