/**
 * Test oracle, part 1: describe one host's migrated state as plain records.
 *
 * Deliberately independent of the product's own verify code: it walks the file system with lstat and
 * hashes with node:crypto (no find, no rsync), and asks PostgreSQL for its catalog and an
 * order-independent hash of every table. Two manifests, one per host, are compared by `compare.ts`.
 *
 * CLI (run inside a lab host):
 *   tsx lab/manifest.ts [--root /] [--paths a,b,c] [--db bj,bj-data] [--pg-tcp] [--out FILE]
 * writes one JSON record per line.
 */
import { isMain } from "./isMain.js";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import {
  closeSync,
  createWriteStream,
  existsSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  statSync,
  type BigIntStats,
} from "node:fs";
import { parseArgs } from "node:util";

/**
 * The seven data directories of the procedure (phase 1), and what a BlueMind server holds beyond
 * them (BLUEMIND-SOURCE-FACTS.md): the hollow directory and the postfix queue's directories.
 */
export const DATA_DIRS: readonly string[] = [
  "/var/spool/cyrus",
  "/var/lib/cyrus",
  "/var/spool/bm-hsm",
  "/var/spool/sieve",
  "/var/spool/bm-elasticsearch",
  "/var/spool/bm-docs",
  "/var/spool/bm-filehosting",
  "/var/spool/bm-hollowed",
  "/var/spool/postfix/{maildrop,incoming,active,deferred,hold}",
];

/**
 * The configuration: what BlueMind's own configuration backup copies (every /etc/bm* directory,
 * all of /etc/postfix, Cyrus's files, elasticsearch.yml), BlueMind's CA, the default and the
 * per-domain certificates, the setup wizard's password. A file only one host has is a difference.
 */
export const CONFIG_PATHS: readonly string[] = [
  "/etc/bm*",
  "/etc/postfix",
  "/etc/ssl/certs/bm_cert.pem",
  "/etc/ssl/certs/bm_cert-*.pem",
  "/etc/nginx/sw.htpasswd",
  "/var/lib/bm-ca",
  "/usr/share/bm-elasticsearch/config/elasticsearch.yml",
  "/etc/imapd*",
  "/etc/cyrus*",
];

/** 5.x: bm-core's own caches of an install, which must not survive on the target (compared absent). */
export const LEFTOVER_PATHS: readonly string[] = [
  "/var/cache/bm-core/{retry-rocks-*,tasks-queues,sds-sync-queue}",
];

/** Everything the migration moves: data directories, then configuration. */
export const DEFAULT_PATHS: readonly string[] = [...DATA_DIRS, ...CONFIG_PATHS, ...LEFTOVER_PATHS];

/** f: regular file, d: directory, l: symbolic link, other: fifo, socket or device. */
export type FsType = "f" | "d" | "l" | "other";

/** One file-system entry, keyed by its path on the host (the root prefix removed). */
export interface FsRecord {
  path: string;
  type: FsType;
  /** Owner and group by name, resolved with the host's own /etc/passwd and /etc/group; `#<id>` if unknown. */
  owner: string;
  group: string;
  /** Permission bits in octal, with setuid/setgid/sticky: "0644", "2775". */
  mode: string;
  /** Modification time, integer seconds (lstat: a symlink's own mtime). */
  mtime: number;
  /** Files: apparent size in bytes. */
  size?: number;
  /** Files: sha256 of the content, or null if it could not be read (see `error`). */
  sha256?: string | null;
  /** Files: allocated blocks cover less than the apparent size. */
  sparse?: boolean;
  /**
   * Files: hard-link group key, the lexicographically first manifested path sharing this inode;
   * null when no other manifested path shares it.
   */
  link?: string | null;
  /** Symlinks: the link target, as stored. */
  target?: string;
  /** type "other": fifo, socket, char or block. */
  special?: string;
  /** Why a field could not be read (e.g. the file vanished between lstat and read). */
  error?: string;
}

/** A path (or glob) that matched nothing on this host. */
export interface AbsentRecord {
  path: string;
  type: "absent";
}

/** A scalar property of a database object. */
export type DbValue = string | number | boolean | null;

/** One database object: the database itself, a schema, a table (with row count and content hash), ... */
export interface DbRecord {
  db: string;
  /** database, schema, extension, table, view, matview, sequence, constraint, index, trigger, function, type */
  type: string;
  name: string;
  props: Record<string, DbValue>;
}

