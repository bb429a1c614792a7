/**
 * The downtime benchmark: bm-migrate against the documented procedure's own commands, in two
 * identical labs (same generator seed), one timed run at a time (the machine has 2 cores).
 *
 *   npm run bench -- [--scales 5,20] [--repeat N] [--changes N] [--seed S] [--keep]
 *
 * Per scale and repetition: bring up lab bm1 (bm-migrate) and bm2 (manual, bench/manual-procedure.sh);
 * first hot sync on each, with its origin's live writer stopped; the same N deterministic writer
 * rounds on both origins; then the cold phase on each with its origin serving (the live writer
 * adds change until the services stop); then the comparison tool on both.
 *
 * The writer does not run during the hot sync, so that both sides, and every scale, start their
 * cold phase from the same change: a live writer would add change in proportion to the hot sync's
 * duration (it grows with the store, and differs between the two sides), and the downtime goal is
 * about the store's size at equal change. Hot syncs that chase a serving origin are the lab
 * tests' (test/lab/).
  Prints the markdown table and writes bench/results/latest.{md,json} and a timestamped json.
 *
 * Only one lab's writer runs at a time (the one being timed), so that the other lab neither steals
 * CPU from the timed run nor piles up more change than the other side gets.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Lab, REPO, type LabUpOptions } from "../lab/lab.js";
import { differences, journal, manifest } from "../test/lab/support.js";
import { BIN as BM } from "../test/support/cli.js";
import { outageOf } from "../src/engine/status.js";
import {
  dumpBytes,
  failed,
  journaledDowntimeMs,
  lastPass,
  markdown,
  marks,
  passMoved,
  passedOver,
  psqlErrors,
  rsyncVerboseTotals,
  type BenchResult,
  type PhaseNumbers,
  type ScaleRun,
  type Side,
  type SideRun,
} from "./report.js";

const ORIGIN = "root@bm-origin";
const MANUAL = join(REPO, "bench", "manual-procedure.sh");
const RESULTS = join(REPO, "bench", "results");
const LAB_SH = join(REPO, "lab", "lab.sh");
/** GNU time, if the machine has it (the lab hosts see the machine's /usr through their overlay). */
const GNU_TIME = "/usr/bin/time";
/** BM_LAB_PREFIX before the labs' names, as for the lab tests: several checkouts share a machine. */
const PREFIX = process.env["BM_LAB_PREFIX"] ?? "";
const LABS: Record<Side, string> = { "bm-migrate": `${PREFIX}bm1`, manual: `${PREFIX}bm2` };

const MINUTE = 60_000;
const TIMEOUT = {
  up: 30 * MINUTE,
  timedPhase: 30 * MINUTE,
  writer: 10 * MINUTE,
  oracle: 15 * MINUTE,
  short: 2 * MINUTE,
};

interface Options {
  scales: number[];
  repeat: number;
  changes: number;
  seed: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scales: { type: "string", default: "5,20" },
      repeat: { type: "string", default: "1" },
      changes: { type: "string", default: "200" },
      seed: { type: "string", default: "42" },
      keep: { type: "boolean", default: false },
    },
  });
  const whole = (name: string, s: string, min: number): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} takes a whole number ≥ ${min}, not '${s}'`);
    return n;
  };
  return {
    scales: values.scales.split(",").map((s) => whole("scales", s.trim(), 1)),
    repeat: whole("repeat", values.repeat, 1),
    changes: whole("changes", values.changes, 0),
    seed: whole("seed", values.seed, 0),
    keep: values.keep,
  };
}

// ---------- labs ----------

const upLabs = new Set<Lab>();

/** Lab.up with a time bound (a hung generator must not hold the machine). */
function labUp(name: string, opts: LabUpOptions & { scale: number; seed: number }): Lab {
  log(`lab ${name}: up at scale ${opts.scale}, seed ${opts.seed}`);
  const args = ["up", "--name", name, "--scale", String(opts.scale), "--seed", String(opts.seed)];
  const lab = new Lab(name);
  upLabs.add(lab); // a failed or timed-out up may leave half a lab: take it down all the same
  const r = spawnSync("bash", [LAB_SH, ...args], {
    encoding: "utf8",
    timeout: TIMEOUT.up,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) {
    labDown(lab);
    throw new Error(
      `lab up ${name} failed${r.error ? ` (${r.error.message})` : ""}:\n${tail(r.stderr + r.stdout)}`,
    );
  }
  lab.loadEnv();
  return lab;
}

function labDown(lab: Lab): void {
  log(`lab ${lab.name}: down`);
  spawnSync("bash", [LAB_SH, "down", "--name", lab.name], { encoding: "utf8", timeout: TIMEOUT.short * 2 });
  upLabs.delete(lab);
}

/** Like lab.must, with a time bound. */
function must(lab: Lab, role: "origin" | "target", script: string, timeoutMs = TIMEOUT.short): string {
  const r = lab.sh(role, script, { timeoutMs });
  if (r.code !== 0)
    throw new Error(
      `${lab.name} ${role}: \`${script}\` ${r.code === null ? `timed out after ${timeoutMs / 1000} s` : `exited ${r.code}`}\n${tail(r.stderr + r.stdout)}`,
    );
  return r.stdout;
}

