/**
 * Facts read from one server in a single round trip: BlueMind version (dpkg or rpm), bm.ini,
 * OS release, init system, tools present, PostgreSQL versions. Reading only: nothing is written.
 */
import type { Host } from "../adapters/host.js";
import { readBmIni, type BmIni } from "./bmIni.js";

export interface HostFacts {
  hostname: string;
  /** bm-core's version, or undefined when BlueMind is not installed. */
  bmVersion?: string;
  packageManager: "dpkg" | "rpm" | "none";
  bmIni?: BmIni;
  osId: string;
  osVersion: string;
  osPrettyName: string;
  init: "systemd" | "sysv";
  hasRsync: boolean;
  rsyncVersion?: string;
  /** inotifywait's version (inotify-tools), when installed: the change journal runs it. */
  inotifywaitVersion?: string;
  hasBmctl: boolean;
  subscription: boolean;
  /** Major version of pg_dump on this host. */
  pgDumpMajor?: number;
  /** BlueMind's installed packages (bm-*: the core, its plugins), by name; undefined when unknown. */
  bmPackages?: string[];
  /** Clock, seconds since the epoch with fractions, read at the end of the script. */
  clock: number;
}

const SCRIPT = String.raw`
DPKGVERSION='$''{Version}'
DPKGPKG='$''{Package} $''{db:Status-Abbrev}\n'
echo "hostname=$(hostname)"
if command -v dpkg-query >/dev/null 2>&1 && v=$(dpkg-query -W -f="$DPKGVERSION" bm-core 2>/dev/null) && [ -n "$v" ]; then
  echo "pm=dpkg"; echo "bm_version=$v"
elif command -v rpm >/dev/null 2>&1 && v=$(rpm -q --qf '%{VERSION}-%{RELEASE}' bm-core 2>/dev/null); then
  echo "pm=rpm"; echo "bm_version=$v"
else echo "pm=none"; fi
. /etc/os-release 2>/dev/null; echo "os_id=$ID"; echo "os_version=$VERSION_ID"; echo "os_pretty=$PRETTY_NAME"
if [ -d /run/systemd/system ]; then echo init=systemd; else echo init=sysv; fi
command -v rsync >/dev/null 2>&1 && echo "rsync=$(rsync --version | head -1 | awk '{print $3}')"
command -v inotifywait >/dev/null 2>&1 && echo "inotifywait=$(inotifywait --help 2>&1 | head -1 | awk '{print $2}')"
command -v bmctl >/dev/null 2>&1 && echo bmctl=1
[ -s /etc/bm/subscription.bmz ] && echo subscription=1
command -v pg_dump >/dev/null 2>&1 && echo "pg_dump=$(pg_dump --version | sed -n 's/.* \([0-9][0-9]*\)\..*/\1/p')"
if [ -r /etc/bm/bm.ini ]; then echo "--- bm.ini"; cat /etc/bm/bm.ini; echo "--- end"; fi
if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f="$DPKGPKG" 'bm-*' 2>/dev/null | awk '$2 ~ /^[ih]i/ {print "bmpkg=" $1}'
elif command -v rpm >/dev/null 2>&1; then rpm -qa --qf '%{NAME}\n' 'bm-*' 2>/dev/null | sed 's/^/bmpkg=/'; fi
echo "clock=$(date +%s.%N)"
`;

export async function gatherFacts(
  host: Host,
  signal?: AbortSignal,
): Promise<{ facts?: HostFacts; error?: string }> {
  const r = await host.sh(SCRIPT, { timeoutMs: 60_000, ...(signal ? { signal } : {}) });
  if (r.exitCode !== 0 && !r.stdout.includes("clock="))
    return { error: r.stderr.trim() || `exit ${r.exitCode}` };
  return { facts: parseFacts(r.stdout) };
}

export function parseFacts(out: string): HostFacts {
  const kv: Record<string, string> = {};
  let ini: string | undefined;
  const lines = out.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "--- bm.ini") {
      const end = lines.indexOf("--- end", i);
      ini = lines.slice(i + 1, end < 0 ? undefined : end).join("\n");
      i = end < 0 ? lines.length : end;
      continue;
    }
    const eq = line.indexOf("=");
    if (eq > 0) kv[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const f: HostFacts = {
    hostname: kv["hostname"] ?? "?",
    packageManager: (kv["pm"] as HostFacts["packageManager"]) ?? "none",
    osId: kv["os_id"] ?? "?",
    osVersion: kv["os_version"] ?? "?",
    osPrettyName: kv["os_pretty"] ?? "?",
    init: kv["init"] === "systemd" ? "systemd" : "sysv",
    hasRsync: kv["rsync"] !== undefined,
    hasBmctl: kv["bmctl"] === "1",
    subscription: kv["subscription"] === "1",
    clock: Number(kv["clock"] ?? "0"),
  };
  if (kv["bm_version"]) f.bmVersion = kv["bm_version"];
  if (kv["rsync"]) f.rsyncVersion = kv["rsync"];
  if (kv["inotifywait"] !== undefined) f.inotifywaitVersion = kv["inotifywait"] || "(version unknown)";
  if (kv["pg_dump"]) f.pgDumpMajor = Number(kv["pg_dump"]);
  if (ini !== undefined) f.bmIni = readBmIni(ini);
  const pkgs = lines.filter((l) => l.startsWith("bmpkg=")).map((l) => l.slice("bmpkg=".length).trim());
  if (f.packageManager !== "none") f.bmPackages = [...new Set(pkgs.filter(Boolean))].sort();
  return f;
}
