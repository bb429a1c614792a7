/**
 * The benchmark's pure half: reading what each side's commands said (rsync -v lists, the manual
 * script's marks, bm-migrate's journal) into numbers, and turning the runs into the markdown table
 * and the goal checks. No processes here; bench/run.ts drives the labs.
 */

/** What one side (bm-migrate or the manual procedure) did in one phase. */
export interface PhaseNumbers {
  /** Wall time of the whole command, as the administrator waits for it. */
  wallMs: number;
  /** Cold phase only: first service stop to the end of the copy. */
  downtimeMs?: number;
  movedFiles: number;
  movedBytes: number;
  /** Rows bm-migrate copied as a database delta (no dump then, so no bytes counted for it). */
  deltaRows?: number;
  /** bm-migrate: how each database moved (`full` dump or `delta`). */
  databaseModes?: Record<string, string>;
  /** Largest resident set of the command or any of its children on the target (wait4's ru_maxrss). */
  peakRssKiB?: number;
  /** bm-migrate's cold phase: each step's duration as journaled (where the downtime went). */
  stepMs?: Record<string, number>;
}

export type Side = "bm-migrate" | "manual";

/** One side of one repetition at one scale. */
export interface SideRun {
  side: Side;
  lab: string;
  hot?: PhaseNumbers;
  cold?: PhaseNumbers;
  /**
   * The outage: the origin's stop until BlueMind answers on the target at its address, and its
   * make-up (stop, copy, verification, swap, start, between: ms each).
   */
  outage?: { ms: number; parts: Record<string, number> };
  /** bm-migrate: the verification made ahead, while the origin served (not in the outage). */
  verifyAheadMs?: number;
  /** bm-migrate: its refresh before the downtime, while the origin served (not in the outage). */
  refreshMs?: number;
  /** bm-migrate: which verification passed before the swap ("changed, passed", "full, passed"). */
  verification?: string;
  /** Writer rounds on the origin between the end of the hot sync and the service stop. */
  changeRounds?: number;
  identical?: boolean;
  differenceCount?: number;
  /** Differences counted by kind and field, e.g. `field:mtime` → 35. */
  differenceKinds?: Record<string, number>;
  firstDifferences?: string[];
  /** Commands that failed and were passed over (manual scp lines), or psql errors during the load. */
  notes: string[];
  /** Set when a command failed or timed out: the run counts as FAILED. */
  error?: string;
}

export interface ScaleRun {
  scale: number;
  repetition: number;
  /** Which side went first in both timed phases. */
  first: Side;
  originFiles?: number;
  originRows?: number;
  runs: SideRun[];
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  host: { cpus: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  options: { scales: number[]; repeat: number; changes: number; seed: number };
  scales: ScaleRun[];
}

// ---------- the manual script's output ----------

/** The numbers in "sent 1,234 bytes  received 5,678 bytes  ..." (rsync's closing line with -v). */
const SENT_RECEIVED = /^sent ([\d,.]+) bytes\s+received ([\d,.]+) bytes/;
const RSYNC_LIST_START = /^(receiving|sending) (incremental )?file list$/;

const plainNumber = (s: string): number => Number(s.replace(/[,.]/g, ""));

/**
 * The files an `rsync -v` run listed as transferred: lines between "receiving incremental file
 * list" and "sent ... received ...", without directories (trailing /) and deletions. Symlinks and
 * hard links count too (rsync -v lists them; --stats would count regular files only).
 */
export function rsyncVerboseTotals(stdout: string): { files: number; receivedBytes: number; runs: number } {
  let inList = false;
  let files = 0;
  let receivedBytes = 0;
  let runs = 0;
  for (const line of stdout.split("\n")) {
    if (RSYNC_LIST_START.test(line)) {
      inList = true;
      continue;
    }
    const sr = SENT_RECEIVED.exec(line);
    if (sr) {
      inList = false;
      runs++;
      receivedBytes += plainNumber(sr[2] ?? "0");
      continue;
    }
    if (!inList || line === "" || line.endsWith("/") || line.startsWith("deleting ")) continue;
    files++;
  }
  return { files, receivedBytes, runs };
}

/** `BENCH mark NAME EPOCH_MS` lines of bench/manual-procedure.sh. */
export function marks(stdout: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    const x = /^BENCH mark (\S+) (\d+)$/.exec(line);
    if (x) m.set(x[1]!, Number(x[2]));
  }
  return m;
}

