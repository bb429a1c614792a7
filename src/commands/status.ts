/**
 * `bm-migrate status`: each phase's passes and steps with times and volumes, and what to run next.
 * Reads the journal, and this server's service state from the system: no connection, no lock.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import type { App } from "../engine/app.js";
import { LocalHost } from "../adapters/host.js";
import { describeServiceState, readServiceState } from "../bluemind/serviceState.js";
import type { Event } from "../engine/events.js";
import { ExitCode } from "../engine/errors.js";
import { foldJournal, outageParts, type PassState } from "../engine/status.js";
import { PHASES } from "../engine/records.js";
import type { JournalRecord } from "../engine/journal.js";
import { isAlive, type LockInfo } from "../engine/lock.js";
import { formatBytes, formatCount, formatDuration } from "../engine/format.js";
import { logPaths } from "../engine/paths.js";

/** What status takes from its flags. */
export interface StatusOptions {
  /** --follow: then show a running command's output live, until it ends. */
  follow: boolean;
}

export function parseStatusOptions(opts: Record<string, unknown>): StatusOptions {
  return { follow: Boolean(opts["follow"]) };
}

export async function statusCommand(app: App, opts: StatusOptions = { follow: false }): Promise<number> {
  const code = await printStatus(app);
  if (opts.follow) await follow(app);
  return code;
}

/** How often --follow looks at the log and the lock. */
const FOLLOW_POLL_MS = 200;
/** --follow ends once no run has held the lock for this long (run releases it between phases). */
const FOLLOW_IDLE_MS = 3000;

/**
 * `status --follow`: the log's events as they come (from another session: the run's own terminal
 * may be gone), printed as a run prints them; ends when no run holds the lock any more, or Ctrl-C.
 */
async function follow(app: App): Promise<void> {
  const path = logPaths(app.settings.logDir).log;
  let offset = existsSync(path) ? statSync(path).size : 0;
  let rest = "";
  const holder = (): RunGoingOn | undefined => {
    const journalPath = app.journal.path;
    return runGoingOn({
      lock: app.lock.read(),
      self: process.pid,
      alive: isAlive,
      records: () => app.journal.records(),
      journalAgeMs: existsSync(journalPath) ? Date.now() - statSync(journalPath).mtimeMs : undefined,
    });
  };
  const current = holder();
  const running = current?.what;
  // A run going on: its output from its start (what a dropped session missed), then live.
  const since = current?.since;
  if (since) offset = offsetOfFirstLineSince(path, since);
  app.print(
    running
      ? `Following ${running}: its log ${path} (Ctrl-C to stop following; the run goes on)`
      : `No run is going on now; following ${path} until none starts for ${FOLLOW_IDLE_MS / 1000} s`,
  );
  let idleSince = running ? undefined : Date.now();
  while (!app.signal.aborted) {
    const size = existsSync(path) ? statSync(path).size : 0;
    if (size < offset) offset = 0; // rotated or replaced
    if (size > offset) {
      const fd = openSync(path, "r");
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      closeSync(fd);
      offset = size;
      const lines = (rest + buf.toString("utf8")).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) showLogLine(app, line);
    }
    if (holder()) idleSince = undefined;
    else if (idleSince === undefined) idleSince = Date.now();
    else if (Date.now() - idleSince >= FOLLOW_IDLE_MS) break;
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
  }
  await printStatus(app);
}

/** A run going on, as `status --follow` names it, and the time its output starts from. */
export interface RunGoingOn {
  what: string;
  since?: string;
}

/**
 * The run going on: the lock's holder while its process lives; else a pass the journal shows
 * unfinished, but only while the journal still moves (a run killed mid-pass leaves its pass
 * unfinished for good: following it would never end).
 */
export function runGoingOn(s: {
  lock: LockInfo | undefined;
  self: number;
  alive: (pid: number) => boolean;
  /** The journal's records (read only when no live process holds the lock). */
  records: () => JournalRecord[];
  /** How long ago the journal was last written (undefined: no journal). */
  journalAgeMs: number | undefined;
}): RunGoingOn | undefined {
  if (s.lock && s.lock.pid !== s.self && s.alive(s.lock.pid))
    return { what: `${s.lock.command} (pid ${s.lock.pid})`, since: s.lock.started };
  if (s.journalAgeMs === undefined || s.journalAgeMs >= FOLLOW_IDLE_MS) return undefined;
  const open = foldJournal(s.records())
    .passes.filter((p) => p.state === "unfinished")
    .at(-1);
  return open ? { what: `bm-migrate ${open.phase} (pass ${open.pass})`, since: open.startedAt } : undefined;
}

/** The byte offset of the log's first line stamped at or after `since` (ISO times sort as text). */
function offsetOfFirstLineSince(path: string, since: string): number {
  if (!existsSync(path)) return 0;
  const text = readFileSync(path);
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf(0x0a, at);
    const end = nl < 0 ? text.length : nl + 1;
    if (text.toString("utf8", at, Math.min(at + 24, end)) >= since) return at;
    at = end;
  }
  return text.length;
}

