/**
 * The postfix maps BlueMind writes, and how to see that they were rebuilt. The mail maintenance
 * task (POST /api/system/maildelivery/mgmt/_repair) only publishes `postfix.map.dirty` and ends
 * Success (mdhender/bluemindfork parent/system/net.bluemind.system.service/src/net/bluemind/
 * system/service/internal/PostfixMgmt.java); the maps are rebuilt by that event's listener,
 * throttled to once per 10 s, its errors only logged (parent/mailbackend/net.bluemind.backend.postfix/
 * src/net/bluemind/backend/postfix/internal/maps/events/DirtyMapEvent.java). So "rebuilt" is only
 * known from the files: each `-flat` map newer than the request.
 */

/** Where BlueMind writes them (PostfixPaths.java). */
export const POSTFIX_DIR = "/etc/postfix";
export const POSTFIX_MAP_NAMES = [
  "virtual_domains",
  "virtual_mailbox",
  "virtual_alias",
  "transport",
  "master_relay_transport",
] as const;

/** BlueMind's throttle of map rebuilds (DirtyMapEvent: ThrottleMessages of 10 000 ms). */
export const MAP_THROTTLE_MS = 10_000;

/** Prints `<mtime seconds.fraction> <path>` for each map file there is (find's %T@: portable). */
export function mapTimesScript(dir: string = POSTFIX_DIR): string {
  const names = POSTFIX_MAP_NAMES.flatMap((n) => [`-name '${n}-flat'`, `-name '${n}.db'`]).join(" -o ");
  return `find '${dir.replace(/'/g, "'\\''")}' -maxdepth 1 -type f \\( ${names} \\) -printf '%T@ %p\\n' 2>/dev/null; true`;
}

export interface MapTimes {
  /** path -> mtime in ms. */
  files: Map<string, number>;
}

export function parseMapTimes(out: string): MapTimes {
  const files = new Map<string, number>();
  for (const line of out.split("\n")) {
    const m = /^(\d+(?:\.\d+)?) (.+)$/.exec(line.trim());
    if (m) files.set(m[2]!, Math.round(Number(m[1]) * 1000));
  }
  return { files };
}

/** The `-flat` maps, and which of them are not newer than `sinceMs` yet. */
export function staleMaps(t: MapTimes, sinceMs: number): { flat: string[]; stale: string[] } {
  const flat = [...t.files.keys()].filter((p) => p.endsWith("-flat")).sort();
  // File times come from the kernel's coarse clock, a few ms behind the wall clock.
  return { flat, stale: flat.filter((p) => (t.files.get(p) ?? 0) < sinceMs - 20) };
}
