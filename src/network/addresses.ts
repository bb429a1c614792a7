/**
 * Reading addresses from the outputs of the tools every Linux server has: `$SSH_CONNECTION`
 * (which address of the origin the session reaches), `ip -o -4 addr show` (its prefix and
 * interface) and `ip -o route get` (through which interface the target reaches it).
 */
import { isIPv4 } from "node:net";

/** `client_ip client_port server_ip server_port`: the server's address is the third field. */
export function serverAddressOfSession(sshConnection: string): string | undefined {
  const f = sshConnection.trim().split(/\s+/);
  return f.length >= 4 ? f[2] : undefined;
}

export interface InterfaceAddress {
  iface: string;
  address: string;
  prefix: number;
}

/** The IPv4 addresses of `ip -o -4 addr show` (one line per address). */
export function parseIpAddrShow(out: string): InterfaceAddress[] {
  const list: InterfaceAddress[] = [];
  for (const line of out.split("\n")) {
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(line);
    if (m) list.push({ iface: m[1]!, address: m[2]!, prefix: Number(m[3]) });
  }
  return list;
}

export interface RouteToAddress {
  /** The address is one of this host's own (`local ... dev lo`). */
  local: boolean;
  dev?: string;
  /** The gateway, when the address is not on a directly connected network. */
  via?: string;
  /** The source address the host would use. */
  src?: string;
}

/** `ip -o route get ADDR`, e.g. `10.0.0.10 dev eth0 src 10.0.0.20 uid 0 \    cache`. */
export function parseRouteGet(out: string): RouteToAddress | undefined {
  const line = out.split("\n").find((l) => l.trim());
  if (!line) return undefined;
  const word = (k: string): string | undefined => new RegExp(`\\b${k} (\\S+)`).exec(line)?.[1];
  const r: RouteToAddress = { local: /^local\s/.test(line.trim()) };
  const dev = word("dev");
  const via = word("via");
  const src = word("src");
  if (dev) r.dev = dev;
  if (via) r.via = via;
  if (src) r.src = src;
  return r;
}

/** What the swap needs to know about the two addresses. */
export interface SwapAddresses {
  originIp: string;
  prefix: number;
  /** The origin's interface carrying it (for messages). */
  originIface: string;
  targetIp: string;
  /** The target's interface on the origin's network: where the address goes. */
  iface: string;
}

/**
 * Combine the three outputs. Returns the addresses or the reason the origin's address cannot be
 * taken over here (IPv6, not on the target's network...), in words for the administrator.
 */
export function swapAddresses(
  sshConnection: string,
  originAddrShow: string,
  targetRouteGet: string,
): { ok: true; value: SwapAddresses } | { ok: false; problem: string } {
  const originIp = serverAddressOfSession(sshConnection);
  if (!originIp)
    return {
      ok: false,
      problem: `cannot read the origin's address from SSH_CONNECTION ('${sshConnection.trim()}')`,
    };
  if (!isIPv4(originIp))
    return {
      ok: false,
      problem: `the session reaches the origin at ${originIp}, not an IPv4 address: taking over IPv6 addresses is not supported`,
    };
  const own = parseIpAddrShow(originAddrShow).find((a) => a.address === originIp);
  if (!own)
    return { ok: false, problem: `${originIp} is not among the origin's addresses (ip -o -4 addr show)` };
  const route = parseRouteGet(targetRouteGet);
  if (!route?.dev || !route.src)
    return {
      ok: false,
      problem: `cannot tell how the target reaches ${originIp} (ip route get: '${targetRouteGet.trim()}')`,
    };
  if (route.local) return { ok: false, problem: `${originIp} is already one of the target's own addresses` };
  if (route.via)
    return {
      ok: false,
      problem: `the target reaches ${originIp} through the gateway ${route.via}: the two servers are not on the same network, so the target cannot take over the origin's address`,
    };
  return {
    ok: true,
    value: { originIp, prefix: own.prefix, originIface: own.iface, targetIp: route.src, iface: route.dev },
  };
}
