/**
 * What moves, by BlueMind version: the data directories, databases, configuration files and
 * services of the documented procedure ("Distribution ändern"), as data. Version differences
 * (3.5 has no bj-data; 5.x dropped Cyrus configuration and bm-hps, and from 5.2 generates the
 * database password at install) live here and nowhere else.
 */

export interface ConfigPattern {
  /** An absolute path or a shell glob, expanded on the origin. */
  pattern: string;
  /** Copy directories below it too (scp -r in the procedure). */
  recursive?: boolean;
  /** Absent on the origin is reported, not fatal. */
  optional?: boolean;
}

export interface Profile {
  id: string;
  /** Shown to people. */
  description: string;
  /** The data directories pulled by rsync, hot and cold. */
  dataDirs: string[];
  databases: string[];
  configFiles: ConfigPattern[];
  /** bm.ini holds a per-install database password the target's role must be given. */
  dbPasswordInIni: boolean;
}

export const DATA_DIRS_4 = [
  "/var/spool/cyrus",
  "/var/lib/cyrus",
  "/var/spool/bm-hsm",
  "/var/spool/sieve",
  "/var/spool/bm-elasticsearch",
  "/var/spool/bm-docs",
  "/var/spool/bm-filehosting",
];

const POSTFIX_MAPS = [
  "main.cf",
  "master.cf",
  "master_relay_transport-flat",
  "master_relay_transport.db",
  "transport-flat",
  "transport.db",
  "virtual_alias-flat",
  "virtual_alias.db",
  "virtual_domains-flat",
  "virtual_domains.db",
  "virtual_mailbox-flat",
  "virtual_mailbox.db",
];

const CONFIG_COMMON: ConfigPattern[] = [
  { pattern: "/etc/bm/*", recursive: true },
  { pattern: "/etc/bm/bm.ini" },
  { pattern: "/etc/ssl/certs/bm_cert.pem" },
  { pattern: "/var/lib/bm-ca/*", recursive: true },
  { pattern: "/usr/share/bm-elasticsearch/config/elasticsearch.yml", optional: true },
  ...POSTFIX_MAPS.map((f) => ({
    pattern: `/etc/postfix/${f}`,
    optional: f !== "main.cf" && f !== "master.cf",
  })),
  { pattern: "/etc/bm-webmail/*", recursive: true, optional: true },
];

const CONFIG_CYRUS_HPS: ConfigPattern[] = [
  { pattern: "/etc/bm-hps/*", recursive: true, optional: true },
  { pattern: "/etc/imapd*" },
  { pattern: "/etc/cyrus*" },
];

export const PROFILES: Record<string, Profile> = {
  "3.5": {
    id: "3.5",
    description: "BlueMind 3.5: as 4.x, without the bj-data database",
    dataDirs: DATA_DIRS_4,
    databases: ["bj"],
    configFiles: [...CONFIG_COMMON, ...CONFIG_CYRUS_HPS],
    dbPasswordInIni: false,
  },
  "4": {
    id: "4",
    description: "BlueMind 4.x: the documented procedure as written",
    dataDirs: DATA_DIRS_4,
    databases: ["bj", "bj-data"],
    configFiles: [...CONFIG_COMMON, ...CONFIG_CYRUS_HPS],
    dbPasswordInIni: false,
  },
  "5": {
    id: "5",
    description: "BlueMind 5.0/5.1: no Cyrus configuration, no bm-hps",
    dataDirs: DATA_DIRS_4,
    databases: ["bj", "bj-data"],
    configFiles: CONFIG_COMMON,
    dbPasswordInIni: false,
  },
  "5.2": {
    id: "5.2",
    description:
      "BlueMind 5.2 and later: no Cyrus configuration, no bm-hps, database password generated at install",
    dataDirs: DATA_DIRS_4,
    databases: ["bj", "bj-data"],
    configFiles: CONFIG_COMMON,
    dbPasswordInIni: true,
  },
};

/** Parse "4.1.56", "3.5.14-2", "5.2.3-1" into numbers; undefined when it is not a version. */
export function parseVersion(
  v: string,
): { major: number; minor: number; patch: number; text: string } | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:[-.~+].*)?$/.exec(v.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: v.trim() };
}

/** The profile for a bm-core version, or undefined for versions this tool does not know. */
export function profileFor(version: string): Profile | undefined {
  const v = parseVersion(version);
  if (!v) return undefined;
  if (v.major === 3 && v.minor >= 5) return PROFILES["3.5"];
  if (v.major === 4) return PROFILES["4"];
  if (v.major === 5 && v.minor < 2) return PROFILES["5"];
  if (v.major >= 5) return PROFILES["5.2"];
  return undefined;
}