/** The origin's data as the generator reported it (its last log line: `files=N ... rows=N`). */
function originSize(lab: Lab): { files?: number; rows?: number } {
  try {
    const text = readFileSync(join(lab.env.LAB_STATE, "origin", "generate.log"), "utf8");
    const num = (k: string) => {
      const m = new RegExp(`\\b${k}=(\\d+)`).exec(text);
      return m ? Number(m[1]) : undefined;
    };
    return { files: num("files"), rows: num("rows") };
  } catch {
    return {};
  }
}

const writerSeq = (lab: Lab): number =>
  Number(must(lab, "origin", "cat /var/lib/cyrus/bm-lab-writer.seq 2>/dev/null || echo 0").trim());

// ---------- one timed command ----------

interface Timed {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  peakRssKiB?: number;
}

/**
 * Run argv on the target, timed, under GNU time when there is one (its %M: the largest resident
 * set of the command or of any child it waited for, in KiB). The figure is written to a file in
 * the host's own /root, so that it never mixes with the command's output.
 */
function timedOnTarget(lab: Lab, argv: string[], label: string): Timed {
  const rssFile = `/root/.bench-rss-${label}`;
  const haveTime = lab.sh("target", `test -x ${GNU_TIME}`).code === 0;
  const full = haveTime ? [GNU_TIME, "-f", "%M", "-o", rssFile, ...argv] : argv;
  const t0 = performance.now();
  const r = lab.exec("target", full, { timeoutMs: TIMEOUT.timedPhase });
  const wallMs = Math.round(performance.now() - t0);
  let peakRssKiB: number | undefined;
  if (haveTime) {
    const rss = lab.sh("target", `tail -1 ${rssFile} 2>/dev/null; rm -f ${rssFile}`).stdout.trim();
    if (/^\d+$/.test(rss)) peakRssKiB = Number(rss);
  }
  return { ...r, wallMs, ...(peakRssKiB !== undefined ? { peakRssKiB } : {}) };
}

function commandError(what: string, r: Timed): string | undefined {
  if (r.code === 0) return undefined;
  const why = r.code === null ? `timed out after ${TIMEOUT.timedPhase / 1000} s` : `exited ${r.code}`;
  return `${what} ${why}: ${tail(r.stderr || r.stdout, 300)}`;
}

// ---------- the two sides ----------

function toolHot(lab: Lab, run: SideRun): void {
  const r = timedOnTarget(lab, [BM, "hot-sync", "--origin", ORIGIN], "hot");
  const { steps } = lastPass(journal(lab), "hot-sync");
  const moved = passMoved(steps);
  run.hot = phase(r, moved.files, moved.bytes, moved);
  run.error ??= commandError("bm-migrate hot-sync", r);
  // \`run\` goes to the downtime after two hot passes: the second, with nothing changed, is quick.
  const second = timedOnTarget(lab, [BM, "hot-sync", "--origin", ORIGIN, "-q"], "hot2");
  run.error ??= commandError("bm-migrate hot-sync (second pass)", second);
}

