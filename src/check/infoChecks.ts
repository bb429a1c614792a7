/** Information for the administrator: clocks, systems, services, and what will move. */
import { formatBytes, formatCount, formatDuration } from "../engine/format.js";
import type { HostFacts } from "../bluemind/facts.js";
import type { CheckContext } from "./context.js";
import type { Finding } from "./findings.js";
import type { PreflightFacts } from "./gather.js";
import { pgMajor, type ServiceFacts } from "./probes.js";

/** Above this, logs and mail dates disagree between the servers. */
export const CLOCK_WARN_SEC = 5;

export function clockFindings(f: PreflightFacts): Finding[] {
  const c = f.clock;
  if (!c) return [];
  const at = (t: number) => new Date(t * 1000).toISOString();
  const diff = `${c.offsetSec >= 0 ? "+" : ""}${c.offsetSec.toFixed(2)} s (± ${c.uncertaintySec.toFixed(2)} s)`;
  const values = { origin: at(c.targetTime + c.offsetSec), target: at(c.targetTime) };
  if (Math.abs(c.offsetSec) - c.uncertaintySec > CLOCK_WARN_SEC)
    return [
      {
        id: "clock",
        severity: "warning",
        title: `the clocks differ by ${diff}`,
        ...values,
        remedy: "synchronise both clocks (NTP: chrony or systemd-timesyncd) before migrating",
      },
    ];
  return [
    { id: "clock", severity: "info", title: `clocks agree (origin ${diff} from the target)`, ...values },
  ];
}

export function osFindings(f: PreflightFacts): Finding[] {
  const o = f.origin.host;
  const t = f.target.host;
  if (!o && !t) return [];
  const shown = (h: HostFacts) =>
    `${h.osPrettyName} (${h.osId} ${h.osVersion}), init ${h.init}, host ${h.hostname}`;
  return [
    {
      id: "os",
      severity: "info",
      title: "distribution, release and init system",
      ...(o ? { origin: shown(o) } : {}),
      ...(t ? { target: shown(t) } : {}),
    },
  ];
}

export function serviceFindings(f: PreflightFacts): Finding[] {
  const shown = (s: ServiceFacts | undefined, v: number | undefined) =>
    s
      ? `BlueMind ${s.bluemind}${s.bluemindEvidence ? ` (${s.bluemindEvidence})` : ""}, postfix ${s.postfix}, PostgreSQL ${s.postgresql}${v ? ` (${pgMajor(v)})` : ""}`
      : undefined;
  const o = shown(f.origin.services, f.origin.db?.serverVersionNum);
  const t = shown(f.target.services, f.target.db?.serverVersionNum);
  if (!o && !t) return [];
  return [
    {
      id: "services",
      severity: "info",
      title: "services",
      ...(o ? { origin: o } : {}),
      ...(t ? { target: t } : {}),
    },
  ];
}

/** Assumed rates for the first hot sync's estimate (a LAN and disks of a typical server). */
export const ESTIMATE_BYTES_PER_SEC = 50 * 1024 * 1024;
export const ESTIMATE_FILES_PER_SEC = 5000;

export function estimateHotSyncSec(bytesToCopy: number, files: number): number {
  return 2 + bytesToCopy / ESTIMATE_BYTES_PER_SEC + files / ESTIMATE_FILES_PER_SEC;
}

export function volumeFindings(f: PreflightFacts, ctx: CheckContext): Finding[] {
  const od = f.origin.storage?.dirs;
  if (!od) return [];
  const td = f.target.storage?.dirs ?? [];
  const dirs = ctx.profile?.dataDirs ?? f.dataDirs;
  const lines: string[] = [];
  let total = 0;
  let toCopy = 0;
  let files = 0;
  for (const dir of dirs) {
    const o = od.find((d) => d.path === dir);
    const t = td.find((d) => d.path === dir);
    if (!o?.present) {
      lines.push(`${dir}: absent on the origin (nothing to copy)`);
      continue;
    }
    const rest = Math.max(0, o.apparentBytes - (t?.apparentBytes ?? 0));
    total += o.apparentBytes;
    toCopy += rest;
    files += o.paths;
    lines.push(
      `${dir}: ${formatBytes(o.apparentBytes)} in ${formatCount(o.paths)} files${t?.present && t.paths > 1 ? `; on the target already ${formatBytes(t.apparentBytes)} in ${formatCount(t.paths)} files` : ""}`,
    );
  }
  const sizes = f.origin.db?.sizes ?? {};
  for (const db of ctx.profile?.databases ?? Object.keys(sizes)) {
    const s = sizes[db];
    lines.push(`database ${db}: ${s === undefined ? "size unknown" : formatBytes(s)}`);
  }
  const est = estimateHotSyncSec(toCopy, files);
  lines.push(
    `first hot sync: about ${formatDuration(Math.round(est * 1000))} (assuming ${formatBytes(ESTIMATE_BYTES_PER_SEC)}/s and ${formatCount(ESTIMATE_FILES_PER_SEC)} files/s)`,
  );
  return [
    {
      id: "volume",
      severity: "info",
      title: `to move: ${formatBytes(total)} in ${formatCount(files)} files, databases ${formatBytes(Object.values(sizes).reduce((a, b) => a + b, 0))}; first hot sync about ${formatDuration(Math.round(est * 1000))}`,
      detail: lines.join("\n"),
    },
  ];
}
