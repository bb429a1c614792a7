/**
 * How each Linux family keeps an interface's addresses across reboots, and the edit that adds one
 * address there, as data and pure functions (the swap reads the files, these compute the new
 * text, the swap shows the diff and writes it):
 * - netplan (Ubuntu 17.10+): `/etc/netplan/*.yaml`, the device's `addresses:` list;
 * - ifupdown (Debian, older Ubuntu): `/etc/network/interfaces`, one more `iface IF inet static`
 *   stanza (ifupdown 0.7+ gives an interface every stanza of its name);
 * - NetworkManager keyfile (RHEL 9+, Fedora...): the connection's `[ipv4]` `addressN=`;
 * - ifcfg (RHEL/CentOS 7-8): `/etc/sysconfig/network-scripts/ifcfg-IF`, `IPADDRn=` / `PREFIXn=`.
 * The address is added next to the ones already there: the target keeps its own address too, so
 * that a session opened to it survives and it can still be reached by its own name.
 */

export type NetFlavour = "netplan" | "ifupdown" | "nm-keyfile" | "ifcfg";

/** What the target's files and services say (see `networkProbeScript`). */
export interface NetProbe {
  netplanFiles: string[];
  interfacesFile: boolean;
  nmRunning: boolean;
  /** The file of the NetworkManager connection active on the interface, if any. */
  nmConnectionFile?: string;
  /** `/etc/sysconfig/network-scripts/ifcfg-IF` when it exists. */
  ifcfgFile?: string;
}

export const NETPLAN_DIR = "/etc/netplan";
export const INTERFACES_FILE = "/etc/network/interfaces";
export const NETWORK_SCRIPTS_DIR = "/etc/sysconfig/network-scripts";

/** A bash script for the target printing `key=value` lines that `parseNetworkProbe` reads. */
export function networkProbeScript(iface: string): string {
  const q = `'${iface.replace(/'/g, "'\\''")}'`;
  return `for f in ${NETPLAN_DIR}/*.yaml ${NETPLAN_DIR}/*.yml; do [ -f "$f" ] && echo "netplan=$f"; done
[ -f ${INTERFACES_FILE} ] && echo "interfaces=1"
if command -v nmcli >/dev/null 2>&1 && [ "$(nmcli -t -f RUNNING general 2>/dev/null)" = running ]; then
  echo "nm=1"
  nmcli -t -f DEVICE,FILENAME connection show --active 2>/dev/null | while IFS=: read -r dev file; do
    [ "$dev" = ${q} ] && echo "nmfile=$file"
  done
fi
[ -f ${NETWORK_SCRIPTS_DIR}/ifcfg-${q} ] && echo "ifcfg=${NETWORK_SCRIPTS_DIR}/ifcfg-${q}"
true`;
}

export function parseNetworkProbe(out: string): NetProbe {
  const p: NetProbe = { netplanFiles: [], interfacesFile: false, nmRunning: false };
  for (const line of out.split("\n")) {
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1).trim();
    if (k === "netplan" && v) p.netplanFiles.push(v);
    else if (k === "interfaces") p.interfacesFile = true;
    else if (k === "nm") p.nmRunning = true;
    else if (k === "nmfile" && v) p.nmConnectionFile = v;
    else if (k === "ifcfg" && v) p.ifcfgFile = v;
  }
  p.netplanFiles.sort();
  return p;
}

export interface FlavourChoice {
  flavour: NetFlavour;
  /** The files to read (netplan: all of them, to find the one that defines the interface). */
  files: string[];
}

/**
 * Which form the system uses. netplan first (it renders for NetworkManager or networkd, so its
 * YAML is the source of truth where it exists), then an active NetworkManager connection (keyfile
 * or ifcfg file), then ifupdown, then a bare ifcfg file.
 */
export function chooseFlavour(p: NetProbe): FlavourChoice | { problem: string } {
  if (p.netplanFiles.length) return { flavour: "netplan", files: p.netplanFiles };
  if (p.nmRunning && p.nmConnectionFile) {
    const file = p.nmConnectionFile;
    if (file.startsWith(`${NETWORK_SCRIPTS_DIR}/ifcfg-`)) return { flavour: "ifcfg", files: [file] };
    return { flavour: "nm-keyfile", files: [file] };
  }
  if (p.interfacesFile) return { flavour: "ifupdown", files: [INTERFACES_FILE] };
  if (p.ifcfgFile) return { flavour: "ifcfg", files: [p.ifcfgFile] };
  return {
    problem: `no network configuration found to keep the address across reboots (none of ${NETPLAN_DIR}/*.yaml, an active NetworkManager connection, ${INTERFACES_FILE}, ${NETWORK_SCRIPTS_DIR}/ifcfg-*)`,
  };
}

