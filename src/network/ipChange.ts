/**
 * BlueMind's own steps for a server whose address changes (`swap --keep-target-ip`): the target
 * keeps its address, and every place where BlueMind wrote the origin's is told the new one:
 * bm.ini `host` and `hz-member-address`, `core_sync_host` in /etc/cyrus-replication,
 * `t_server.ip`, `rc_users.mail_host`, the `t_systemconf` keys `host` and `hz-member-address`,
 * then `bm-cli tick reconfigure`. Pure functions: the text edits, the SQL, the DNS records.
 */
import { quoteLiteral } from "../adapters/postgres.js";

export const BM_INI = "/etc/bm/bm.ini";
export const CYRUS_REPLICATION = "/etc/cyrus-replication";
/** bm.ini keys (section [global]) that hold the server's own address. */
export const BM_INI_ADDRESS_KEYS = ["host", "hz-member-address"] as const;
/** t_systemconf hstore keys that hold it. */
export const SYSTEMCONF_ADDRESS_KEYS = ["host", "hz-member-address"] as const;

/** The text with `key = value` lines of `[section]` set to `value`, quoting kept. Missing keys stay missing. */
export function setIniValues(
  text: string,
  section: string,
  values: Record<string, string>,
): { text: string; changed: string[] } {
  let current = "global";
  const changed: string[] = [];
  const lines = text.split("\n").map((line) => {
    const s = /^\s*\[(.+)\]\s*$/.exec(line);
    if (s) {
      current = s[1]!.trim();
      return line;
    }
    if (current !== section) return line;
    const m = /^(\s*)([^=#;\s][^=]*?)(\s*=\s*)(["']?)(.*?)\4(\s*)$/.exec(line);
    if (!m) return line;
    const key = m[2]!;
    const value = values[key];
    if (value === undefined || m[5] === value) return line;
    changed.push(key);
    return `${m[1]}${key}${m[3]}${m[4]}${value}${m[4]}${m[6]}`;
  });
  return { text: lines.join("\n"), changed };
}

/** `core_sync_host: X` set to the new address (the file may not exist on 5.x: no Cyrus). */
export function setCoreSyncHost(text: string, ip: string): string {
  return text.replace(
    /^(\s*core_sync_host\s*:\s*)(\S*)(.*)$/m,
    (_all, k: string, _v: string, rest: string) => `${k}${ip}${rest}`,
  );
}

/** Tables BlueMind keeps the server's address in, by database. `rc_users` moved between them. */
export const ADDRESS_TABLES: Record<string, string[]> = {
  bj: ["t_server", "t_systemconf", "rc_users"],
  "bj-data": ["rc_users"],
};

/** SQL printing the tables of `tables` that exist, comma-separated. */
export function existingTablesSql(tables: string[]): string {
  const list = tables.map(quoteLiteral).join(", ");
  return `SELECT coalesce(string_agg(t, ','), '') FROM unnest(ARRAY[${list}]) t WHERE to_regclass('public.' || quote_ident(t)) IS NOT NULL;\n`;
}

/**
 * The updates for the tables that exist, each printing `what|rows changed`. Only values equal to
 * the old address change, so running it again changes nothing.
 */
export function ipChangeSql(tables: string[], oldIp: string, newIp: string): string {
  const o = quoteLiteral(oldIp);
  const n = quoteLiteral(newIp);
  const out: string[] = ["BEGIN;"];
  const counted = (what: string, update: string): string =>
    `WITH u AS (${update} RETURNING 1) SELECT ${quoteLiteral(what)}, count(*) FROM u;`;
  if (tables.includes("t_server"))
    out.push(counted("t_server.ip", `UPDATE t_server SET ip = ${n} WHERE ip = ${o}`));
  if (tables.includes("rc_users"))
    out.push(counted("rc_users.mail_host", `UPDATE rc_users SET mail_host = ${n} WHERE mail_host = ${o}`));
  if (tables.includes("t_systemconf"))
    for (const k of SYSTEMCONF_ADDRESS_KEYS)
      out.push(
        counted(
          `t_systemconf.${k}`,
          `UPDATE t_systemconf SET configuration = configuration || hstore(${quoteLiteral(k)}, ${n}) WHERE configuration -> ${quoteLiteral(k)} = ${o}`,
        ),
      );
  out.push("COMMIT;");
  return out.join("\n") + "\n";
}

/** `what|count` lines of ipChangeSql's output. */
export function parseIpChangeCounts(out: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const line of out.split("\n")) {
    const m = /^([\w.-]+)\|(\d+)$/.exec(line.trim());
    if (m) r[m[1]!] = Number(m[2]);
  }
  return r;
}

/** The DNS records to change by hand (the tool cannot reach the zone). */
export function dnsRecordsToChange(externalUrl: string | undefined, oldIp: string, newIp: string): string[] {
  const name = externalUrl ? `${externalUrl.replace(/\.$/, "")}.` : "<external-url>.";
  const rev = (ip: string): string => `${ip.split(".").reverse().join(".")}.in-addr.arpa.`;
  return [
    `${name} A ${newIp}   (was ${oldIp})`,
    `${rev(newIp)} PTR ${name}   (reverse of the new address; remove ${rev(oldIp)} if it named the server)`,
    `and any other record holding ${oldIp} (SPF "ip4:${oldIp}", MX hosts given by address)`,
  ];
}
