/**
 * What moves, by BlueMind version, as data: the data directories, databases, configuration
 * (directories made equal to the origin's, and single files), the postfix queue, what the target's
 * own install leaves that must not survive, and the repairs BlueMind runs once the target's core
 * is up. Version differences live here and nowhere else.
 *
 * Beyond the documented procedure ("Distribution ändern"), from BlueMind's own source (see
 * /work/shared/BLUEMIND-SOURCE-FACTS.md, "What a BlueMind server holds beyond the procedure's list"):
 * - the hollow directory `/var/spool/bm-hollowed` (a snapshot with its version; 5.x API tokens);
 * - every `/etc/bm*` directory and all of `/etc/postfix`, as BlueMind's configuration backup copies
 *   them, with Cyrus's files and `elasticsearch.yml` (cluster name from the installation id);
 * - per-domain certificates (4.7+) `bm_cert-<domain>.pem` in /etc/bm/certs and /etc/ssl/certs;
 * - the setup wizard's password `/etc/nginx/sw.htpasswd`;
 * - 5.x: Keycloak's database and configuration, and the target's own leftovers under
 *   /var/cache/bm-core; the database password generated at install from the 5.0 line on
 *   (commit f8f566bb, March 2024);
 * - the postfix queue (`/var/spool/postfix`): mail still queued at the stop.
 */

export interface ConfigPattern {
  /** An absolute path or a shell glob, expanded on the origin. */
  pattern: string;
  /** Copy directories below it too (scp -r in the procedure). */
  recursive?: boolean;
  /** Absent on the origin is reported, not fatal. */
  optional?: boolean;
}

/**
 * A configuration directory made equal to the origin's: what only the target has in it is set aside
 * under the state directory (never left to make `verify` fail), what the origin has is copied.
 */
export interface ConfigMirror {
  /** An absolute directory or a glob of directories (`/etc/bm*`), expanded on the origin. */
  pattern: string;
  /** Absent on the origin is reported, not fatal. */
  optional?: boolean;
}

/** BlueMind's maintenance operations on a domain's directory entry, run once the target's core runs. */
export type RepairOp = "hollow.directory" | "domain.keycloak";

export interface Profile {
  id: string;
  /** Shown to people. */
  description: string;
  /** The data directories pulled by rsync, hot and cold. */
  dataDirs: string[];
  databases: string[];
  /** Configuration directories made equal to the origin's (cold sync). */
  configMirrors: ConfigMirror[];
  /** Single configuration files (cold sync); replaced target files are kept. */
  configFiles: ConfigPattern[];
  /** bm.ini holds a per-install database password the target's role must be given. */
  dbPasswordInIni: boolean;
  /** Paths (globs) of the target's own install that must not survive the migration (set aside). */
  targetLeftovers: string[];
  /** The postfix queue: flushed while the origin serves, what remains carried to the target. */
  postfixQueue: PostfixQueue;
  /** Repairs asked of BlueMind on every domain once the target's core runs. */
  repairs: RepairOp[];
}

/** Postfix's queue directories that hold messages (postconf(5), queue_directory; qmgr(8)). */
export interface PostfixQueue {
  dir: string;
  queues: string[];
}

export const POSTFIX_QUEUE: PostfixQueue = {
  dir: "/var/spool/postfix",
  queues: ["maildrop", "incoming", "active", "deferred", "hold"],
};

/** Each queue directory as a data directory: copied in the cold sync only, proven by verify. */
export const POSTFIX_QUEUE_DIRS = POSTFIX_QUEUE.queues.map((q) => `${POSTFIX_QUEUE.dir}/${q}`);

export const DATA_DIRS_4 = [
  "/var/spool/cyrus",
  "/var/lib/cyrus",
  "/var/spool/bm-hsm",
  "/var/spool/sieve",
  "/var/spool/bm-elasticsearch",
  "/var/spool/bm-docs",
  "/var/spool/bm-filehosting",
];

/** The hollow directory snapshot (HollowDirectoryRepair, DirectorySerializer in bluemindfork). */
export const HOLLOW_DIR = "/var/spool/bm-hollowed";