/**
 * bm-migrate's side of the outage: \`run --yes\` from the end of the hot sync to BlueMind answering
 * on the target at the origin's address (it verifies ahead while the origin serves, then the cold
 * sync, the verification, the swap; after a long ahead, a last hot pass and a refresh of the ahead
 * first); \`--stop-after swap\` leaves \`post\` out, which changes the
 * target's configuration on purpose (My networks) and is no part of the outage.
 */
function toolCold(lab: Lab, run: SideRun): void {
  // No catch-up pass before the stop: both sides' cold phases start from the same change.
  const r = timedOnTarget(
    lab,
    [BM, "run", "--origin", ORIGIN, "--yes", "--catch-up-after", "never", "--stop-after", "swap", "--json"],
    "cold",
  );
  const records = journal(lab);
  const { pass, steps } = lastPass(records, "cold-sync");
  const moved = passMoved(steps);
  run.cold = phase(r, moved.files, moved.bytes, moved);
  const downtimeMs = journaledDowntimeMs(records, pass);
  if (downtimeMs !== undefined) run.cold.downtimeMs = downtimeMs;
  run.cold.stepMs = Object.fromEntries(
    steps.flatMap((x) =>
      typeof x["step"] === "string" && typeof x["durationMs"] === "number"
        ? [[x["step"], x["durationMs"]]]
        : [],
    ),
  );
  const outage = outageOf(records as unknown as Parameters<typeof outageOf>[0]);
  if (outage?.ms !== undefined)
    run.outage = { ms: outage.ms, parts: Object.fromEntries(outage.parts.map((p) => [p.name, p.ms])) };
  const aheads = records.filter((x) => x["type"] === "verify-ahead");
  const full = aheads.filter((x) => !x["refreshOf"]).at(-1);
  const refresh = aheads.filter((x) => x["refreshOf"]).at(-1);
  if (typeof full?.["durationMs"] === "number") run.verifyAheadMs = full["durationMs"];
  if (typeof refresh?.["durationMs"] === "number") run.refreshMs = refresh["durationMs"];
  const verified = records.filter((x) => x["type"] === "verify-result").at(-1);
  if (verified)
    run.verification = `${typeof verified["scope"] === "string" ? verified["scope"] : "full"}, ${verified["ok"] ? "passed" : "FAILED"}`;
  run.error ??= commandError("bm-migrate run", r);
  if (!run.error && outage?.ms === undefined)
    run.error = "bm-migrate run: no outage measured (the swap did not end)";
}

function manualHot(lab: Lab, run: SideRun): void {
  const r = timedOnTarget(lab, ["bash", MANUAL, "hot"], "hot");
  const rsync = rsyncVerboseTotals(r.stdout);
  run.hot = phase(r, rsync.files, rsync.receivedBytes);
  run.error ??= commandError("manual hot phase", r);
}

function manualCold(lab: Lab, run: SideRun): void {
  const r = timedOnTarget(lab, ["bash", MANUAL, "cold"], "cold");
  const s = timedOnTarget(
    lab,
    ["bash", MANUAL, "swap", "bm-origin", `${lab.env.LAB_ORIGIN_IP}/24`, "eth0"],
    "swap",
  );
  const [cm, sm] = [marks(r.stdout), marks(s.stdout)];
  const at = (name: string): number | undefined => cm.get(name) ?? sm.get(name);
  const [coldStart, coldEnd, swapStart, startBegin, answering] = [
    "cold-start",
    "cold-end",
    "swap-start",
    "start-begin",
    "answering",
  ].map(at);
  if ([coldStart, coldEnd, swapStart, startBegin, answering].every((x) => x !== undefined))
    run.outage = {
      ms: answering! - coldStart!,
      parts: {
        copy: coldEnd! - coldStart!,
        between: swapStart! - coldEnd!,
        swap: startBegin! - swapStart!,
        start: answering! - startBegin!,
      },
    };
  run.error ??= commandError("manual scripted swap", s);
  const rsync = rsyncVerboseTotals(r.stdout);
  const configFiles = configFilesOnOrigin(lab);
  run.cold = phase(r, rsync.files + configFiles, rsync.receivedBytes + dumpBytes(r.stdout));
  const m = marks(r.stdout);
  const [start, end] = [m.get("cold-start"), m.get("cold-end")];
  if (start !== undefined && end !== undefined) run.cold.downtimeMs = end - start;
  for (const c of passedOver(r.stdout))
    run.notes.push(`failed and passed over, as an administrator would: ${c}`);
  const errors = psqlErrors(r.stderr);
  if (errors.length)
    run.notes.push(`psql reported ${errors.length} error(s) during the load, first: ${errors[0]!.trim()}`);
  run.error ??= commandError("manual cold phase", r);
  if (!run.error && !run.outage) run.error = "manual swap: its marks are missing (no outage measured)";
}