/** `BENCH dump BYTES BYTES`: the sizes of the two dumps. */
export function dumpBytes(stdout: string): number {
  const x = /^BENCH dump (\d+) (\d+)$/m.exec(stdout);
  return x ? Number(x[1]) + Number(x[2]) : 0;
}

/** `BENCH fail COMMAND` lines: procedure commands that failed and were passed over. */
export function passedOver(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("BENCH fail "))
    .map((l) => l.slice("BENCH fail ".length));
}

/** psql's error lines during the load (it goes on after an error, as the procedure runs it). */
export function psqlErrors(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /\bERROR:/.test(l));
}

// ---------- bm-migrate's journal ----------

export type JournalLine = Record<string, unknown>;

/** The step-done records of the last pass of a phase, and that pass's id. */
export function lastPass(records: JournalLine[], phase: string): { pass?: string; steps: JournalLine[] } {
  const started = records.filter((r) => r["type"] === "pass-started" && r["phase"] === phase);
  const pass = started.at(-1)?.["pass"];
  if (typeof pass !== "string") return { steps: [] };
  return { pass, steps: records.filter((r) => r["type"] === "step-done" && r["pass"] === pass) };
}

/**
 * What a pass moved: files updated (rsync and configuration steps), rsync's wire bytes received
 * plus the full dumps, rows copied by database deltas, and how each database moved.
 */
export function passMoved(steps: JournalLine[]): {
  files: number;
  bytes: number;
  deltaRows: number;
  databaseModes: Record<string, string>;
} {
  let files = 0;
  let bytes = 0;
  let deltaRows = 0;
  const databaseModes: Record<string, string> = {};
  for (const s of steps) {
    const d = (s["data"] ?? {}) as Record<string, unknown>;
    files += numberOr0(d["transferredFiles"]);
    bytes += numberOr0(d["receivedBytes"]) + numberOr0(d["dumpBytes"]);
    deltaRows += numberOr0(d["copiedRows"]);
    if (typeof d["db"] === "string")
      databaseModes[d["db"]] = typeof d["mode"] === "string" ? d["mode"] : "full";
  }
  return { files, bytes, deltaRows, databaseModes };
}

/** The downtime bm-migrate journaled for a cold-sync pass. */
export function journaledDowntimeMs(records: JournalLine[], pass: string | undefined): number | undefined {
  const r = records
    .filter((x) => x["type"] === "downtime" && (pass === undefined || x["pass"] === pass))
    .at(-1);
  return typeof r?.["ms"] === "number" ? r["ms"] : undefined;
}

