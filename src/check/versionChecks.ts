/**
 * The procedure's prerequisites about BlueMind itself: installed on both, the same bm-core version,
 * the same external-url, a subscription on the target, rsync on both, and a profile for the version.
 */
import type { HostFacts } from "../bluemind/facts.js";
import type { CheckContext } from "./context.js";
import type { Finding } from "./findings.js";
import type { PreflightFacts } from "./gather.js";

type Both = { origin: HostFacts; target: HostFacts };

function both(f: PreflightFacts): Both | undefined {
  const o = f.origin.host;
  const t = f.target.host;
  return o && t ? { origin: o, target: t } : undefined;
}

export function bluemindInstalledFindings(f: PreflightFacts): Finding[] {
  const o = f.origin.host;
  const t = f.target.host;
  const missing = (h: HostFacts | undefined) => h !== undefined && h.bmVersion === undefined;
  if (!missing(o) && !missing(t)) return [];
  const shown = (h: HostFacts | undefined) =>
    h === undefined
      ? undefined
      : (h.bmVersion ??
        `bm-core not installed (${h.packageManager === "none" ? "no dpkg or rpm" : h.packageManager})`);
  return [
    {
      id: "bluemind-installed",
      severity: "blocker",
      title: `BlueMind is not installed on the ${[missing(o) ? "origin" : "", missing(t) ? "target" : ""].filter(Boolean).join(" and ")}`,
      ...(shown(o) ? { origin: shown(o) } : {}),
      ...(shown(t) ? { target: shown(t) } : {}),
      remedy:
        "install BlueMind on the target with the origin's exact version and run its setup wizard; run bm-migrate on the target, with --origin naming the old server",
    },
  ];
}

export function versionFindings(f: PreflightFacts): Finding[] {
  const b = both(f);
  const ov = b?.origin.bmVersion;
  const tv = b?.target.bmVersion;
  if (!ov || !tv) return [];
  if (ov === tv)
    return [{ id: "bm-version", severity: "info", title: `bm-core ${ov} on both`, origin: ov, target: tv }];
  return [
    {
      id: "bm-version",
      severity: "blocker",
      title: "bm-core versions differ",
      origin: ov,
      target: tv,
      detail: "The procedure requires exactly the same BlueMind version on both servers.",
      remedy: `install bm-core ${ov} on the target (same version as the origin), or upgrade the origin to ${tv} first`,
    },
  ];
}

const normalizeUrl = (u: string) => u.trim().toLowerCase().replace(/\/+$/, "");

export function externalUrlFindings(f: PreflightFacts): Finding[] {
  const b = both(f);
  if (!b) return [];
  const shown = (h: HostFacts) =>
    h.bmIni ? (h.bmIni.externalUrl ?? "(external-url not set)") : "(no readable /etc/bm/bm.ini)";
  const ou = b.origin.bmIni?.externalUrl;
  const tu = b.target.bmIni?.externalUrl;
  if (ou && tu && normalizeUrl(ou) === normalizeUrl(tu))
    return [
      { id: "external-url", severity: "info", title: `external-url ${ou} on both`, origin: ou, target: tu },
    ];
  return [
    {
      id: "external-url",
      severity: "blocker",
      title: ou && tu ? "external-url differs" : "external-url is missing",
      origin: shown(b.origin),
      target: shown(b.target),
      detail:
        "Both servers must be configured with the same external-url (/etc/bm/bm.ini, [global] external-url).",
      remedy: ou
        ? `configure the target with external-url = ${ou} (run its setup wizard with the origin's URL), then check again`
        : "configure the origin's external-url first: it must be set and identical on both",
    },
  ];
}

export function subscriptionFindings(f: PreflightFacts): Finding[] {
  const t = f.target.host;
  if (!t) return [];
  const o = f.origin.host;
  const shown = (h: HostFacts) =>
    h.subscription ? "/etc/bm/subscription.bmz present" : "no /etc/bm/subscription.bmz";
  if (t.subscription)
    return [
      {
        id: "subscription",
        severity: "info",
        title: "subscription present on the target",
        ...(o ? { origin: shown(o) } : {}),
        target: shown(t),
      },
    ];
  return [
    {
      id: "subscription",
      severity: "blocker",
      title: "no subscription on the target",
      ...(o ? { origin: shown(o) } : {}),
      target: shown(t),
      remedy:
        "install a valid subscription for the target's OS (admin console, or copy it to /etc/bm/subscription.bmz), then check it with: bm-cli setup check-subscription",
    },
  ];
}

export function rsyncFindings(f: PreflightFacts): Finding[] {
  const o = f.origin.host;
  const t = f.target.host;
  const shown = (h: HostFacts) =>
    h.hasRsync ? `rsync ${h.rsyncVersion ?? "(version unknown)"}` : "rsync not installed";
  const missing = [o && !o.hasRsync ? "origin" : "", t && !t.hasRsync ? "target" : ""].filter(Boolean);
  const values = { ...(o ? { origin: shown(o) } : {}), ...(t ? { target: shown(t) } : {}) };
  if (!o && !t) return [];
  if (missing.length === 0) return [{ id: "rsync", severity: "info", title: "rsync present", ...values }];
  return [
    {
      id: "rsync",
      severity: "blocker",
      title: `rsync is missing on the ${missing.join(" and ")}`,
      ...values,
      remedy: `install rsync on the ${missing.join(" and ")} (apt-get install rsync, or yum install rsync)`,
    },
  ];
}