/**
 * How many files the procedure's scp lines copy: its globs expanded on the origin (scp prints no
 * list, and the timed script must stay the procedure's commands). Counted after the timed run.
 */
function configFilesOnOrigin(lab: Lab): number {
  const out = must(
    lab,
    "origin",
    `shopt -s nullglob; find /etc/bm/* /etc/bm-hps/* /etc/ssl/certs/bm_cert.pem /var/lib/bm-ca/* ` +
      `/usr/share/bm-elasticsearch/config/elasticsearch.yml /etc/imapd* /etc/cyrus* ` +
      `/etc/postfix/{main.cf,master.cf,master_relay_transport-flat,master_relay_transport.db,transport-flat,transport.db,` +
      `virtual_alias-flat,virtual_alias.db,virtual_domains-flat,virtual_domains.db,virtual_mailbox-flat,virtual_mailbox.db} ` +
      `/etc/bm-webmail/* -type f 2>/dev/null | wc -l`,
  );
  // bm.ini has a line of its own in the procedure besides /etc/bm/*: it is copied twice.
  return Number(out.trim()) + 1;
}

function phase(
  r: Timed,
  files: number,
  bytes: number,
  db: { deltaRows?: number; databaseModes?: Record<string, string> } = {},
): PhaseNumbers {
  return {
    wallMs: r.wallMs,
    movedFiles: files,
    movedBytes: bytes,
    ...(db.deltaRows ? { deltaRows: db.deltaRows } : {}),
    ...(db.databaseModes && Object.keys(db.databaseModes).length ? { databaseModes: db.databaseModes } : {}),
    ...(r.peakRssKiB !== undefined ? { peakRssKiB: r.peakRssKiB } : {}),
  };
}

const HOT: Record<Side, (lab: Lab, run: SideRun) => void> = { "bm-migrate": toolHot, manual: manualHot };
const COLD: Record<Side, (lab: Lab, run: SideRun) => void> = { "bm-migrate": toolCold, manual: manualCold };

// ---------- one scale, one repetition ----------