export type ManifestRecord = FsRecord | AbsentRecord | DbRecord;

/** How the oracle reaches PostgreSQL. */
export type PgAccess =
  /** As the OS user `postgres` over the local socket (via runuser when running as root). */
  | { mode: "peer"; osUser?: string }
  /** As a database user over TCP, password from PGPASSWORD in the environment. */
  | { mode: "tcp"; host: string; user: string };

export interface ManifestOptions {
  /** The host's root directory: every path is looked up under it and recorded without it. Default "/". */
  root?: string;
  /** Host paths to describe; may contain `*`, `?`, `[...]` and `{a,b}`. Default DEFAULT_PATHS. */
  paths?: readonly string[];
  /** Databases to describe. Default none. */
  databases?: readonly string[];
  /** Default peer authentication as `postgres`. */
  pg?: PgAccess;
}

/** Key under which compare.ts matches records of two manifests. */
export function recordKey(record: ManifestRecord): string {
  return "db" in record ? `db:${record.db}/${record.type}/${record.name}` : record.path;
}

// ---------------------------------------------------------------------------------------------
// Accounts

/** Id <-> name maps read from a host's /etc/passwd and /etc/group. */
export interface Accounts {
  userName: Map<number, string>;
  groupName: Map<number, string>;
  userId: Map<string, number>;
  groupId: Map<string, number>;
}

/** Reads `<root>/etc/passwd` and `<root>/etc/group`, falling back to the running system's files. */
export function readAccounts(root: string): Accounts {
  const accounts: Accounts = {
    userName: new Map(),
    groupName: new Map(),
    userId: new Map(),
    groupId: new Map(),
  };
  const prefix = rootPrefix(root);
  const load = (file: string, byId: Map<number, string>, byName: Map<string, number>): void => {
    const path = existsSync(prefix + file) ? prefix + file : file;
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch {
      return;
    }
    for (const line of text.split("\n")) {
      const [name, , id] = line.split(":");
      if (name === undefined || id === undefined || name === "" || !/^\d+$/.test(id)) continue;
      const n = Number(id);
      // The first entry wins, as for getpwuid().
      if (!byId.has(n)) byId.set(n, name);
      if (!byName.has(name)) byName.set(name, n);
    }
  };
  load("/etc/passwd", accounts.userName, accounts.userId);
  load("/etc/group", accounts.groupName, accounts.groupId);
  return accounts;
}

function rootPrefix(root: string): string {
  const trimmed = root.replace(/\/+$/, "");
  return trimmed === "" ? "" : trimmed;
}

// ---------------------------------------------------------------------------------------------
// Paths and globs

/** `a{b,c}d` -> `abd`, `acd` (one level of braces, possibly several groups). */
export function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf("{");
  const close = open < 0 ? -1 : pattern.indexOf("}", open);
  if (open < 0 || close < 0) return [pattern];
  const head = pattern.slice(0, open);
  const tail = pattern.slice(close + 1);
  return pattern
    .slice(open + 1, close)
    .split(",")
    .flatMap((alt) => expandBraces(head + alt + tail));
}

const GLOB_CHARS = /[*?[]/;

/** A shell-like glob for one path component: `*` and `?` never match a leading dot. */
function componentRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? "";
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\");
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(glob.startsWith(".") ? `^${re}$` : `^(?!\\.)${re}$`, "s");
}

/**
 * Expands a host path pattern under `root` into existing host paths (sorted), or into the pattern
 * itself when it has no wildcard or matches nothing (so that it gets recorded as absent).
 */