/** The new text of one file (after === before when the address is already there). */
export interface NetworkEdit {
  flavour: NetFlavour;
  path: string;
  /** undefined: the file does not exist yet. */
  before: string | undefined;
  after: string;
  /** Commands that make the system read the file again without touching live addresses. */
  reload: string[][];
  note?: string;
}

const stripQuotes = (s: string): string => s.trim().replace(/^["']|["']$/g, "");

/** Add IP/PREFIX to IFACE in the files of the chosen form. */
export function editNetworkConfig(
  choice: FlavourChoice,
  files: Record<string, string | undefined>,
  iface: string,
  ip: string,
  prefix: number,
  nmRunning = false,
): NetworkEdit | { problem: string } {
  const cidr = `${ip}/${prefix}`;
  const path = choice.files[0]!;
  switch (choice.flavour) {
    case "netplan":
      return editNetplan(
        choice.files.map((p) => ({ path: p, text: files[p] ?? "" })),
        iface,
        cidr,
      );
    case "ifupdown": {
      const before = files[path] ?? "";
      return {
        flavour: "ifupdown",
        path,
        before,
        after: addIfupdownAddress(before, iface, cidr),
        reload: [],
      };
    }
    case "nm-keyfile": {
      const before = files[path];
      if (before === undefined) return { problem: `cannot read ${path}` };
      const after = addNmKeyfileAddress(before, cidr);
      if (after === undefined) return { problem: `${path} has no [ipv4] section to add ${cidr} to` };
      return { flavour: "nm-keyfile", path, before, after, reload: [["nmcli", "connection", "reload"]] };
    }
    case "ifcfg": {
      const before = files[path];
      if (before === undefined) return { problem: `cannot read ${path}` };
      return {
        flavour: "ifcfg",
        path,
        before,
        after: addIfcfgAddress(before, ip, prefix),
        reload: nmRunning ? [["nmcli", "connection", "reload"]] : [],
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ifupdown

/** Append an `iface IF inet static` stanza with the address, unless it is already configured. */
export function addIfupdownAddress(text: string, iface: string, cidr: string): string {
  const ip = cidr.split("/")[0]!;
  const has = text
    .split("\n")
    .some((l) => new RegExp(`^\\s*address\\s+${ip.replace(/\./g, "\\.")}(/\\d+)?\\s*$`).test(l));
  if (has) return text;
  const sep = text === "" || text.endsWith("\n\n") ? "" : text.endsWith("\n") ? "\n" : "\n\n";
  return (
    `${text}${sep}# The origin's address, taken over by bm-migrate swap (BlueMind moved here)\n` +
    `iface ${iface} inet static\n    address ${cidr}\n`
  );
}

// ---------------------------------------------------------------------------------------------
// NetworkManager keyfile

/** Add `addressN=CIDR` to the `[ipv4]` section; undefined when there is no such section. */
export function addNmKeyfileAddress(text: string, cidr: string): string | undefined {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === "[ipv4]");
  if (start < 0) return undefined;
  let end = lines.findIndex((l, i) => i > start && /^\s*\[.*\]\s*$/.test(l));
  if (end < 0) end = lines.length;
  let max = 0;
  let lastAddress = -1;
  for (let i = start + 1; i < end; i++) {
    const m = /^\s*address(?:es)?(\d+)\s*=\s*(.*)$/.exec(lines[i]!);
    if (!m) continue;
    if (m[2]!.split(/[,;]/)[0]!.trim() === cidr) return text;
    max = Math.max(max, Number(m[1]));
    lastAddress = i;
  }
  const at = lastAddress >= 0 ? lastAddress + 1 : start + 1;
  lines.splice(at, 0, `address${max + 1}=${cidr}`);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// ifcfg

/** Add `IPADDRn=` / `PREFIXn=` with the next free index (IPADDR alone counts as index 0). */
export function addIfcfgAddress(text: string, ip: string, prefix: number): string {
  let max = -1;
  for (const l of text.split("\n")) {
    const m = /^\s*IPADDR(\d*)\s*=\s*(.*)$/.exec(l);
    if (!m) continue;
    if (stripQuotes(m[2]!) === ip) return text;
    max = Math.max(max, m[1] === "" ? 0 : Number(m[1]));
  }
  const suffix = max < 0 ? "" : String(max + 1);
  const sep = text === "" || text.endsWith("\n") ? "" : "\n";
  return `${text}${sep}IPADDR${suffix}=${ip}\nPREFIX${suffix}=${prefix}\n`;
}

// ---------------------------------------------------------------------------------------------
// netplan

const indentOf = (l: string): number => /^ */.exec(l)![0].length;
const isContent = (l: string): boolean => l.trim() !== "" && !l.trim().startsWith("#");
const DEVICE_TYPES = /^(\s*)(ethernets|bonds|bridges|vlans|wifis):\s*(#.*)?$/;

interface NetplanDevice {
  /** Line of `ID:`. */
  line: number;
  /** First line after the device's block. */
  end: number;
}

/** The definition of IFACE in a netplan file: by its id, `set-name` or `match: name`. */
function findNetplanDevice(lines: string[], iface: string): NetplanDevice | undefined {
  for (let t = 0; t < lines.length; t++) {
    const tm = DEVICE_TYPES.exec(lines[t]!);
    if (!tm) continue;
    const typeIndent = tm[1]!.length;
    let childIndent = -1;
    for (let i = t + 1; i < lines.length; i++) {
      const l = lines[i]!;
      if (!isContent(l)) continue;
      const ind = indentOf(l);
      if (ind <= typeIndent) break;
      if (childIndent < 0) childIndent = ind;
      if (ind !== childIndent) continue;
      const dm = /^\s*("[^"]+"|'[^']+'|[^\s:#][^:#]*?):\s*(#.*)?$/.exec(l);
      if (!dm) continue;
      let end = i + 1;
      while (end < lines.length && (!isContent(lines[end]!) || indentOf(lines[end]!) > childIndent)) end++;
      const id = stripQuotes(dm[1]!);
      const body = lines.slice(i + 1, end);
      const named = body.some((b) =>
        new RegExp(
          `^\\s*(set-name|name):\\s*["']?${iface.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}["']?\\s*(#.*)?$`,
        ).test(b),
      );
      if (id === iface || named) return { line: i, end };
    }
  }
  return undefined;
}

/** Add CIDR to the `addresses:` of IFACE's definition (block or flow list, or a new key). */
export function addNetplanAddress(text: string, iface: string, cidr: string): string | undefined {
  const lines = text.split("\n");
  const dev = findNetplanDevice(lines, iface);
  if (!dev) return undefined;
  const propLine = lines.slice(dev.line + 1, dev.end).findIndex(isContent);
  const propIndent =
    propLine >= 0 ? indentOf(lines[dev.line + 1 + propLine]!) : indentOf(lines[dev.line]!) + 2;
  for (let i = dev.line + 1; i < dev.end; i++) {
    const l = lines[i]!;
    if (indentOf(l) !== propIndent) continue;
    const flow = /^(\s*addresses:\s*\[)(.*)\](\s*(#.*)?)$/.exec(l);
    if (flow) {
      const items = flow[2]!
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      if (items.some((s) => stripQuotes(s) === cidr)) return text;
      lines[i] = `${flow[1]}${[...items, cidr].join(", ")}]${flow[3]}`;
      return lines.join("\n");
    }
    if (!/^\s*addresses:\s*(#.*)?$/.test(l)) continue;
    // Block list: items are `- x` lines (at the key's indent or deeper) and their nested lines.
    let last = i;
    let dashIndent = propIndent + 2;
    for (let j = i + 1; j < dev.end; j++) {
      const item = lines[j]!;
      if (!isContent(item)) continue;
      const ind = indentOf(item);
      const dash = /^\s*-\s+(.*)$/.exec(item);
      if (dash && ind >= propIndent) {
        if (j === i + 1 || last === i) dashIndent = ind;
        if (stripQuotes(dash[1]!.replace(/:\s*$/, "")) === cidr) return text;
        last = j;
        continue;
      }
      if (ind > dashIndent) {
        last = j;
        continue;
      }
      break;
    }
    lines.splice(last + 1, 0, `${" ".repeat(dashIndent)}- ${cidr}`);
    return lines.join("\n");
  }
  lines.splice(
    dev.line + 1,
    0,
    `${" ".repeat(propIndent)}addresses:`,
    `${" ".repeat(propIndent + 2)}- ${cidr}`,
  );
  return lines.join("\n");
}

/** The netplan file that defines IFACE gets the address; with none, a file of our own does. */
export function editNetplan(
  files: { path: string; text: string }[],
  iface: string,
  cidr: string,
): NetworkEdit | { problem: string } {
  const reload = [["netplan", "generate"]];
  for (const f of files) {
    const after = addNetplanAddress(f.text, iface, cidr);
    if (after !== undefined) return { flavour: "netplan", path: f.path, before: f.text, after, reload };
  }
  const path = `${NETPLAN_DIR}/90-bm-migrate.yaml`;
  const existing = files.find((f) => f.path === path);
  return {
    flavour: "netplan",
    path,
    before: existing?.text,
    after: `network:\n  version: 2\n  ethernets:\n    ${iface}:\n      addresses:\n        - ${cidr}\n`,
    reload,
    note: `no netplan file defines ${iface}: a file of its own adds the address`,
  };
}