/**
 * The data directories of every profile: the procedure's seven, the hollow directory and the
 * postfix queue's directories (copied like data: the cold pass, with postfix stopped on both,
 * makes them exact; what the fresh target had queued is set aside first).
 */
const DATA_DIRS = [...DATA_DIRS_4, HOLLOW_DIR, ...POSTFIX_QUEUE_DIRS];

/** Directories copied whole: every /etc/bm* directory, all of /etc/postfix, BlueMind's CA. */
const MIRRORS_COMMON: ConfigMirror[] = [
  { pattern: "/etc/bm*" },
  { pattern: "/etc/postfix" },
  { pattern: "/var/lib/bm-ca" },
];

const CONFIG_COMMON: ConfigPattern[] = [
  { pattern: "/etc/ssl/certs/bm_cert.pem" },
  // Per-domain certificates (4.7+); none on a server with only its default domain.
  { pattern: "/etc/ssl/certs/bm_cert-*.pem", optional: true },
  // Its cluster.name is bluemind-<mcast.id>: it must come with the data.
  { pattern: "/usr/share/bm-elasticsearch/config/elasticsearch.yml" },
  { pattern: "/etc/nginx/sw.htpasswd", optional: true },
];

/** Cyrus's own files (4.x and earlier; 5.x has no Cyrus configuration of its own). */
const CONFIG_CYRUS: ConfigPattern[] = [{ pattern: "/etc/imapd*" }, { pattern: "/etc/cyrus*" }];

/** 5.x: the target's own queues of its fresh install (bm-core's caches), leftovers after a migration. */
const LEFTOVERS_5 = [
  "/var/cache/bm-core/retry-rocks-*",
  "/var/cache/bm-core/tasks-queues",
  "/var/cache/bm-core/sds-sync-queue",
];

/** 5.x's Keycloak database (bm-keycloak keeps its realms there; Keycloak's default name). */
export const KEYCLOAK_DB = "keycloak";

const PROFILE_4: Omit<Profile, "id" | "description" | "databases"> = {
  dataDirs: DATA_DIRS,
  configMirrors: MIRRORS_COMMON,
  configFiles: [...CONFIG_COMMON, ...CONFIG_CYRUS],
  dbPasswordInIni: false,
  targetLeftovers: [],
  postfixQueue: POSTFIX_QUEUE,
  repairs: ["hollow.directory"],
};

const PROFILE_5: Omit<Profile, "id" | "description"> = {
  dataDirs: DATA_DIRS,
  databases: ["bj", "bj-data", KEYCLOAK_DB],
  configMirrors: MIRRORS_COMMON,
  configFiles: CONFIG_COMMON,
  dbPasswordInIni: true,
  targetLeftovers: LEFTOVERS_5,
  postfixQueue: POSTFIX_QUEUE,
  repairs: ["hollow.directory", "domain.keycloak"],
};

export const PROFILES: Record<string, Profile> = {
  "3.5": {
    id: "3.5",
    description: "BlueMind 3.5: as 4.x, without the bj-data database",
    databases: ["bj"],
    ...PROFILE_4,
  },
  "4": {
    id: "4",
    description: "BlueMind 4.x: the documented procedure and everything else a server holds",
    databases: ["bj", "bj-data"],
    ...PROFILE_4,
  },
  "5": {
    id: "5",
    description:
      "BlueMind 5.0/5.1: no Cyrus configuration, no bm-hps, Keycloak, database password generated at install",
    ...PROFILE_5,
  },
  "5.2": {
    id: "5.2",
    description:
      "BlueMind 5.2 and later: no Cyrus configuration, no bm-hps, Keycloak, database password generated at install",
    ...PROFILE_5,
  },
};

/** Every configuration pattern verify compares: the mirrored directories whole, then the files. */
export function configScope(p: Pick<Profile, "configMirrors" | "configFiles">): ConfigPattern[] {
  return [
    ...p.configMirrors.map((m) => ({
      pattern: m.pattern,
      recursive: true,
      ...(m.optional ? { optional: true } : {}),
    })),
    ...p.configFiles,
  ];
}

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