export function expandPattern(root: string, pattern: string): string[] {
  const prefix = rootPrefix(root);
  const out: string[] = [];
  for (const candidate of expandBraces(pattern)) {
    const clean = "/" + candidate.split("/").filter(Boolean).join("/");
    if (!GLOB_CHARS.test(clean)) {
      out.push(clean);
      continue;
    }
    let current = [""];
    for (const part of clean.split("/").filter(Boolean)) {
      const next: string[] = [];
      for (const base of current) {
        if (!GLOB_CHARS.test(part)) {
          next.push(`${base}/${part}`);
          continue;
        }
        let names: string[];
        try {
          names = readdirSync(prefix + (base === "" ? "/" : base));
        } catch {
          continue;
        }
        const re = componentRegExp(part);
        for (const name of names.filter((n) => re.test(n)).sort(compareBytes)) next.push(`${base}/${name}`);
      }
      current = next;
    }
    const found = current.filter((p) => lstatSync(prefix + p, { throwIfNoEntry: false }) !== undefined);
    out.push(...(found.length > 0 ? found : [clean]));
  }
  return out;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** File names are bytes; names that are not UTF-8 are shown with `\xNN` escapes. */
function displayName(name: Buffer): string {
  try {
    return utf8.decode(name);
  } catch {
    let s = "";
    for (const byte of name) s += byte < 0x80 ? String.fromCharCode(byte) : `\\x${byte.toString(16)}`;
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// File-system walk

interface Visit {
  path: string;
  abs: Buffer;
  st: BigIntStats;
}

const SLASH = Buffer.from("/");

/** Depth-first, children in byte order; a root that is a symlink to a directory is followed (like `DIR/`). */
function* walk(path: string, abs: Buffer, isRoot: boolean): Generator<Visit> {
  const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
  if (st === undefined) return; // vanished while walking
  yield { path, abs, st };
  let isDir = st.isDirectory();
  if (!isDir && isRoot && st.isSymbolicLink()) {
    isDir = statSync(abs, { throwIfNoEntry: false })?.isDirectory() ?? false;
  }
  if (!isDir) return;
  let names: Buffer[];
  try {
    names = readdirSync(abs, { encoding: "buffer" });
  } catch {
    return;
  }
  names.sort((x, y) => Buffer.compare(x, y));
  for (const name of names) {
    yield* walk(`${path === "/" ? "" : path}/${displayName(name)}`, Buffer.concat([abs, SLASH, name]), false);
  }
}

function fsType(st: BigIntStats): FsType {
  if (st.isFile()) return "f";
  if (st.isDirectory()) return "d";
  if (st.isSymbolicLink()) return "l";
  return "other";
}

function specialKind(st: BigIntStats): string {
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return `char ${st.rdev}`;
  if (st.isBlockDevice()) return `block ${st.rdev}`;
  return "unknown";
}

const hashBuffer = Buffer.allocUnsafe(1 << 20);

function sha256File(abs: Buffer): string {
  const fd = openSync(abs, "r");
  try {
    const hash = createHash("sha256");
    for (;;) {
      const n = readSync(fd, hashBuffer, 0, hashBuffer.length, null);
      if (n <= 0) break;
      hash.update(hashBuffer.subarray(0, n));
    }
    return hash.digest("hex");
  } finally {
    closeSync(fd);
  }
}

function errorCode(err: unknown): string {
  return err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : String(err);
}

/** Host roots to walk: expanded, absent ones kept, and roots nested in an earlier root dropped. */
function resolveRoots(root: string, patterns: readonly string[]): string[] {
  const roots: string[] = [];
  for (const pattern of patterns) {
    for (const p of expandPattern(root, pattern)) {
      const covered = roots.some((r) => p === r || p.startsWith(r === "/" ? "/" : r + "/"));
      if (!covered) roots.push(p);
    }
  }
  return roots;
}

function* fileSystemRecords(root: string, patterns: readonly string[]): Generator<FsRecord | AbsentRecord> {
  const prefix = rootPrefix(root);
  const accounts = readAccounts(root);
  const roots = resolveRoots(root, patterns);
  const absOf = (p: string): Buffer => Buffer.from(prefix + p);

  // Pass 1: hard-link groups. The walk order is not full-path order ("a/x" comes before "a-b/y"),
  // so the lexicographically first member is only known after seeing every path.
  const groups = new Map<string, { first: string; count: number }>();
  for (const r of roots) {
    for (const { path, st } of walk(r, absOf(r), true)) {
      if (!st.isFile() || st.nlink < 2n) continue;
      const inode = `${st.dev}:${st.ino}`;
      const group = groups.get(inode);
      if (group === undefined) groups.set(inode, { first: path, count: 1 });
      else {
        group.count++;
        if (compareBytes(path, group.first) < 0) group.first = path;
      }
    }
  }

  // Pass 2: the records.
  const userName = (id: number): string => accounts.userName.get(id) ?? `#${id}`;
  const groupName = (id: number): string => accounts.groupName.get(id) ?? `#${id}`;
  for (const r of roots) {
    const abs = absOf(r);
    if (lstatSync(abs, { throwIfNoEntry: false }) === undefined) {
      yield { path: r, type: "absent" };
      continue;
    }
    for (const { path, abs: entryAbs, st } of walk(r, abs, true)) {
      const type = fsType(st);
      const record: FsRecord = {
        path,
        type,
        owner: userName(Number(st.uid)),
        group: groupName(Number(st.gid)),
        mode: (Number(st.mode) & 0o7777).toString(8).padStart(4, "0"),
        mtime: Number(st.mtimeNs / 1_000_000_000n),
      };
      if (type === "f") {
        const size = Number(st.size);
        record.size = size;
        try {
          record.sha256 = sha256File(entryAbs);
        } catch (err) {
          record.sha256 = null;
          record.error = errorCode(err);
        }
        const blocks = Number(st.blocks);
        record.sparse = blocks > 0 && blocks * 512 < size;
        const group = st.nlink > 1n ? groups.get(`${st.dev}:${st.ino}`) : undefined;
        record.link = group !== undefined && group.count > 1 ? group.first : null;
      } else if (type === "l") {
        try {
          record.target = displayName(readlinkSync(entryAbs, { encoding: "buffer" }));
        } catch (err) {
          record.error = errorCode(err);
        }
      } else if (type === "other") {
        record.special = specialKind(st);
      }
      yield record;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Databases

/** Session settings that make every text rendering of a value identical on both hosts. */
const SESSION_SQL = `
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET bytea_output = 'hex';
SET extra_float_digits = 1;
SET lc_monetary = 'C';
SET search_path = pg_catalog;
`;

/** Every schema object outside the system schemas and not owned by an extension, one JSON per line. */
const CATALOG_SQL = `
CREATE TEMP VIEW manifest_ns AS
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname !~ '^pg_' AND nspname <> 'information_schema';
CREATE TEMP VIEW manifest_ext_member AS
  SELECT classid, objid FROM pg_depend WHERE deptype = 'e';

SELECT json_build_object('type', 'database', 'name', d.datname, 'props', json_build_object(
  'encoding', pg_encoding_to_char(d.encoding), 'collate', d.datcollate, 'ctype', d.datctype,
  'owner', pg_get_userbyid(d.datdba), 'acl', d.datacl::text))
FROM pg_database d WHERE d.datname = current_database();

SELECT json_build_object('type', 'schema', 'name', n.nspname, 'props', json_build_object(
  'owner', pg_get_userbyid(n.nspowner), 'acl', n.nspacl::text))
FROM pg_namespace n JOIN manifest_ns USING (oid);

SELECT json_build_object('type', 'extension', 'name', e.extname, 'props', json_build_object(
  'version', e.extversion, 'schema', e.extnamespace::regnamespace::text, 'owner', pg_get_userbyid(e.extowner)))
FROM pg_extension e;

SELECT json_build_object(
  'type', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                         WHEN 'm' THEN 'matview' WHEN 'S' THEN 'sequence' ELSE 'foreign table' END,
  'name', n.nspname || '.' || c.relname,
  'props', json_build_object(
    'owner', pg_get_userbyid(c.relowner),
    'acl', c.relacl::text,
    'persistence', c.relpersistence,
    'partitioned', c.relkind = 'p',
    'columns', (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                  || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                  || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''), ', ' ORDER BY a.attnum)
                FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind <> 'S'),
    'definitionMd5', CASE WHEN c.relkind IN ('v', 'm') THEN md5(pg_get_viewdef(c.oid)) END,
    'sequence', CASE WHEN c.relkind = 'S' THEN (
      SELECT format('%s start %s increment %s min %s max %s cache %s%s', format_type(s.seqtypid, NULL),
                    s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
                    CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END)
      FROM pg_sequence s WHERE s.seqrelid = c.oid) END,
    'ownedBy', CASE WHEN c.relkind = 'S' THEN (
      SELECT tn.nspname || '.' || t.relname || '.' || a.attname
      FROM pg_depend dep JOIN pg_class t ON t.oid = dep.refobjid
      JOIN pg_namespace tn ON tn.oid = t.relnamespace
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid
      WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype IN ('a', 'i')
        AND dep.refclassid = 'pg_class'::regclass LIMIT 1) END))
FROM pg_class c JOIN manifest_ns n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND NOT EXISTS (SELECT 1 FROM manifest_ext_member x WHERE x.classid = 'pg_class'::regclass AND x.objid = c.oid);

SELECT json_build_object('type', 'constraint', 'name', n.nspname || '.' || c.relname || '.' || con.conname,
  'props', json_build_object('kind', con.contype, 'definition', pg_get_constraintdef(con.oid)))
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN manifest_ns n ON n.oid = c.relnamespace
WHERE NOT EXISTS (SELECT 1 FROM manifest_ext_member x WHERE x.classid = 'pg_class'::regclass AND x.objid = c.oid);

SELECT json_build_object('type', 'index', 'name', n.nspname || '.' || ic.relname,
  'props', json_build_object('table', tc.relname, 'definition', pg_get_indexdef(ic.oid)))
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
JOIN manifest_ns n ON n.oid = ic.relnamespace
WHERE NOT EXISTS (SELECT 1 FROM manifest_ext_member x WHERE x.classid = 'pg_class'::regclass AND x.objid = tc.oid);

SELECT json_build_object('type', 'trigger', 'name', n.nspname || '.' || c.relname || '.' || t.tgname,
  'props', json_build_object('definition', pg_get_triggerdef(t.oid), 'enabled', t.tgenabled))
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN manifest_ns n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal;

SELECT json_build_object('type', 'function',
  'name', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
  'props', json_build_object('kind', p.prokind, 'owner', pg_get_userbyid(p.proowner), 'acl', p.proacl::text,
    'language', l.lanname, 'returns', pg_get_function_result(p.oid), 'sourceMd5', md5(p.prosrc),
    'volatility', p.provolatile, 'securityDefiner', p.prosecdef, 'config', p.proconfig::text))
FROM pg_proc p JOIN manifest_ns n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE NOT EXISTS (SELECT 1 FROM manifest_ext_member x WHERE x.classid = 'pg_proc'::regclass AND x.objid = p.oid);

SELECT json_build_object('type', 'type', 'name', n.nspname || '.' || t.typname,
  'props', json_build_object('kind', t.typtype, 'owner', pg_get_userbyid(t.typowner),
    'definition', CASE t.typtype
      WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                     FROM pg_enum e WHERE e.enumtypid = t.oid)
      ELSE format_type(t.typbasetype, t.typtypmod) END))
FROM pg_type t JOIN manifest_ns n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd')
  AND NOT EXISTS (SELECT 1 FROM manifest_ext_member x WHERE x.classid = 'pg_type'::regclass AND x.objid = t.oid);
`;

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Runs SQL with psql on one database; each output line is one JSON object. */
export function psqlJsonLines(db: string, sql: string, access: PgAccess): unknown[] {
  const psqlArgs = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db];
  let command = "psql";
  let args = psqlArgs;
  if (access.mode === "tcp") {
    args = [...psqlArgs, "-w", "-h", access.host, "-U", access.user];
  } else if (process.getuid?.() === 0 && (access.osUser ?? "postgres") !== "root") {
    command = "runuser";
    args = ["-u", access.osUser ?? "postgres", "--", "psql", ...psqlArgs];
  }
  const result = spawnSync(command, args, {
    input: SESSION_SQL + sql,
    encoding: "utf8",
    // Its temporary views need a session that may write: the migration's fence makes the origin's
    // databases read-only by default during the downtime (src/database/fence.ts).
    env: {
      ...process.env,
      PGCLIENTENCODING: "UTF8",
      PGOPTIONS: `${process.env["PGOPTIONS"] ?? ""} -c default_transaction_read_only=off`.trim(),
    },
    maxBuffer: 512 * 1024 * 1024,
  });
  if (result.error !== undefined) throw new Error(`cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const tail = result.stderr.trim().split("\n").slice(-5).join("\n");
    throw new Error(
      `psql on database ${db} (${access.mode}) failed with exit code ${result.status}: ${tail}`,
    );
  }
  return result.stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as unknown);
}

function asDbRecord(db: string, value: unknown): DbRecord {
  if (typeof value !== "object" || value === null) throw new Error(`unexpected catalog row from ${db}`);
  const row = value as { type?: unknown; name?: unknown; props?: unknown };
  if (typeof row.type !== "string" || typeof row.name !== "string" || typeof row.props !== "object") {
    throw new Error(`unexpected catalog row from ${db}: ${JSON.stringify(value)}`);
  }
  const props: Record<string, DbValue> = {};
  for (const [k, v] of Object.entries((row.props ?? {}) as Record<string, unknown>)) {
    // Properties that do not apply (a sequence's columns, a default ACL) are left out, not null.
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") props[k] = v;
  }
  return { db, type: row.type, name: row.name, props };
}

/** Catalog records of one database, plus row counts and content hashes of its tables and sequence values. */
export function databaseRecords(db: string, access: PgAccess): DbRecord[] {
  const records = psqlJsonLines(db, CATALOG_SQL, access).map((row) => asDbRecord(db, row));
  const qualified = (name: string): string => {
    const dot = name.indexOf(".");
    return `${quoteIdent(name.slice(0, dot))}.${quoteIdent(name.slice(dot + 1))}`;
  };
  const queries: string[] = [];
  for (const r of records) {
    if (r.type === "table") {
      // Sum of 60-bit slices of each row's md5: independent of row order, sensitive to any change.
      queries.push(
        `SELECT json_build_object('name', ${quoteLiteral(r.name)}, 'rows', count(*), 'contentHash', ` +
          `coalesce(sum(('x' || substr(md5(manifest_row_::text), 1, 15))::bit(60)::bigint), 0)::text) ` +
          `FROM ${qualified(r.name)} manifest_row_;`,
      );
    } else if (r.type === "sequence") {
      queries.push(
        `SELECT json_build_object('name', ${quoteLiteral(r.name)}, 'lastValue', last_value::text, ` +
          `'isCalled', is_called) FROM ${qualified(r.name)};`,
      );
    }
  }
  if (queries.length > 0) {
    const byName = new Map(
      records.filter((r) => r.type === "table" || r.type === "sequence").map((r) => [r.name, r]),
    );
    for (const row of psqlJsonLines(db, queries.join("\n"), access)) {
      const { name, ...values } = row as { name: string } & Record<string, DbValue>;
      const target = byName.get(name);
      if (target !== undefined) Object.assign(target.props, values);
    }
  }
  return records.sort((a, b) => compareBytes(`${a.type}/${a.name}`, `${b.type}/${b.name}`));
}

// ---------------------------------------------------------------------------------------------
// Public entry point and CLI

/**
 * Describes a host: one record per file-system entry under each path, then the databases.
 * A generator, so that a caller can stream the records out without holding them.
 */
export function* buildManifest(opts: ManifestOptions = {}): Generator<ManifestRecord> {
  const root = opts.root ?? "/";
  yield* fileSystemRecords(root, opts.paths ?? DEFAULT_PATHS);
  for (const db of opts.databases ?? []) yield* databaseRecords(db, opts.pg ?? { mode: "peer" });
}

function list(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      root: { type: "string", default: "/" },
      paths: { type: "string" },
      db: { type: "string" },
      out: { type: "string" },
      "pg-peer": { type: "boolean" },
      "pg-tcp": { type: "boolean" },
      "pg-user": { type: "string", default: "bj" },
      "pg-host": { type: "string", default: "localhost" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) {
    process.stdout.write(
      "usage: tsx lab/manifest.ts [--root /] [--paths a,b,c] [--db bj,bj-data] [--pg-peer|--pg-tcp]\n" +
        "                           [--pg-user bj] [--pg-host localhost] [--out FILE]\n" +
        "Default paths: the procedure's data directories and configuration files.\n" +
        "--pg-peer (default): psql as OS user postgres; --pg-tcp: psql as --pg-user over TCP, PGPASSWORD from env.\n",
    );
    return 0;
  }
  const pg: PgAccess =
    values["pg-tcp"] === true
      ? { mode: "tcp", host: values["pg-host"], user: values["pg-user"] }
      : { mode: "peer" };
  const out = values.out === undefined ? process.stdout : createWriteStream(values.out);
  let chunk = "";
  for (const record of buildManifest({
    root: values.root,
    paths: list(values.paths),
    databases: list(values.db),
    pg,
  })) {
    chunk += JSON.stringify(record) + "\n";
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  if (out === process.stdout) {
    out.write(chunk);
  } else {
    await new Promise<void>((resolve, reject) => {
      out.on("error", reject);
      out.end(chunk, resolve);
    });
  }
  return 0;
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`manifest: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
