/**
 * The configuration file `bm-migrate init` writes: the `key = value` form `parseConfigFile` reads,
 * every key explained, and comments saying what was found on both servers (systems, BlueMind
 * versions, external-url, what the profile moves, free space). Pure: facts in, text out.
 */
import type { HostFacts } from "../bluemind/facts.js";
import type { ConfigPattern, Profile } from "../bluemind/profiles.js";
import type { SshTarget } from "../engine/destination.js";
import type { FsSpace } from "../check/probes.js";
import type { Settings } from "../engine/settings.js";
import { formatBytes, formatCount } from "../engine/format.js";

/** What was read on one server. */
export interface DetectedSide {
  /** How it is named: `root@bm-origin` for the origin, the hostname for the target. */
  label: string;
  facts?: HostFacts;
  /** Why the facts could not be read. */
  error?: string;
  /** Free space of the filesystems holding the data directories (and the state directory). */
  spaces?: FsSpace[];
}

export interface ConfigDraft {
  /** The settings to write (flags over an existing configuration over defaults); origin is set. */
  settings: Settings & { origin: SshTarget };
  origin: DetectedSide;
  target: DetectedSide;
  /** The profile the origin's version selects (or the one forced). */
  profile?: Profile;
  /** The profile was forced with --profile: it is written as an active key. */
  profileForced: boolean;
  /** ISO time of writing. */
  writtenAt: string;
}

/** `[user@]host[:port]` as the settings parse it back (IPv6 hosts in brackets). */
export function formatDestination(t: SshTarget): string {
  const host = t.host.includes(":") ? `[${t.host}]` : t.host;
  return `${t.user}@${host}${t.port !== undefined ? `:${t.port}` : ""}`;
}

const WIDTH = 100;

/** Comment lines of at most WIDTH characters; continuation lines indented under the first. */
function comment(text: string, indent = "", hang = "  "): string[] {
  const out: string[] = [];
  let line = `# ${indent}`;
  let fresh = true;
  for (const word of text.split(" ")) {
    if (!fresh && line.length + 1 + word.length > WIDTH) {
      out.push(line);
      line = `# ${indent}${hang}${word}`;
    } else line += fresh ? word : ` ${word}`;
    fresh = false;
  }
  out.push(line);
  return out;
}

function describeHost(side: DetectedSide, role: "origin" | "target"): string {
  const f = side.facts;
  if (!f) return `${role} ${side.label}: not read (${side.error ?? "unknown error"})`;
  const named =
    role === "origin" && f.hostname !== side.label.split("@").pop() ? ` (hostname ${f.hostname})` : "";
  const bm = f.bmVersion
    ? `BlueMind ${f.bmVersion} (${f.packageManager})`
    : "BlueMind not installed (no bm-core)";
  const url = f.bmIni?.externalUrl
    ? `external-url ${f.bmIni.externalUrl}`
    : "no external-url in /etc/bm/bm.ini";
  const tools = [
    f.rsyncVersion ? `rsync ${f.rsyncVersion}` : "no rsync",
    f.pgDumpMajor !== undefined ? `pg_dump ${f.pgDumpMajor}` : "no pg_dump",
    f.subscription ? "subscription present" : "no subscription file",
  ];
  return `${role} ${side.label}${named}: ${f.osPrettyName}, ${bm}, ${url}, ${tools.join(", ")}`;
}

/** What differs between the two servers that the procedure needs equal. */
export function mismatches(o?: HostFacts, t?: HostFacts): string[] {
  if (!o || !t) return [];
  const out: string[] = [];
  if (o.bmVersion !== t.bmVersion)
    out.push(
      `the BlueMind versions differ (${o.bmVersion ?? "none"} on the origin, ${t.bmVersion ?? "none"} on the target): they must be the same before any copy`,
    );
  const ou = o.bmIni?.externalUrl;
  const tu = t.bmIni?.externalUrl;
  if (ou !== tu)
    out.push(
      `external-url differs (${ou ?? "none"} on the origin, ${tu ?? "none"} on the target): set up the target with the origin's`,
    );
  if (!o.hasRsync || !t.hasRsync) out.push("rsync must be installed on both servers");
  if (!t.subscription) out.push("the target has no subscription file (/etc/bm/subscription.bmz)");
  return out;
}

function describePattern(p: ConfigPattern): string {
  const notes = [p.recursive ? "with subdirectories" : "", p.optional ? "if present" : ""].filter(Boolean);
  return notes.length ? `${p.pattern} (${notes.join(", ")})` : p.pattern;
}

/** Free space per filesystem: `/: 12.3 GiB, 1,234 inodes free (/var/spool/cyrus, ...)`. */
function describeSpaces(spaces: FsSpace[], stateDir: string): string[] {
  const byMount = new Map<string, { space: FsSpace; paths: string[] }>();
  for (const s of spaces) {
    const e = byMount.get(s.mount) ?? { space: s, paths: [] };
    e.paths.push(s.path === stateDir ? `${s.path} (state-dir: dumps)` : s.path);
    byMount.set(s.mount, e);
  }
  return [...byMount.values()].map(({ space, paths }) => {
    const inodes = space.totalInodes > 0 ? `, ${formatCount(space.availInodes)} inodes` : "";
    return `${space.mount}: ${formatBytes(space.availBytes)}${inodes} free, for ${paths.join(", ")}`;
  });
}

