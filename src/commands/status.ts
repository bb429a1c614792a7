/**
 * `bm-migrate status`: each phase's passes and steps with times and volumes, and what to run next.
 * Reads the journal, and this server's service state from the system: no connection, no lock.
 */
import type { App } from "../cli/app.js";
import { LocalHost } from "../adapters/host.js";
import { describeServiceState, readServiceState } from "../bluemind/serviceState.js";
import { ExitCode } from "../engine/errors.js";
import { foldJournal, outageParts, PHASES, type PassState } from "../engine/status.js";
import { formatBytes, formatCount, formatDuration } from "../format.js";

export async function statusCommand(app: App): Promise<number> {
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
    if (phase === "post" && st.postFinishedAt) {
      lines.push(`post: done (${st.postFinishedAt})`);
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
