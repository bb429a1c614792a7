/**
 * postfix's `mynetworks` as BlueMind keeps it in its system configuration, and what replacing the
 * old server address in it means. What the core saves is never what was sent: its
 * MyNetworksSanitizor (mdhender/bluemindfork parent/mailbackend/net.bluemind.backend.systemconf/
 * src/net/bluemind/backend/systemconf/internal/MyNetworksSanitizor.java) splits on spaces and
 * commas, strips `!`, keeps a set (order lost), re-adds 127.0.0.0/8, every server address of
 * t_server and every local IPv4 interface address as `/32`, and joins with ", ". So values are
 * compared as sets of networks, a bare address being the same network as `address/32`.
 */
import { isIPv4 } from "node:net";

/** A network as written in mynetworks, without `!`, a bare IPv4 address as `/32`. */
export function normalizeNetwork(entry: string): string {
  const e = entry.trim().replace(/^!/, "");
  return isIPv4(e) ? `${e}/32` : e;
}

/** The set of networks of a mynetworks value (comma and/or space separated). */
export function networkSet(value: string): Set<string> {
  return new Set(
    value
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(normalizeNetwork),
  );
}

/** Loopback is never a server's address (127.0.0.0/8, ::1). */
export function isLoopback(address: string): boolean {
  const a = address.replace(/\/\d+$/, "").replace(/^\[|\]$/g, "");
  return /^127\./.test(a) || a === "::1";
}

/** What `post` does to mynetworks. */
export type MynetworksPlan =
  | {
      /** The server kept its address (address takeover): nothing to replace. */
      kind: "unchanged";
      reason: "takeover" | "already-replaced" | "old-absent";
      current: string;
    }
  | {
      kind: "replace";
      current: string;
      /** What is sent: the current networks without the old address, with the new ones. */
      send: string;
    };

/**
 * Replace `oldIp` by `newEntries` in `current`. With `takeover` (the server took the origin's
 * address), nothing changes. Entries keep their order of the current value; what is sent is
 * space-separated (the core rewrites it anyway).
 */
export function planMynetworks(
  current: string,
  oldIp: string,
  newEntries: string[],
  takeover: boolean,
): MynetworksPlan {
  if (takeover) return { kind: "unchanged", reason: "takeover", current };
  const have = networkSet(current);
  const old = normalizeNetwork(oldIp);
  const wanted = newEntries.map(normalizeNetwork);
  if (!have.has(old)) {
    return {
      kind: "unchanged",
      reason: wanted.every((w) => have.has(w)) ? "already-replaced" : "old-absent",
      current,
    };
  }
  const out = [...have].filter((n) => n !== old);
  for (const w of wanted) if (!out.includes(w)) out.push(w);
  return { kind: "replace", current, send: out.join(" ") };
}

/** How the value the core holds after a save compares with what was sent. */
export interface MynetworksCheck {
  ok: boolean;
  /** New entries the core does not hold. */
  missing: string[];
  /** The old address, when the core still holds it. */
  oldStillThere: boolean;
  /** Networks the core added itself (its defaults: 127.0.0.0/8, server and interface addresses). */
  added: string[];
  /** Networks sent that the core dropped (other than duplicates of its own). */
  dropped: string[];
}

export function checkMynetworks(
  stored: string,
  sent: string,
  oldIp: string,
  newEntries: string[],
): MynetworksCheck {
  const have = networkSet(stored);
  const sentSet = networkSet(sent);
  const missing = newEntries.map(normalizeNetwork).filter((n) => !have.has(n));
  const oldStillThere = have.has(normalizeNetwork(oldIp));
  return {
    ok: missing.length === 0 && !oldStillThere,
    missing,
    oldStillThere,
    added: [...have].filter((n) => !sentSet.has(n)),
    dropped: [...sentSet].filter((n) => !have.has(n)),
  };
}