function numberOr0(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

// ---------- summary and markdown ----------

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

export function failed(r: SideRun): boolean {
  return Boolean(r.error) || r.identical !== true;
}

function medianOf(
  result: BenchResult,
  scale: number,
  side: Side,
  pick: (r: SideRun) => number | undefined,
): number | undefined {
  const xs = result.scales
    .filter((s) => s.scale === scale)
    .flatMap((s) => s.runs.filter((r) => r.side === side && !r.error))
    .map(pick)
    .filter((x): x is number => x !== undefined);
  return median(xs);
}

export interface ScaleSummary {
  scale: number;
  toolOutageMs?: number;
  manualOutageMs?: number;
  outageRatio?: number;
  toolDowntimeMs?: number;
  manualDowntimeMs?: number;
  toolHotMs?: number;
  manualHotMs?: number;
  downtimeRatio?: number;
  hotRatio?: number;
}

export function summarize(result: BenchResult): ScaleSummary[] {
  return result.options.scales.map((scale) => {
    const toolDowntimeMs = medianOf(result, scale, "bm-migrate", (r) => r.cold?.downtimeMs);
    const manualDowntimeMs = medianOf(result, scale, "manual", (r) => r.cold?.downtimeMs);
    const toolHotMs = medianOf(result, scale, "bm-migrate", (r) => r.hot?.wallMs);
    const manualHotMs = medianOf(result, scale, "manual", (r) => r.hot?.wallMs);
    const ratio = (a?: number, b?: number) => (a !== undefined && b ? a / b : undefined);
    const toolOutageMs = medianOf(result, scale, "bm-migrate", (r) => r.outage?.ms);
    const manualOutageMs = medianOf(result, scale, "manual", (r) => r.outage?.ms);
    return {
      scale,
      toolOutageMs,
      manualOutageMs,
      outageRatio: ratio(toolOutageMs, manualOutageMs),
      toolDowntimeMs,
      manualDowntimeMs,
      toolHotMs,
      manualHotMs,
      downtimeRatio: ratio(toolDowntimeMs, manualDowntimeMs),
      hotRatio: ratio(toolHotMs, manualHotMs),
    };
  });
}

const secs = (ms: number | undefined): string => (ms === undefined ? "n/a" : (ms / 1000).toFixed(1));
const mib = (bytes: number): string => (bytes / (1 << 20)).toFixed(1);
const count = (n: number | undefined): string => (n === undefined ? "?" : n.toLocaleString("en-US"));
const pct = (x: number): string => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(0)}%`;

function movedCell(r: SideRun): string {
  const rows = r.cold?.deltaRows ? ` + ${count(r.cold.deltaRows)} rows by delta` : "";
  const c = r.cold ? `${count(r.cold.movedFiles)} files, ${mib(r.cold.movedBytes)} MiB${rows}` : "n/a";
  const h = r.hot ? ` (hot: ${count(r.hot.movedFiles)}, ${mib(r.hot.movedBytes)} MiB)` : "";
  return c + h;
}

function rssCell(r: SideRun): string {
  const kib = [r.hot?.peakRssKiB, r.cold?.peakRssKiB].map((k) =>
    k === undefined ? "n/a" : (k / 1024).toFixed(0),
  );
  return `${kib[0]} / ${kib[1]}`;
}

function identicalCell(r: SideRun): string {
  if (r.error) return `FAILED (${r.error.split("\n")[0]?.slice(0, 80)})`;
  if (r.identical === undefined) return "not checked";
  return r.identical ? "yes" : `FAILED (${count(r.differenceCount)} differences)`;
}

const SIDE_LABEL: Record<Side, string> = {
  "bm-migrate": "bm-migrate",
  manual: "manual (PROCEDURE.md)",
};

/** The table to paste into the README, the ratios and the goal checks. */
export function markdown(result: BenchResult): string {
  const o = result.options;
  const out: string[] = [];
  out.push(
    `Benchmark of ${result.startedAt.slice(0, 16).replace("T", " ")} UTC: scales ${o.scales.join(", ")}, ` +
      `${o.repeat} repetition(s), ${o.changes} writer rounds between hot and cold sync, seed ${o.seed}; ` +
      `${result.host.cpus} cores, load average ${result.host.loadAverageAtStart.map((x) => x.toFixed(1)).join(" ")} at start.`,
    "",
    ...outageLines(result),
    "",
    "The phases in detail (the cold phase alone is what earlier benchmarks called the downtime):",
    "",
    "| scale | files / rows on origin | tool | hot sync (s) | cold phase (s) | moved (files, MiB) | peak RSS (MiB) hot / cold | identical |",
    "| ---: | ---: | --- | ---: | ---: | --- | ---: | --- |",
  );
  for (const s of result.scales) {
    for (const r of s.runs) {
      const wall = r.cold ? ` (wall ${secs(r.cold.wallMs)})` : "";
      out.push(
        `| ${s.scale} | ${count(s.originFiles)} / ${count(s.originRows)} | ${SIDE_LABEL[r.side]}${
          o.repeat > 1 ? ` #${s.repetition + 1}${s.first === r.side ? " (first)" : ""}` : ""
        } | ${secs(r.hot?.wallMs)} | ${secs(r.cold?.downtimeMs)}${wall} | ${movedCell(r)} | ${rssCell(r)} | ${identicalCell(r)} |`,
      );
    }
  }
  const rounds = result.scales
    .map(
      (s) =>
        `scale ${s.scale}${o.repeat > 1 ? ` #${s.repetition + 1}` : ""}: ` +
        s.runs.map((r) => `${SIDE_LABEL[r.side]} ${r.changeRounds ?? "?"}`).join(", "),
    )
    .join("; ");
  out.push(
    "",
    `Writer rounds on the origin between the end of the hot sync and the end of the cold phase ` +
      `(${o.changes} made while no writer ran, the rest by the live writer until the services stopped; ` +
      `none during the hot sync, which ran with the writer stopped): ${rounds}.`,
    ...databaseModeLines(result),
    ...downtimeStepLines(result),
    "",
    "Hot sync: wall time of the whole command. Cold downtime: first service stop to the end of the copy " +
      "(bm-migrate: its journaled downtime; manual: the script's marks), wall time of the command in parentheses. " +
      "Moved: cold phase (hot sync in parentheses); bytes are rsync's bytes received plus the dumps, files are " +
      "rsync's transferred files plus the configuration files copied; rows a database delta copied are " +
      "shown apart (no dump then). Peak RSS: largest process of the command " +
      "on the target, children included (GNU time's %M). Identical: lab/compare.ts on origin and target after " +
      "the run, every field compared.",
    "",
    "| scale | downtime bm-migrate / manual | hot sync bm-migrate / manual |",
    "| ---: | ---: | ---: |",
  );
  const summary = summarize(result);
  for (const s of summary) {
    const r = (x?: number) => (x === undefined ? "n/a" : x.toFixed(2));
    out.push(
      `| ${s.scale} | ${r(s.downtimeRatio)} (${secs(s.toolDowntimeMs)} s / ${secs(s.manualDowntimeMs)} s) | ${r(
        s.hotRatio,
      )} (${secs(s.toolHotMs)} s / ${secs(s.manualHotMs)} s) |`,
    );
  }
  out.push("", ...goalLines(result, summary));
  const diffs = result.scales.flatMap((s) =>
    s.runs
      .filter((r) => r.identical === false)
      .map(
        (r) =>
          `- scale ${s.scale}, ${SIDE_LABEL[r.side]}: ${Object.entries(r.differenceKinds ?? {})
            .map(([k, n]) => `${n} × ${k}`)
            .join(
              ", ",
            )}; e.g. ${(r.firstDifferences ?? []).slice(0, Object.keys(r.differenceKinds ?? {}).length).join(" / ")}`,
      ),
  );
  if (diffs.length) out.push("", "Differences found by the comparison tool:", ...diffs);
  const notes = result.scales.flatMap((s) =>
    s.runs.flatMap((r) => r.notes.map((n) => `- scale ${s.scale}, ${SIDE_LABEL[r.side]}: ${n}`)),
  );
  if (notes.length) out.push("", "Notes:", ...notes);
  return out.join("\n") + "\n";
}

const OUTAGE_PARTS = ["stop", "copy", "verification", "swap", "start", "between"] as const;

/**
 * The outage side by side: each run's outage and its make-up, then per scale the medians and the
 * ratio. bm-migrate: \`run --yes\` (verification ahead, cold sync, verification of what changed,
 * swap); manual: the procedure's cold commands and a scripted swap, no verification.
 */
export function outageLines(result: BenchResult): string[] {
  const o = result.options;
  const out: string[] = [
    "Outage: from the origin's stop until BlueMind answers on the target at the origin's address " +
      "(bm-migrate: its journal, the swap's check reaching the core; manual: the script's marks, the same check).",
    "",
    "| scale | files / rows on origin | side | outage (s) | stop | copy | verification | swap | start | between commands | identical |",
    "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const s of result.scales)
    for (const r of s.runs) {
      const p = r.outage?.parts ?? {};
      const cell = (k: string): string =>
        p[k] === undefined ? (r.side === "manual" && k === "verification" ? "none" : "—") : secs2(p[k]);
      const label =
        r.side === "manual"
          ? "manual commands + scripted swap"
          : `bm-migrate run${r.verification ? ` (verification: ${r.verification}${r.verifyAheadMs !== undefined ? `; ahead ${secs(r.verifyAheadMs)} s${r.refreshMs !== undefined ? ` + refresh ${secs(r.refreshMs)} s` : ""} while serving` : ""})` : ""}`;
      out.push(
        `| ${s.scale} | ${count(s.originFiles)} / ${count(s.originRows)} | ${label}${o.repeat > 1 ? ` #${s.repetition + 1}` : ""} | ${secs2(r.outage?.ms)} | ${OUTAGE_PARTS.map(cell).join(" | ")} | ${identicalCell(r)} |`,
      );
    }
  out.push("", "| scale | outage bm-migrate / manual (medians) | ratio |", "| ---: | ---: | ---: |");
  for (const s of summarize(result))
    out.push(
      `| ${s.scale} | ${secs2(s.toolOutageMs)} s / ${secs2(s.manualOutageMs)} s | ${s.outageRatio === undefined ? "n/a" : `${s.outageRatio.toFixed(2)}×`} |`,
    );
  return out;
}

const secs2 = (ms: number | undefined): string => (ms === undefined ? "n/a" : (ms / 1000).toFixed(2));

/** How bm-migrate moved each database in the cold phase (a delta moves rows, not a dump). */
/** Steps that run before the copies start: their time is in the downtime whole. */
const STOP_STEPS = ["stop-services:origin", "stop-services:target"];

/**
 * Where bm-migrate's downtime went, per scale (medians): stopping the services, then the copies
 * running side by side (the slowest ones bound the downtime).
 */
export function downtimeStepLines(result: BenchResult): string[] {
  const lines: string[] = [];
  for (const scale of [...new Set(result.scales.map((s) => s.scale))]) {
    const runs = result.scales
      .filter((s) => s.scale === scale)
      .flatMap((s) => s.runs.filter((r) => r.side === "bm-migrate" && !r.error && r.cold?.stepMs));
    if (!runs.length) continue;
    const steps = [...new Set(runs.flatMap((r) => Object.keys(r.cold!.stepMs!)))];
    const med = (step: string): number =>
      median(runs.map((r) => r.cold!.stepMs![step]).filter((x): x is number => x !== undefined)) ?? 0;
    const stop = Math.max(...STOP_STEPS.map(med));
    const copies = steps
      .filter((x) => !STOP_STEPS.includes(x) && x !== "change-journal:stop")
      .map((x) => ({ step: x, ms: med(x) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3);
    lines.push(
      `- scale ${scale}: stopping the services ${Math.round(stop)} ms, then the slowest copies: ` +
        copies.map((c) => `${c.step} ${Math.round(c.ms)} ms`).join(", "),
    );
  }
  return lines.length
    ? ["", "Where bm-migrate's downtime went (medians of the journaled steps):", ...lines]
    : [];
}

function databaseModeLines(result: BenchResult): string[] {
  const parts = result.scales.flatMap((s) =>
    s.runs
      .filter((r) => r.cold?.databaseModes)
      .map(
        (r) =>
          `scale ${s.scale}${result.options.repeat > 1 ? ` #${s.repetition + 1}` : ""}: ` +
          Object.entries(r.cold!.databaseModes!)
            .map(([db, mode]) => `${db} ${mode}`)
            .join(", "),
      ),
  );
  return parts.length ? ["", `bm-migrate's databases in the cold phase: ${parts.join("; ")}.`] : [];
}