function detectedSection(d: ConfigDraft): string[] {
  const lines = ["# Detected"];
  lines.push(...comment(describeHost(d.origin, "origin"), "  ", "    "));
  lines.push(...comment(describeHost(d.target, "target"), "  ", "    "));
  for (const m of mismatches(d.origin.facts, d.target.facts)) lines.push(...comment(`! ${m}`, "  ", "    "));
  lines.push("#");
  const p = d.profile;
  if (!p) {
    lines.push(
      ...comment(
        "What moves: no profile, the origin's BlueMind version is unknown to this bm-migrate (check that bm-core is installed there; bm-migrate check tells more).",
      ),
    );
  } else {
    const why = d.profileForced
      ? "forced with --profile"
      : `chosen from the origin's bm-core ${d.origin.facts?.bmVersion ?? "?"}`;
    lines.push(...comment(`What moves: profile ${p.id}, ${p.description} (${why})`));
    lines.push(...comment(`data directories (rsync, hot and cold): ${p.dataDirs.join(", ")}`, "  ", "    "));
    lines.push(
      ...comment(
        `databases (read on the origin through the SSH tunnel, loaded on the target): ${p.databases.join(", ")}`,
        "  ",
        "    ",
      ),
    );
    lines.push(
      ...comment(
        `configuration (made equal to the origin's during the cold sync, the target's own extra files set aside): ${p.configMirrors.map((m) => `${m.pattern}/`).join(", ")}, ${p.configFiles.map(describePattern).join(", ")}`,
        "  ",
        "    ",
      ),
    );
    if (p.dbPasswordInIni)
      lines.push(
        ...comment(
          "the database password comes with the origin's bm.ini: the target's role is given it after the copy",
          "  ",
          "    ",
        ),
      );
  }
  for (const [side, role] of [
    [d.target, "target"],
    [d.origin, "origin"],
  ] as const) {
    if (!side.spaces?.length) continue;
    lines.push("#", `# Free space on the ${role} (at init)`);
    for (const s of describeSpaces(side.spaces, d.settings.stateDir)) lines.push(...comment(s, "  ", "    "));
  }
  return lines;
}

/** One key: its explanation, then the line (or a commented-out line when `active` is false). */
function key(name: string, value: string, explanation: string, active = true): string[] {
  return ["", ...comment(explanation), `${active ? "" : "# "}${name} = ${value}`];
}

/** The configuration file's text; loads back through `loadSettings` with the same settings. */
export function renderConfigFile(d: ConfigDraft): string {
  const s = d.settings;
  const lines = [
    "# bm-migrate configuration",
    ...comment(
      `Written by 'bm-migrate init' at ${d.writtenAt} on the target, from what was found on both servers. Every bm-migrate command reads it (by default from /etc/bm-migrate.conf; another file: --config FILE). Format: 'key = value', one per line; lines starting with # are comments. A flag on the command line wins over the value here. Next: bm-migrate check.`,
    ),
    "#",
    ...detectedSection(d),
    "#",
    "# Settings",
    ...key(
      "origin",
      formatDestination(s.origin),
      "origin: the server to move, [user@]host[:port], reached over SSH from this server (the target) with root's key, its host key checked against root's known_hosts. Flag: --origin.",
    ),
    ...key(
      "state-dir",
      s.stateDir,
      "state-dir: the journal (what was done, for status and for resuming), database dumps, the fresh install's set-aside content, reports. Its filesystem needs room for the dumps. Flag: --state-dir.",
    ),
    ...key(
      "log-dir",
      s.logDir,
      "log-dir: where bm-migrate.log is kept: every event and every command run (secrets left out). Flag: --log-dir.",
    ),
    ...key(
      "bwlimit",
      String(s.bwlimit),
      "bwlimit: rsync's bandwidth limit on the origin's link, in KiB/s; 0 means no limit. Flag: --bwlimit.",
    ),
    ...key(
      "nice",
      String(s.nice),
      "nice: true runs the origin's side of the hot sync at low CPU and I/O priority (nice, ionice) so that it keeps serving its users; the cold sync always runs at full speed.",
    ),
    ...key(
      "db-jobs",
      String(s.dbJobs),
      "db-jobs: parallel jobs for the database copies, 1 to 64. Flag: --db-jobs.",
    ),
    ...key(
      "catch-up-after",
      String(s.catchUpAfter ?? "never"),
      "catch-up-after: before the downtime, the cold sync first catches up with a hot pass (the origin still serving) when the last one ended longer ago than this many seconds, so that the downtime only covers the last moments' changes; never to skip it. Flag: --catch-up-after.",
    ),
    ...key(
      "profile",
      s.profile ?? d.profile?.id ?? "4",
      `profile: what moves, by BlueMind version (3.5, 4, 5, 5.2). Each run chooses it from the origin's bm-core version${d.profile ? ` (now: ${d.profile.id})` : ""}; set it only to force one. Flag: --profile.`,
      d.profileForced,
    ),
    "",
  ];
  return lines.join("\n");
}