async function benchScale(opts: Options, scale: number, repetition: number): Promise<ScaleRun> {
  // Alternate which side goes first, so that a warm page cache or a busy neighbour favours neither.
  const order: Side[] = repetition % 2 === 0 ? ["bm-migrate", "manual"] : ["manual", "bm-migrate"];
  const result: ScaleRun = { scale, repetition, first: order[0]!, runs: [] };
  const labs = new Map<Side, Lab>();
  const runs = new Map<Side, SideRun>();
  try {
    for (const side of order) labs.set(side, labUp(LABS[side], { scale, seed: opts.seed }));
    for (const side of order) {
      const run: SideRun = { side, lab: LABS[side], notes: [] };
      runs.set(side, run);
      result.runs.push(run);
    }
    const size = originSize(labs.get("bm-migrate")!);
    result.originFiles = size.files;
    result.originRows = size.rows;
    // Quiet both labs: only the lab being timed serves, below.
    for (const lab of labs.values()) {
      must(lab, "origin", "bmctl stop >/dev/null");
      must(lab, "target", "bmctl stop >/dev/null");
    }
    // The generators' writes reach the disk now, not during the first timed run.
    spawnSync("sync", [], { timeout: TIMEOUT.up });

    // 1. The first hot sync, one side after the other, the origins' writers stopped (see above).
    for (const side of order) {
      const lab = labs.get(side)!;
      const run = runs.get(side)!;
      settleDisk();
      const seq = writerSeq(lab);
      log(`scale ${scale}: ${side} hot sync (${lab.name})`);
      HOT[side](lab, run);
      if (writerSeq(lab) !== seq) throw new Error(`${lab.name} origin: the writer ran during the hot sync`);
      spawnSync("sync", [], { timeout: TIMEOUT.up }); // the first copy's writes too
      log(`  ${secs(run.hot?.wallMs)} s${run.error ? `; ${run.error}` : ""}`);
    }

    // 2. The same change on both origins: N deterministic writer rounds, with the writers stopped.
    const seqAfterHot = new Map<Side, number>();
    for (const side of order) {
      const lab = labs.get(side)!;
      const seq = writerSeq(lab);
      seqAfterHot.set(side, seq);
      // The writer's exit status is that of its last loop test (1 with --count): judge it by its
      // sequence number instead, which must have advanced by exactly N.
      lab.sh("origin", `WRITER_INTERVAL=0 /usr/share/bm-lab-writer.sh --count ${opts.changes}`, {
        timeoutMs: TIMEOUT.writer,
      });
      const advanced = writerSeq(lab) - seq;
      if (advanced !== opts.changes)
        throw new Error(`${lab.name} origin: the writer made ${advanced} rounds instead of ${opts.changes}`);
    }

    // After the swap "BlueMind" starts on the target; the lab's BlueMind is a live writer, which
    // would make the target differ from the origin at once. Users are no part of the outage: the
    // targets' writers do nothing (the core stand-in, which is what answers, still starts).
    for (const lab of labs.values())
      must(lab, "target", `printf '#!/bin/sh\\nexec sleep infinity\\n' > /usr/share/bm-lab-writer.sh`);

    // 3. The cold phase, each side with its origin serving when it starts, one after the other, to
    //    BlueMind answering on the target at the origin's address.
    for (const side of order) {
      const lab = labs.get(side)!;
      const run = runs.get(side)!;
      settleDisk();
      must(lab, "origin", "bmctl start >/dev/null; sleep 1");
      log(`scale ${scale}: ${side} cold phase (${lab.name})`);
      COLD[side](lab, run);
      // Stop the writer in case the cold phase failed before stopping it; a no-op otherwise.
      must(lab, "origin", "bmctl stop >/dev/null");
      run.changeRounds = writerSeq(lab) - seqAfterHot.get(side)!;
      log(
        `  outage ${secs(run.outage?.ms)} s (cold phase ${secs(run.cold?.downtimeMs)} s), wall ${secs(run.cold?.wallMs)} s${run.error ? `; ${run.error}` : ""}`,
      );
      if (run.outage)
        log(
          `  made of ${Object.entries(run.outage.parts)
            .map(([k, ms]) => `${k} ${ms} ms`)
            .join(", ")}; load ${loadavg()
            .map((x) => x.toFixed(1))
            .join(" ")}`,
        );
    }

    // 4. The comparison tool on both pairs, with BlueMind and postfix stopped on all four hosts.
    for (const side of order) await compare(labs.get(side)!, runs.get(side)!);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`scale ${scale}: ${message}`);
    for (const run of result.runs) run.error ??= message;
    if (result.runs.length === 0)
      result.runs.push(...order.map((side) => ({ side, lab: LABS[side], notes: [], error: message })));
  } finally {
    if (!opts.keep) for (const lab of labs.values()) labDown(lab);
    else log(`--keep: labs ${[...labs.values()].map((l) => l.name).join(", ")} left up`);
  }
  return result;
}

async function compare(lab: Lab, run: SideRun): Promise<void> {
  log(`${lab.name}: comparing origin and target`);
  for (const role of ["origin", "target"] as const)
    must(lab, role, "bmctl stop >/dev/null; service postfix stop");
  // The swap powered the origin off (the lab's stand-in stops its PostgreSQL): its data is read here.
  must(lab, "origin", "service postgresql start >/dev/null");
  const diffs = await differences(manifest(lab, "origin"), manifest(lab, "target"));
  run.identical = diffs.length === 0;
  run.differenceCount = diffs.length;
  run.differenceKinds = {};
  for (const d of diffs) {
    const k = d.field ? `${d.kind}:${d.field}` : d.kind;
    run.differenceKinds[k] = (run.differenceKinds[k] ?? 0) + 1;
  }
  // One example of each kind first (the first ten are often all of one kind), then the rest.
  const examples = [...new Map(diffs.map((d) => [d.field ? `${d.kind}:${d.field}` : d.kind, d])).values()];
  run.firstDifferences = [...new Set([...examples, ...diffs].map((d) => d.message))].slice(0, 10);
  log(`  ${run.identical ? "identical" : `${diffs.length} differences`}`);
  for (const m of run.firstDifferences) log(`    ${m}`);
}