/** The issue's goals, each with the measured value and whether it is met. */
function goalLines(result: BenchResult, summary: ScaleSummary[]): string[] {
  const lines: string[] = ["Goals:"];
  for (const s of summary.filter((x) => x.scale === 20 && x.outageRatio !== undefined))
    lines.push(
      `- outage ≤ 0.25× the manual commands + scripted swap at scale 20 (moonshot 0.15×): ${s.outageRatio!.toFixed(2)}× → ${
        s.outageRatio! <= 0.15 ? "met (moonshot too)" : s.outageRatio! <= 0.25 ? "met" : "NOT met"
      }`,
    );
  const outages = summary.filter((x) => x.toolOutageMs !== undefined).sort((a, b) => a.scale - b.scale);
  for (let i = 1; i < outages.length; i++) {
    const [a, b] = [outages[i - 1]!, outages[i]!];
    if (b.scale !== a.scale * 4) continue;
    const growth = b.toolOutageMs! / a.toolOutageMs! - 1;
    lines.push(
      `- outage grows ≤ 30% with 4× the files and rows, same change: scale ${a.scale} → ${b.scale}: ${pct(growth)} → ${growth <= 0.3 ? "met" : "NOT met"}`,
    );
  }
  const big = summary.filter((s) => s.scale >= 20 && s.downtimeRatio !== undefined);
  if (big.length) {
    for (const s of big)
      lines.push(
        `- downtime ≤ 20% of the manual procedure's at scale ≥ 20: scale ${s.scale}: ${pct(s.downtimeRatio!).replace("+", "")} → ${
          s.downtimeRatio! <= 0.2 ? "met" : "NOT met"
        }`,
      );
  } else
    lines.push("- downtime ≤ 20% of the manual procedure's at scale ≥ 20: not measured (no scale ≥ 20 run)");
  // Smallest and largest scale measured (not the order given on the command line).
  const measured = summary.filter((s) => s.toolDowntimeMs !== undefined).sort((a, b) => a.scale - b.scale);
  const small = measured[0];
  const large = measured.at(-1);
  if (small && large && large.scale > small.scale) {
    const growth = large.toolDowntimeMs! / small.toolDowntimeMs! - 1;
    const factor = large.scale / small.scale;
    const files = (scale: number) => result.scales.find((s) => s.scale === scale)?.originFiles;
    const [fs, fl] = [files(small.scale), files(large.scale)];
    const filesFactor = fs && fl ? ` (×${(fl / fs).toFixed(1)} files on the origin)` : "";
    lines.push(
      `- downtime grows ≤ 30% with 4× the files and the same change: scale ${small.scale} → ${large.scale}${filesFactor}, ` +
        `${result.options.changes} rounds each: ${pct(growth)} → ${
          factor === 4
            ? growth <= 0.3
              ? "met"
              : "NOT met"
            : "indicative only (the goal is stated for 4× the scale)"
        }`,
    );
  } else lines.push("- downtime growth with 4× the files: not measured (needs two scales)");
  for (const s of summary)
    if (s.hotRatio !== undefined)
      lines.push(
        `- hot sync no slower than the manual commands: scale ${s.scale}: ${s.hotRatio.toFixed(2)}× → ${s.hotRatio <= 1 ? "met" : "NOT met"}`,
      );
  const wrong = result.scales.flatMap((s) => s.runs.filter((r) => r.side === "bm-migrate" && failed(r)));
  lines.push(
    `- bm-migrate's result identical to the origin: ${wrong.length === 0 ? "yes, every run" : `NO: ${wrong.length} run(s) FAILED`}`,
  );
  return lines;
}