/** The oldest rsync whose server side takes the listed copies' --delete-missing-args (3.1.0). */
export const LISTED_COPY_RSYNC = [3, 1, 0] as const;

/** Whether a version text ("3.2.3", "3.0.9") is at least `min`. */
export function versionAtLeast(text: string | undefined, min: readonly number[]): boolean {
  const parts = (text ?? "")
    .split(/[^0-9]+/)
    .filter(Boolean)
    .map(Number);
  for (let i = 0; i < min.length; i++) {
    const a = parts[i] ?? 0;
    if (a !== min[i]) return a > min[i]!;
  }
  return true;
}

/**
 * What the change journal cannot see for itself, and so assumes or works around (see
 * docs/verification.md's trust model).
 */
export const JOURNAL_ASSUMES =
  "The change journal assumes: no hard link to a data file is made from outside the data directories after the last hot sync (those each hot sync finds are always copied and compared in the downtime); BlueMind's services see the same mounts as root over ssh (a mount changed under a data directory is detected and means a full pass); nothing writes the data directories through shared memory maps. An overflow of the origin's inotify queue, or a watcher that does not answer the cold sync's barrier, means a full pass, said in the run's output.";

/**
 * The origin's tools that the faster ways depend on: inotifywait (the change journal) and an rsync
 * new enough for listed copies. Neither is required: without them every pass walks every file,
 * which this says beforehand instead of failing during the run.
 */
export function originToolFindings(f: PreflightFacts): Finding[] {
  const o = f.origin.host;
  if (!o || !o.hasRsync) return [];
  const shown = `rsync ${o.rsyncVersion ?? "(version unknown)"}, ${o.inotifywaitVersion ? `inotifywait ${o.inotifywaitVersion}` : "inotifywait not installed"}`;
  const fallbacks: string[] = [];
  if (!o.inotifywaitVersion)
    fallbacks.push("inotifywait is not installed on the origin (package inotify-tools): no change journal");
  if (!versionAtLeast(o.rsyncVersion, LISTED_COPY_RSYNC))
    fallbacks.push(`the origin's rsync is older than ${LISTED_COPY_RSYNC.join(".")}: no listed copies`);
  if (!fallbacks.length)
    return [
      {
        id: "origin-tools",
        severity: "info",
        title:
          "the origin's rsync and inotifywait allow the change journal (later passes copy only what changed)",
        origin: shown,
        detail: JOURNAL_ASSUMES,
      },
    ];
  return [
    {
      id: "origin-tools",
      severity: "warning",
      title: `${fallbacks.join("; ")}: every hot and cold pass will walk every file of the data directories (a longer downtime for large spools)`,
      origin: shown,
      remedy: `for the shorter way, install on the origin: ${[!o.inotifywaitVersion ? "inotify-tools" : "", !versionAtLeast(o.rsyncVersion, LISTED_COPY_RSYNC) ? "rsync 3.1 or later" : ""].filter(Boolean).join(" and ")} (nothing else changes)`,
    },
  ];
}

export function profileFindings(f: PreflightFacts, ctx: CheckContext): Finding[] {
  const ov = f.origin.host?.bmVersion;
  if (!ctx.profile) {
    if (!ov) return [];
    return [
      {
        id: "profile",
        severity: "blocker",
        title: `no migration profile for BlueMind ${ov}`,
        origin: ov,
        detail: "bm-migrate knows BlueMind 3.5, 4.x, 5.0/5.1 and 5.2 and later.",
        remedy: "if the layout matches a known version, force it with --profile 3.5|4|5|5.2",
      },
    ];
  }
  const p = ctx.profile;
  return [
    {
      id: "profile",
      severity: "info",
      title: `profile ${p.id}${ctx.profileSource === "--profile" ? " (forced with --profile)" : ""}: ${p.description}`,
      ...(ov ? { origin: ov } : {}),
      detail: [
        `data directories: ${p.dataDirs.join(" ")}`,
        `databases: ${p.databases.join(", ")}`,
        `configuration made equal to the origin's: ${p.configMirrors.map((m) => `${m.pattern}/`).join(" ")}; files: ${p.configFiles.map((c) => c.pattern).join(" ")}`,
        `postfix queue: flushed while the origin serves, the rest carried (${p.postfixQueue.dir})`,
        ...(p.repairs.length
          ? [`after the target's start, BlueMind repairs every domain: ${p.repairs.join(", ")}`]
          : []),
        ...(p.targetLeftovers.length ? [`set aside on the target: ${p.targetLeftovers.join(" ")}`] : []),
        ...(p.dbPasswordInIni ? ["the target keeps its own database password from its bm.ini"] : []),
      ].join("\n"),
    },
  ];
}