// ---------- main ----------

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const result: BenchResult = {
    startedAt: new Date().toISOString(),
    finishedAt: "",
    host: { cpus: cpus().length, loadAverageAtStart: loadavg(), loadAverageAtEnd: [] },
    options: { scales: opts.scales, repeat: opts.repeat, changes: opts.changes, seed: opts.seed },
    scales: [],
  };
  if (process.getuid?.() !== 0) throw new Error("the benchmark needs root (it builds labs): run it as root");
  for (const scale of opts.scales)
    for (let rep = 0; rep < opts.repeat; rep++) {
      result.scales.push(await benchScale(opts, scale, rep));
      // After each scale: an interrupted benchmark keeps what it measured.
      result.host.loadAverageAtEnd = loadavg();
      writeResults(result, markdown(result));
    }
  result.finishedAt = new Date().toISOString();
  result.host.loadAverageAtEnd = loadavg();
  const md = markdown(result);
  writeResults(result, md);
  process.stdout.write("\n" + md);
  const toolFailed = result.scales.some((s) => s.runs.some((r) => r.side === "bm-migrate" && failed(r)));
  return toolFailed ? 1 : 0;
}

function writeResults(result: BenchResult, md: string): void {
  mkdirSync(RESULTS, { recursive: true });
  const json = JSON.stringify(result, null, 2) + "\n";
  writeFileSync(join(RESULTS, "latest.json"), json);
  writeFileSync(join(RESULTS, "latest.md"), md);
  writeFileSync(join(RESULTS, `${result.startedAt.replace(/[:.]/g, "-")}.json`), json);
  log(`results written to ${RESULTS}/latest.{md,json}`);
}

/**
 * Wait until creating files runs at its normal speed again. On this machine's disk (ext4 mounted
 * with `discard`), for some seconds after many files were deleted (a lab taken down, a copy
 * removed) creating files is up to 20 times slower: a timed run must not start in that wave.
 * The probe creates 2,000 empty files in 20 directories, as a mail store's copy does; it deletes
 * nothing until the benchmark ends (deleting would start such a wave itself).
 */
function settleDisk(limitMs = 3 * MINUTE): void {
  const probe = (): number => {
    const dir = mkdtempSync(join(PROBES, "p-"));
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) {
      mkdirSync(join(dir, String(i)));
      for (let j = 0; j < 100; j++) writeFileSync(join(dir, String(i), String(j)), "");
    }
    return Date.now() - t0;
  };
  mkdirSync(PROBES, { recursive: true });
  const start = Date.now();
  let ms = probe();
  while (ms > SETTLED_MS && Date.now() - start < limitMs) {
    spawnSync("sleep", ["10"]);
    ms = probe();
  }
  const waited = Date.now() - start;
  if (waited > 2000)
    log(`  (waited ${secs(waited)} s for the disk to settle: 2,000 files now take ${ms} ms)`);
}
/** Creating the probe's 2,000 files on a quiet disk takes well under this. */
const SETTLED_MS = 300;
/** The probes' files, removed when the benchmark ends. */
const PROBES = join(tmpdir(), `bench-disk-probes-${process.pid}`);

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

const secs = (ms: number | undefined): string => (ms === undefined ? "n/a" : (ms / 1000).toFixed(1));

function tail(text: string, chars = 2000): string {
  return text.length > chars ? "…" + text.slice(-chars) : text;
}

// Ctrl-C: the labs must not outlive the benchmark (spawnSync returns once its child is gone).
process.on("SIGINT", () => {
  for (const lab of [...upLabs]) labDown(lab);
  rmSync(PROBES, { recursive: true, force: true });
  process.exit(130);
});
process.on("exit", () => rmSync(PROBES, { recursive: true, force: true }));

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    for (const lab of [...upLabs]) labDown(lab);
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