/** One log line (`TIME {event}`) shown as the run showed it. */
function showLogLine(app: App, line: string): void {
  const sp = line.indexOf(" ");
  if (sp < 0) return;
  try {
    const e = JSON.parse(line.slice(sp + 1)) as Event;
    if (e.type === "command") return;
    const ts = line.slice(0, sp);
    // With the time it was logged: the lines a dropped session missed are shown at once, later.
    app.showLogged(e, ts);
  } catch {
    /* a line being written, or not ours */
  }
}

async function printStatus(app: App): Promise<number> {
  const st = foldJournal(app.journal.records());
  // This server's services, from the system (the origin is not asked: no connection).
  const here = await readServiceState(new LocalHost("target"), app.signal).catch(() => undefined);
  if (app.flags.json) {
    process.stdout.write(
      JSON.stringify({
        ts: new Date().toISOString(),
        type: "status",
        ...st,
        ...(here ? { targetServices: here } : {}),
      }) + "\n",
    );
    return ExitCode.ok;
  }
  const lines: string[] = [];
  lines.push(`Migration state in ${app.settings.stateDir}`);
  if (st.origin)
    lines.push(
      `Origin: ${st.origin}${st.originVersion ? `, BlueMind ${st.originVersion}` : ""}${st.profile ? `, profile ${st.profile}` : ""}`,
    );
  if (st.lastCheck)
    lines.push(
      `check: ${st.lastCheck.blockers} blockers, ${st.lastCheck.warnings} warnings (${st.lastCheck.at})`,
    );
  for (const phase of PHASES) {
    if (phase === "check") continue;
    const passes = st.passes.filter((p) => p.phase === phase);
    if (phase === "verify" && st.lastVerify) {
      lines.push(
        `verify: ${st.lastVerify.ok ? "identical" : `${st.lastVerify.differences} differences`} (${st.lastVerify.at})`,
      );
      continue;
    }
    if (!passes.length) {
      lines.push(`${phase}: not run yet`);
      continue;
    }
    const last = passes.at(-1)!;
    lines.push(`${phase}: ${passes.length} pass${passes.length > 1 ? "es" : ""}; last ${describePass(last)}`);
    for (const s of last.steps) {
      const vol =
        s.data && typeof s.data["transferredBytes"] === "number"
          ? ` [${formatCount(Number(s.data["transferredFiles"] ?? 0))} files, ${formatBytes(Number(s.data["transferredBytes"]))} moved]`
          : "";
      const t = s.durationMs !== undefined ? ` ${formatDuration(s.durationMs)}` : "";
      lines.push(
        `    ${s.state.padEnd(11)} ${s.title}${t}${s.summary ? `: ${s.summary}` : ""}${s.error ? `: ${s.error}` : ""}${vol && !s.summary ? vol : ""}`,
      );
    }
  }
  if (st.outage) {
    const o = st.outage;
    lines.push(
      o.ongoing || o.ms === undefined
        ? `OUTAGE ONGOING: BlueMind has been stopped on the origin since ${o.startedAt} (${formatDuration(Date.now() - Date.parse(o.startedAt))}); it ends when BlueMind answers on the target after the swap. So far: ${outageParts(o, formatDuration)}`
        : `outage: ${formatDuration(o.ms)} from the origin's stop (${o.startedAt}) until BlueMind answered on the target (${o.endedAt}): ${outageParts(o, formatDuration)}`,
    );
  }
  if (st.downtime)
    lines.push(
      `cold phase (cold sync): ${formatDuration(st.downtime.ms)} from ${st.downtime.startedAt} to ${st.downtime.endedAt}`,
    );
  if (st.rolledBackAt) lines.push(`rolled back at ${st.rolledBackAt}`);
  if (st.fence)
    lines.push(
      `the origin's databases are FENCED (read-only) since ${st.fence.since}${st.fence.databases.length ? `: ${st.fence.databases.join(", ")}` : ""}${st.fence.ended ? ` (${st.fence.ended} session(s) connected then were ended)` : ""}; bm-migrate rollback or the swap lifts it`,
    );
  if (here) lines.push(`This server now: ${describeServiceState(here)}`);
  lines.push(`Next: ${st.next}`);
  app.print(lines.join("\n"));
  return ExitCode.ok;
}

function describePass(p: PassState): string {
  const when = `started ${p.startedAt.slice(0, 19).replace("T", " ")}`;
  switch (p.state) {
    case "finished":
      return `${p.pass} finished in ${formatDuration(p.durationMs ?? 0)} (${when})`;
    case "failed":
      return `${p.pass} FAILED (${when}): ${p.error ?? ""}`;
    case "abandoned":
      return `${p.pass} abandoned by rollback (${when})`;
    default:
      return `${p.pass} unfinished (${when}): run the same command again to resume`;
  }
}
