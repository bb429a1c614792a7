/**
 * BlueMind-shaped data generator for the two-host lab.
 *
 * Runs inside one lab host (its own mount namespace) and writes what a BlueMind 4 server holds in the
 * places the migration procedure moves: Cyrus mail spool (domain split, single-instance-store hard
 * links), Cyrus state, HSM archive, sieve scripts (with a symlink), Elasticsearch index files (large
 * and sparse), documents with hostile names, the configuration files of the procedure, and the
 * databases `bj` and `bj-data`.
 *
 *   tsx lab/generate.ts --role origin|target --scale K [--seed S] [--root /] [--no-db]
 *
 * Deterministic: the same role, seed and scale give byte-identical files, names, modes and mtimes
 * (every random choice comes from a mulberry32 stream seeded by the seed and a label, so that one
 * part of the tree does not shift another). Owners are given by name (cyrus, mail, root) and resolved
 * with the host's own /etc/passwd and /etc/group; the cyrus uid differs between the lab hosts.
 *
 * The lab writes /etc/bm/bm.ini, mcast.id, subscription.bmz and bm-core.tok; this file never does.
 */
import { isMain } from "./isMain.js";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  fchmodSync,
  fchownSync,
  ftruncateSync,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path/posix";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { readAccounts, type Accounts } from "./manifest.js";
import { schemaFile, type SchemaVersion } from "./schema/assemble.js";
import { bjDataFillSql, bjFillSql, type FillPlan } from "./schema/fill.js";

export type Role = "origin" | "target";

export interface GenerateOptions {
  role: Role;
  /** About 80 users, 4,600 files and 20,000 database rows per unit. */
  scale: number;
  seed: number;
  /** Prefix of every path written (default "/"); a temp dir in tests. */
  root: string;
  /** Also fill the databases `bj` and `bj-data` (psql as `bj` on localhost). */
  db: boolean;
  /** Written where BlueMind keeps the server's own address (cyrus-replication, t_server, rc_users...). */
  hostIp: string;
  /** Password of the database user `bj`. */
  pgPassword: string;
  /** BlueMind's version on this host (dpkg's bm-core): 5.x gets Keycloak and bm-core's caches. */
  bmVersion?: string;
}

export interface GenerateSummary {
  role: Role;
  files: number;
  dirs: number;
  hardLinks: number;
  symlinks: number;
  /** Apparent size of the regular files written (hard links counted once). */
  bytes: number;
  rows: number;
  /** Total time, and the part of it spent filling the databases. */
  seconds: number;
  databaseSeconds: number;
}

export const DOMAIN = "bluemind.lab";
const CYRUS_DOMAIN_DIR = "/var/spool/cyrus/data/bluemind_lab/domain/b/bluemind.lab";

/**
 * The quick-check traps: on the target these files have the same path, size and mtime as on the
 * origin, but different bytes. `rsync -a` without --checksum (or --ignore-times) skips them, so a
 * migration that relies on its quick check leaves the target's fresh-install content in place.
 */
export const TRAP_FILES: readonly string[] = [
  `${CYRUS_DOMAIN_DIR}/a/user/admin/1.`,
  "/var/lib/cyrus/user/a/admin.seen",
  "/var/spool/sieve/bluemind.lab/a/admin/roundcube.script",
  // Compiled from the trap script above: same length, same mtime, different bytes.
  "/var/spool/sieve/bluemind.lab/a/admin/roundcube.bc",
];

/**
 * Gets SELECT on t_directory_entry and t_mailbox in `bj`, only if the role already exists (bj cannot create
 * roles; the lab may). Beware: a dump of such a database restores on another host only if the role exists there.
 */
export const OPTIONAL_READ_ROLE = "bj_readonly"; // granted in lab/schema/fill.ts

const DAY = 86_400;
const ORIGIN_EPOCH = Date.UTC(2024, 0, 1) / 1000;
const TARGET_EPOCH = Date.UTC(2024, 5, 20) / 1000;
const ORIGIN_CONFIG_EPOCH = Date.UTC(2023, 4, 10) / 1000;
const TARGET_CONFIG_EPOCH = Date.UTC(2024, 5, 18) / 1000;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32, seeded from the generation seed and a label. */
class Rng {
  private state: number;

  constructor(seed: number, ...labels: (string | number)[]) {
    this.state = hash32(`${seed}|${labels.join("|")}`);
  }

  u32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  }

  next(): number {
    return this.u32() / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  bytes(n: number): Buffer {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.u32();
    return Buffer.from(words.buffer, 0, n);
  }

  hex(chars: number): string {
    return this.bytes(Math.ceil(chars / 2))
      .toString("hex")
      .slice(0, chars);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing the tree

/** Owner and group by name, and permission bits. */
interface Meta {
  owner: string;
  group: string;
  mode: number;
}

const CYRUS_FILE: Meta = { owner: "cyrus", group: "mail", mode: 0o600 };
const CYRUS_DIR: Meta = { owner: "cyrus", group: "mail", mode: 0o700 };
const CYRUS_PUBLIC_DIR: Meta = { owner: "cyrus", group: "mail", mode: 0o750 };
const ROOT_FILE: Meta = { owner: "root", group: "root", mode: 0o644 };
const ROOT_SECRET: Meta = { owner: "root", group: "root", mode: 0o600 };
const ROOT_DIR: Meta = { owner: "root", group: "root", mode: 0o755 };

interface DirState {
  depth: number;
  mtime: number | undefined;
  newestChild: number;
}

function errno(err: unknown): string | undefined {
  return err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : undefined;
}

/**
 * Writes entries with fixed owners, modes and mtimes. Directories under the managed roots are
 * registered; their mtimes are set last, deepest first, to the given value or to the newest entry
 * created in them. Existing entries are replaced, never written through (a previous run may have
 * left a hard link at that path).
 */
class TreeWriter {
  readonly counts = { files: 0, dirs: 0, hardLinks: 0, symlinks: 0, bytes: 0 };
  private readonly dirs = new Map<string, DirState>();
  private readonly prefix: string;
  private readonly ids = new Map<string, [number, number]>();

  constructor(
    root: string,
    private readonly accounts: Accounts,
    private readonly managedRoots: readonly string[],
    private readonly defaultDirMtime: number,
  ) {
    this.prefix = root.replace(/\/+$/, "");
  }

  abs(path: string): string {
    return this.prefix + path;
  }

  private owner(meta: Meta): [number, number] {
    const key = `${meta.owner}:${meta.group}`;
    let ids = this.ids.get(key);
    if (ids === undefined) {
      // A name missing on the host (tests in a temp dir) falls back to whoever runs the generator.
      const uid = this.accounts.userId.get(meta.owner) ?? process.getuid?.() ?? 0;
      const gid = this.accounts.groupId.get(meta.group) ?? process.getgid?.() ?? 0;
      ids = [uid, gid];
      this.ids.set(key, ids);
    }
    return ids;
  }

  private isManaged(path: string): boolean {
    return this.managedRoots.some((r) => path === r || path.startsWith(r + "/"));
  }

  /** Creates a directory (and its managed ancestors, with the same meta). */
  dir(path: string, meta: Meta, mtime?: number): void {
    const known = this.dirs.get(path);
    if (known !== undefined) {
      if (mtime !== undefined) known.mtime = mtime;
      return;
    }
    const parent = dirname(path);
    if (this.isManaged(parent) && !this.dirs.has(parent)) this.dir(parent, meta);
    const abs = this.abs(path);
    mkdirSync(abs, { recursive: true });
    const [uid, gid] = this.owner(meta);
    chownSync(abs, uid, gid);
    chmodSync(abs, meta.mode);
    if (this.isManaged(path)) {
      this.dirs.set(path, { depth: path.split("/").length, mtime, newestChild: 0 });
      this.counts.dirs++;
    }
  }

  private touchParent(path: string, mtime: number): void {
    const parent = this.dirs.get(dirname(path));
    if (parent !== undefined && mtime > parent.newestChild) parent.newestChild = mtime;
  }

  private create(abs: string | Buffer, mode: number): number {
    try {
      return openSync(abs, "wx", mode);
    } catch (err) {
      if (errno(err) !== "EEXIST") throw err;
      unlinkSync(abs);
      return openSync(abs, "wx", mode);
    }
  }

  private finishFile(fd: number, meta: Meta, mtime: number): void {
    const [uid, gid] = this.owner(meta);
    fchownSync(fd, uid, gid);
    fchmodSync(fd, meta.mode);
    futimesSync(fd, mtime, mtime);
    closeSync(fd);
  }

  /** A regular file. */
  file(path: string, content: Buffer | string, meta: Meta, mtime: number): void {
    this.writeFile(this.abs(path), path, content, meta, mtime);
  }

  /** A regular file in `dir` whose name is raw bytes (not UTF-8, so not representable as a JS string). */
  fileWithByteName(dir: string, name: Buffer, content: Buffer | string, meta: Meta, mtime: number): void {
    const abs = Buffer.concat([Buffer.from(this.abs(dir) + "/"), name]);
    this.writeFile(abs, `${dir}/${name.toString("latin1")}`, content, meta, mtime);
  }

  private writeFile(
    abs: string | Buffer,
    path: string,
    content: Buffer | string,
    meta: Meta,
    mtime: number,
  ): void {
    const data = typeof content === "string" ? Buffer.from(content) : content;
    const fd = this.create(abs, meta.mode);
    if (data.length > 0) writeSync(fd, data);
    this.finishFile(fd, meta, mtime);
    this.touchParent(path, mtime);
    this.counts.files++;
    this.counts.bytes += data.length;
  }

  /** A sparse file: `size` bytes apparent, only `chunks` written. */
  sparseFile(
    path: string,
    size: number,
    chunks: { offset: number; data: Buffer }[],
    meta: Meta,
    mtime: number,
  ): void {
    const fd = this.create(this.abs(path), meta.mode);
    for (const chunk of chunks) writeSync(fd, chunk.data, 0, chunk.data.length, chunk.offset);
    ftruncateSync(fd, size);
    this.finishFile(fd, meta, mtime);
    this.touchParent(path, mtime);
    this.counts.files++;
    this.counts.bytes += size;
  }

  /** A second name for an existing file (same inode); `mtime` is when the link was made, for the directory. */
  hardLink(existing: string, path: string, mtime: number): void {
    try {
      linkSync(this.abs(existing), this.abs(path));
    } catch (err) {
      if (errno(err) !== "EEXIST") throw err;
      unlinkSync(this.abs(path));
      linkSync(this.abs(existing), this.abs(path));
    }
    this.touchParent(path, mtime);
    this.counts.hardLinks++;
  }

  symlink(target: string, path: string, meta: Meta, mtime: number): void {
    const abs = this.abs(path);
    try {
      symlinkSync(target, abs);
    } catch (err) {
      if (errno(err) !== "EEXIST") throw err;
      unlinkSync(abs);
      symlinkSync(target, abs);
    }
    const [uid, gid] = this.owner(meta);
    lchownSync(abs, uid, gid);
    lutimesSync(abs, mtime, mtime);
    this.touchParent(path, mtime);
    this.counts.symlinks++;
  }

  /** Sets directory mtimes, deepest first, so that nothing written later changes them. */
  finish(): void {
    const ordered = [...this.dirs.entries()].sort((a, b) => b[1].depth - a[1].depth);
    for (const [path, state] of ordered) {
      const mtime = state.mtime ?? (state.newestChild > 0 ? state.newestChild : this.defaultDirMtime);
      utimesSync(this.abs(path), mtime, mtime);
      this.touchParent(path, mtime);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Users and mail

const SPECIAL_USERS: readonly [string, string][] = [
  ["admin", "Administrateur"],
  ["jean^dupont", "Jean Dupont"],
  ["marie^curie", "Marie Curie"],
  ["francois^leclerc", "François Leclerc"],
  ["anne-sophie^martin", "Anne-Sophie Martin"],
  ["contact", "Contact"],
  ["support", "Support technique"],
  ["direction", "Direction générale"],
  ["compta", "Comptabilité"],
  ["rh", "Ressources humaines"],
];

const FIRST_NAMES = [
  "Léa",
  "Hugo",
  "Chloé",
  "Noël",
  "Zoé",
  "Loïc",
  "Inès",
  "Jérôme",
  "Hélène",
  "Théo",
  "Maëlle",
  "Ana",
];
const LAST_NAMES = [
  "Martin",
  "Bernard",
  "Lefèvre",
  "Müller",
  "Garçon",
  "Dubois",
  "Rousseau",
  "Nguyen",
  "Schmitt",
];

interface UserInfo {
  /** Cyrus mailbox name: ASCII, `^` stands for a dot. */
  name: string;
  /** BlueMind login (dots restored). */
  login: string;
  displayName: string;
}

function users(seed: number, count: number): UserInfo[] {
  const list: UserInfo[] = [];
  for (let i = 0; i < count; i++) {
    const special = SPECIAL_USERS[i];
    if (special !== undefined) {
      list.push({ name: special[0], login: special[0].replace(/\^/g, "."), displayName: special[1] });
      continue;
    }
    const name = `user${String(i + 1).padStart(4, "0")}`;
    const rng = new Rng(seed, "display", name);
    list.push({ name, login: name, displayName: `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}` });
  }
  return list;
}

/** Cyrus hash directory of a name: its first letter, `q` for anything else. */
function letter(name: string): string {
  const c = name.charAt(0).toLowerCase();
  return c >= "a" && c <= "z" ? c : "q";
}

function userDir(name: string): string {
  return `${CYRUS_DOMAIN_DIR}/${letter(name)}/user/${name}`;
}

interface FolderPlan {
  /** Directory under the user's mailbox ("" for INBOX). */
  dir: string;
  /** Name in mailboxes.db. */
  mailbox: string;
  count: number;
  uniqueId: string;
}

/** A user's folders, derived from the seed and the name only (not from the scale or other users). */
function planFolders(seed: number, name: string): FolderPlan[] {
  const rng = new Rng(seed, "folders", name);
  const total = rng.int(35, 45);
  const inbox = Math.round(total * 0.65);
  const sent = Math.round(total * 0.22);
  return [
    { dir: "", mailbox: "", count: inbox, uniqueId: rng.hex(16) },
    { dir: "Sent", mailbox: ".Sent", count: sent, uniqueId: rng.hex(16) },
    { dir: "Archives^2024", mailbox: ".Archives^2024", count: total - inbox - sent, uniqueId: rng.hex(16) },
  ];
}

const WORDS = (
  "le la les un une des et de du pour avec sans dans sur sous entre projet réunion budget contrat " +
  "facture devis livraison client fournisseur équipe planning semaine prochaine mardi jeudi " +
  "merci bonjour cordialement rapport trimestre résultat analyse document annexe version validation " +
  "serveur messagerie migration sauvegarde accès compte mot passe sécurité réseau adresse " +
  "the meeting schedule please find attached review draft final numbers quarter deadline " +
  "über straße grüße café noël déjà très où à ça"
).split(" ");

/** A fixed text corpus (CRLF lines, valid UTF-8 per line); message bodies are runs of its lines. */
const CORPUS = (() => {
  const rng = new Rng(0, "corpus");
  const lines: Buffer[] = [];
  let size = 0;
  while (size < 512 * 1024) {
    let line = "";
    const words = rng.int(6, 13);
    for (let i = 0; i < words; i++) line += (i === 0 ? "" : " ") + rng.pick(WORDS);
    line = line.charAt(0).toUpperCase() + line.slice(1) + (rng.chance(0.8) ? "." : ",") + "\r\n";
    if (rng.chance(0.15)) line += "\r\n";
    const b = Buffer.from(line);
    lines.push(b);
    size += b.length;
  }
  const starts: number[] = [];
  let offset = 0;
  for (const b of lines) {
    starts.push(offset);
    offset += b.length;
  }
  return { text: Buffer.concat(lines), starts };
})();

function corpusText(rng: Rng, bytes: number): Buffer {
  const { text, starts } = CORPUS;
  const firstLine = rng.int(0, starts.length - 200);
  const start = starts[firstLine] ?? 0;
  let end = start;
  for (let i = firstLine; i < starts.length && end - start < bytes; i++) end = starts[i + 1] ?? text.length;
  return text.subarray(start, end);
}

const SUBJECTS = [
  "Compte rendu de la réunion",
  "Re: Devis n°",
  "Facture",
  "Planning de la semaine",
  "Fwd: Contrat de maintenance",
  "Invitation : point projet",
  "Ihre Bestellung",
  "Quarterly report",
  "Congés d'été",
  "Migration de la messagerie",
];
const CORRESPONDENTS = [
  "Jean Dupont <jean.dupont@bluemind.lab>",
  "Marie Curie <marie.curie@bluemind.lab>",
  "Support <support@bluemind.lab>",
  "Fournisseur SARL <commandes@fournisseur.example>",
  "Newsletter <news@lists.example.org>",
  "Jörg Schäfer <j.schaefer@beispiel.example>",
  "Client <contact@client.example.fr>",
];

function rfc2822(seconds: number): string {
  const d = new Date(seconds * 1000);
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()] ?? "Mon";
  const month =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getUTCMonth()] ??
    "Jan";
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${day}, ${d.getUTCDate()} ${month} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

interface Message {
  bytes: Buffer;
  mtime: number;
}

/** One message of a user's folder: a pure function of (seed, user, folder, uid). */
function renderMessage(
  seed: number,
  name: string,
  folder: FolderPlan,
  folderIndex: number,
  uid: number,
): Message {
  const rng = new Rng(seed, "msg", name, folder.dir, uid);
  const mtime =
    ORIGIN_EPOCH +
    folderIndex * 7 * DAY +
    Math.floor(((uid - 1) / folder.count) * 280 * DAY) +
    rng.int(0, DAY - 1);
  const me = `${name.replace(/\^/g, ".")}@${DOMAIN}`;
  const other = rng.pick(CORRESPONDENTS);
  const sent = folder.dir === "Sent";
  const from = sent ? `<${me}>` : other;
  const to = sent ? other : `<${me}>`;
  const date = rfc2822(mtime);
  const messageId = `${rng.hex(24)}@${sent ? DOMAIN : "mx.example.org"}`;
  let subject = rng.pick(SUBJECTS);
  if (subject.endsWith("n°") || subject === "Facture") subject += ` ${rng.int(1000, 9999)}`;
  const large = rng.chance(0.01);
  const bodyLength = 500 + Math.floor(6000 * rng.next() ** 3);
  const body = corpusText(rng, bodyLength);
  const head =
    `Return-Path: <${sent ? me : "bounce@mx.example.org"}>\r\n` +
    `Received: from mx.example.org (mx.example.org [192.0.2.${rng.int(1, 254)}])\r\n` +
    `\tby bluemind.lab (Cyrus) with LMTPA;\r\n\t${date}\r\n` +
    `Message-ID: <${messageId}>\r\nDate: ${date}\r\nFrom: ${from}\r\nTo: ${to}\r\n` +
    `Subject: ${subject}\r\nMIME-Version: 1.0\r\n`;
  if (!large) {
    const bytes = Buffer.concat([
      Buffer.from(
        head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      ),
      body,
    ]);
    return { bytes, mtime };
  }
  const boundary = `=_bm_${rng.hex(16)}`;
  const attachment = rng.bytes(rng.int(15_000, 120_000)).toString("base64").replace(/.{76}/g, "$&\r\n");
  const bytes = Buffer.concat([
    Buffer.from(
      head +
        `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\n` +
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    ),
    body,
    Buffer.from(
      `\r\n--${boundary}\r\nContent-Type: application/pdf; name="piece-jointe.pdf"\r\n` +
        `Content-Disposition: attachment; filename="piece-jointe.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
        `${attachment}\r\n--${boundary}--\r\n`,
    ),
  ]);
  return { bytes, mtime };
}

interface IndexRecord {
  uid: number;
  size: number;
  mtime: number;
  head: Buffer;
}

const CYRUS_MAGIC = Buffer.from([0xa1, 0x02, 0x8b, 0x0d]);

function cyrusHeader(name: string, folder: FolderPlan): Buffer {
  const owner = name.replace(/\^/g, ".");
  return Buffer.concat([
    CYRUS_MAGIC,
    Buffer.from(
      'Cyrus mailbox header\n"The best thing about this system was that it had lots of goals."\n' +
        `\t--Jim Morris on Andrew\n${DOMAIN}!user.${name}\t${folder.uniqueId}\n\n` +
        `${owner}@${DOMAIN}\tlrswipkxtecdan\tadmin0\tlrswipkxtecdan\t\n`,
    ),
  ]);
}

/** A cyrus.index in the shape of format 13: a 160-byte header and one 104-byte record per message. */
function cyrusIndex(folder: FolderPlan, records: IndexRecord[]): Buffer {
  const buf = Buffer.alloc(160 + 104 * records.length);
  const last = records[records.length - 1];
  buf.writeUInt32BE(1, 0); // generation
  buf.writeUInt32BE(13, 4); // format version
  buf.writeUInt32BE(160, 8);
  buf.writeUInt32BE(104, 12);
  buf.writeUInt32BE(records.length, 16);
  buf.writeUInt32BE(last?.mtime ?? 0, 20);
  buf.writeUInt32BE(last?.uid ?? 0, 24);
  buf.writeBigUInt64BE(BigInt(records.reduce((s, r) => s + r.size, 0)), 28);
  buf.write(folder.uniqueId, 40, "latin1");
  let cacheOffset = 4;
  records.forEach((r, i) => {
    const at = 160 + 104 * i;
    buf.writeUInt32BE(r.uid, at);
    buf.writeUInt32BE(r.mtime, at + 4);
    buf.writeUInt32BE(r.mtime, at + 8);
    buf.writeUInt32BE(r.size, at + 12);
    buf.writeUInt32BE(r.head.length, at + 16);
    buf.writeUInt32BE(cacheOffset, at + 24);
    buf.writeUInt32BE(r.uid % 3 === 0 ? 0 : 1, at + 32); // \Seen
    r.head.copy(buf, at + 60, 0, 20);
    cacheOffset += 8 + r.head.length + ((4 - (r.head.length % 4)) % 4);
  });
  return buf;
}

function cyrusCache(records: IndexRecord[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, 0, 0, 1])];
  for (const r of records) {
    const len = Buffer.alloc(8);
    len.writeUInt32BE(r.uid, 0);
    len.writeUInt32BE(r.head.length, 4);
    parts.push(len, r.head, Buffer.alloc((4 - (r.head.length % 4)) % 4));
  }
  return Buffer.concat(parts);
}

/** The .seen state of a user (one line per folder), derived from the folder plan only. */
function renderSeen(seed: number, name: string): Buffer {
  const rng = new Rng(seed, "seen", name);
  let text = "";
  for (const folder of planFolders(seed, name)) {
    const seenUpTo = Math.max(1, folder.count - rng.int(0, 5));
    const when = ORIGIN_EPOCH + 300 * DAY + rng.int(0, 20 * DAY);
    text += `${folder.uniqueId}\t2 ${when} ${folder.count} ${when} 1:${seenUpTo}\n`;
  }
  return Buffer.from(text);
}

function renderSieve(seed: number, name: string): Message {
  const rng = new Rng(seed, "sieve", name);
  const rules = [
    `# rule:[Newsletters]\r\nif header :contains "List-Id" "${rng.pick(["news", "lists", "promo"])}" {\r\n\tfileinto "Archives^2024";\r\n\tstop;\r\n}\r\n`,
    `# rule:[Factures]\r\nif allof (header :contains "Subject" "Facture", address :domain :is "From" "fournisseur.example") {\r\n\tfileinto "Archives^2024";\r\n}\r\n`,
    `# rule:[Spam]\r\nif header :contains "X-Spam-Flag" "YES" {\r\n\tdiscard;\r\n\tstop;\r\n}\r\n`,
    `# rule:[Absence]\r\nif true {\r\n\tvacation :days ${rng.int(1, 7)} :addresses ["${name.replace(/\^/g, ".")}@${DOMAIN}"] :subject "Absent" "Je suis absent jusqu'au ${rng.int(1, 28)} août. Pour toute urgence : support@${DOMAIN}.";\r\n}\r\n`,
  ];
  const chosen = rules.filter(() => rng.chance(0.7));
  const text =
    'require ["fileinto","vacation","copy","envelope"];\r\n' +
    `# Generated by Roundcube for ${name.replace(/\^/g, ".")}\r\n\r\n` +
    (chosen.length > 0 ? chosen : rules.slice(0, 1)).join("\r\n");
  return { bytes: Buffer.from(text), mtime: ORIGIN_EPOCH + rng.int(10, 200) * DAY };
}

/**
 * The target's trap content: the same length as the origin's, different bytes. Letters are rotated
 * by 13 and digits by 5 after the first blank line (the body of a message), or throughout.
 */
function sameLengthVariant(original: Buffer): Buffer {
  const copy = Buffer.from(original);
  const blank = copy.indexOf("\r\n\r\n");
  for (let i = blank < 0 ? 0 : blank; i < copy.length; i++) {
    const c = copy[i] ?? 0;
    if (c >= 0x61 && c <= 0x7a) copy[i] = ((c - 0x61 + 13) % 26) + 0x61;
    else if (c >= 0x41 && c <= 0x5a) copy[i] = ((c - 0x41 + 13) % 26) + 0x41;
    else if (c >= 0x30 && c <= 0x39) copy[i] = ((c - 0x30 + 5) % 10) + 0x30;
  }
  return copy;
}

function twoskipFile(rng: Rng, body: Buffer | string): Buffer {
  const header = Buffer.alloc(64);
  CYRUS_MAGIC.copy(header, 0);
  header.write("twoskip file\0\0\0\0", 4, "latin1");
  header.writeUInt32BE(1, 20);
  rng.bytes(16).copy(header, 24);
  return Buffer.concat([header, typeof body === "string" ? Buffer.from(body) : body]);
}

interface SharedMessage {
  path: string;
  size: number;
  mtime: number;
  head: Buffer;
  extraLinks: number;
}

/** The mail of one user: messages (some hard-linked into the pool's files), cyrus.* files per folder. */
function writeMailbox(w: TreeWriter, seed: number, name: string, pool: SharedMessage[] | undefined): void {
  const base = userDir(name);
  const sis = new Rng(seed, "sis", name);
  planFolders(seed, name).forEach((folder, folderIndex) => {
    const dir = folder.dir === "" ? base : `${base}/${folder.dir}`;
    w.dir(dir, CYRUS_DIR);
    const records: IndexRecord[] = [];
    for (let uid = 1; uid <= folder.count; uid++) {
      const path = `${dir}/${uid}.`;
      // Single-instance store: about 10% of messages are another mailbox's file (nlink 2 to 4).
      if (pool !== undefined && pool.length > 0 && sis.chance(0.105)) {
        const shared = pool[pool.length - 1 - sis.int(0, Math.min(pool.length, 60) - 1)];
        if (shared !== undefined && shared.extraLinks < 3) {
          w.hardLink(shared.path, path, shared.mtime);
          shared.extraLinks++;
          records.push({ uid, size: shared.size, mtime: shared.mtime, head: shared.head });
          continue;
        }
      }
      const message = renderMessage(seed, name, folder, folderIndex, uid);
      w.file(path, message.bytes, CYRUS_FILE, message.mtime);
      const head = message.bytes.subarray(0, 200);
      records.push({ uid, size: message.bytes.length, mtime: message.mtime, head });
      if (pool !== undefined) {
        pool.push({ path, size: message.bytes.length, mtime: message.mtime, head, extraLinks: 0 });
        if (pool.length > 400) pool.shift();
      }
    }
    const newest = Math.max(...records.map((r) => r.mtime));
    w.file(`${dir}/cyrus.header`, cyrusHeader(name, folder), CYRUS_FILE, ORIGIN_EPOCH - 30 * DAY);
    w.file(`${dir}/cyrus.index`, cyrusIndex(folder, records), CYRUS_FILE, newest + 60);
    w.file(`${dir}/cyrus.cache`, cyrusCache(records), CYRUS_FILE, newest + 60);
  });
}

// ---------------------------------------------------------------------------------------------
// Origin data

const DOC_NAMES = [
  "Compte rendu",
  "Facture F2024-",
  "Devis",
  "Présentation client",
  "Note de service",
  "Photo 2024-03-12 à 10.15",
  "Bilan",
  "Procès-verbal",
  "Angebot",
  "Scan",
];
const DOC_EXTENSIONS = ["pdf", "odt", "docx", "xlsx", "ods", "txt", "jpg", "png"];
const DOC_FOLDERS = ["", "Projets", "Projets/2024", "Projets/2024/Q1", "Comptabilité", "Archives", "Личное"];

function documentBytes(rng: Rng, name: string, size: number): Buffer {
  const ext = name.slice(name.lastIndexOf(".") + 1);
  if (ext === "txt" || ext === "md") return corpusText(rng, size);
  const magic: Record<string, string> = {
    pdf: "%PDF-1.5\n",
    jpg: "\xff\xd8\xff\xe0",
    png: "\x89PNG\r\n\x1a\n",
  };
  return Buffer.concat([Buffer.from(magic[ext] ?? "PK\x03\x04", "latin1"), rng.bytes(size)]);
}

function documentSize(rng: Rng): number {
  return rng.chance(0.01) ? rng.int(100_000, 800_000) : 200 + Math.floor(20_000 * rng.next() ** 2);
}

/**
 * Names people really use, and that break tools: spaces, accents (NFC and NFD), other scripts,
 * leading dashes, shell metacharacters, a colon, a glob, a name that is not UTF-8.
 */
function writeDocuments(w: TreeWriter, seed: number, scale: number, logins: readonly string[]): void {
  const rng = new Rng(seed, "docs");
  const docs = `/var/spool/bm-docs/${DOMAIN}`;
  const admin = `${docs}/admin`;
  const when = (): number => ORIGIN_EPOCH + rng.int(0, 300 * DAY);
  w.dir(admin, ROOT_DIR);
  w.dir(`${admin}/Comptabilité`, ROOT_DIR);
  w.dir(`${docs}/international`, ROOT_DIR);
  const special: [string, string][] = [
    [admin, "Rapport annuel 2024.pdf"],
    [`${admin}/Comptabilité`, "Überweisung März.odt"],
    [admin, "café crème.txt"],
    [admin, "cafe\u0301 crème NFD.txt"],
    [`${docs}/international`, "報告書.docx"],
    [`${docs}/international`, "Отчёт.xlsx"],
    [`${docs}/international`, "تقرير.pdf"],
    [admin, "-rf important.txt"],
    ["/var/spool/bm-docs", "--delete-me.txt"],
    [admin, "it's $HOME \\ test.txt"],
    [admin, 'notes [draft] *final* "v2".md'],
    [admin, "Réunion 10:30.txt"],
    [admin, "brouillon avec espace final .txt "],
    [admin, `Compte rendu détaillé de la réunion du comité de direction ${"très ".repeat(20)}long.docx`],
  ];
  for (const [dir, name] of special) {
    w.file(`${dir}/${name}`, documentBytes(rng, name, documentSize(rng)), ROOT_FILE, when());
  }
  // A Latin-1 name, as left by an old Windows upload: not valid UTF-8.
  const latin1Name = Buffer.from("r\xe9sum\xe9 latin1.txt", "latin1");
  w.fileWithByteName(admin, latin1Name, documentBytes(rng, "x.txt", 900), ROOT_FILE, when());
  w.file(
    `${admin}/Comptabilité/salaires 2024.ods`,
    documentBytes(rng, "x.ods", 12_000),
    { ...ROOT_FILE, mode: 0o640, group: "mail" },
    when(),
  );
  w.file(`${admin}/vide.txt`, "", ROOT_FILE, when());
  w.dir(`${admin}/Nouveau dossier`, ROOT_DIR, ORIGIN_EPOCH + 12 * DAY);

  const owners = logins.slice(0, Math.max(3, Math.min(logins.length, 10 * scale)));
  const count = Math.round(120 * scale);
  for (let i = 0; i < count; i++) {
    const owner = rng.pick(owners);
    const folder = rng.pick(DOC_FOLDERS);
    const dir = `${docs}/${owner}${folder === "" ? "" : "/" + folder}`;
    w.dir(dir, rng.chance(0.1) ? { ...ROOT_DIR, mode: 0o700 } : ROOT_DIR);
    const name = `${rng.pick(DOC_NAMES)} ${String(i).padStart(4, "0")}.${rng.pick(DOC_EXTENSIONS)}`;
    const meta = rng.chance(0.15) ? ROOT_SECRET : ROOT_FILE;
    w.file(`${dir}/${name}`, documentBytes(rng, name, documentSize(rng)), meta, when());
  }

  const fh = `/var/spool/bm-filehosting/${DOMAIN}`;
  w.dir(fh, ROOT_DIR);
  w.dir(`${fh}/partage`, { owner: "root", group: "mail", mode: 0o2775 });
  const fhCount = Math.round(80 * scale);
  for (let i = 0; i < fhCount; i++) {
    const shared = rng.chance(0.2);
    const dir = shared ? `${fh}/partage` : `${fh}/${rng.pick(owners)}`;
    const cyrusOwned = rng.chance(0.3);
    w.dir(dir, ROOT_DIR);
    const name = `${rng.pick(DOC_NAMES)} ${String(i).padStart(4, "0")} (envoi).${rng.pick(DOC_EXTENSIONS)}`;
    const meta: Meta = cyrusOwned ? { owner: "cyrus", group: "mail", mode: 0o644 } : ROOT_FILE;
    w.file(`${dir}/${name}`, documentBytes(rng, name, documentSize(rng)), meta, when());
  }
}

function esUuid(rng: Rng): string {
  return rng.bytes(16).toString("base64url").slice(0, 22);
}

/** Elasticsearch node data: a few indices, some files of several MB, two sparse files. */
function writeElasticsearch(w: TreeWriter, seed: number, scale: number, role: Role): void {
  const rng = new Rng(seed, "es", role);
  const epoch = role === "origin" ? ORIGIN_EPOCH : TARGET_EPOCH;
  const node = "/var/spool/bm-elasticsearch/data/nodes/0";
  w.dir(`${node}/_state`, ROOT_DIR);
  w.file(`${node}/node.lock`, "", ROOT_FILE, epoch + DAY);
  w.file(
    `${node}/_state/global-${rng.int(3, 40)}.st`,
    rng.bytes(rng.int(300, 900)),
    ROOT_FILE,
    epoch + 2 * DAY,
  );
  const indices = role === "origin" ? 4 + Math.floor(scale / 4) : 1;
  for (let i = 0; i < indices; i++) {
    const dir = `${node}/indices/${esUuid(rng)}`;
    const when = (): number => epoch + rng.int(0, (role === "origin" ? 300 : 3) * DAY);
    w.dir(`${dir}/_state`, ROOT_DIR);
    w.dir(`${dir}/0/index`, ROOT_DIR);
    w.dir(`${dir}/0/translog`, ROOT_DIR);
    w.dir(`${dir}/0/_state`, ROOT_DIR);
    w.file(`${dir}/_state/state-${rng.int(1, 9)}.st`, rng.bytes(rng.int(500, 3000)), ROOT_FILE, when());
    w.file(
      `${dir}/0/_state/retention-leases-${rng.int(1, 50)}.st`,
      rng.bytes(rng.int(60, 200)),
      ROOT_FILE,
      when(),
    );
    w.file(`${dir}/0/index/write.lock`, "", ROOT_FILE, when());
    w.file(`${dir}/0/index/segments_${rng.int(2, 9)}`, rng.bytes(rng.int(300, 2000)), ROOT_FILE, when());
    const large = role === "origin" && i < 2;
    const cfs = large ? rng.int(3_000_000, 6_000_000) : rng.int(100_000, 900_000);
    w.file(`${dir}/0/index/_0.cfs`, rng.bytes(cfs), ROOT_FILE, when());
    w.file(`${dir}/0/index/_0.cfe`, rng.bytes(rng.int(200, 600)), ROOT_FILE, when());
    w.file(`${dir}/0/index/_0.si`, rng.bytes(rng.int(300, 500)), ROOT_FILE, when());
    w.file(
      `${dir}/0/translog/translog-${rng.int(1, 9)}.tlog`,
      rng.bytes(rng.int(55, 40_000)),
      ROOT_FILE,
      when(),
    );
    w.file(`${dir}/0/translog/translog.ckp`, rng.bytes(88), ROOT_FILE, when());
    if (large) {
      // 64 MB apparent, a few 4 KB blocks: written at offsets, then truncated to size.
      const chunks = [0, 5, 1234, 9000, 15_000].map((block) => ({
        offset: block * 4096,
        data: rng.bytes(4096),
      }));
      w.sparseFile(`${dir}/0/index/_1_Lucene80_0.dvd`, 64 * 1024 * 1024, chunks, ROOT_FILE, when());
    }
  }
}

function writeOriginData(w: TreeWriter, seed: number, list: UserInfo[]): void {
  const pool: SharedMessage[] = [];
  for (const [i, user] of list.entries()) {
    // admin (user 0) never links into another mailbox: its messages are the target's traps.
    writeMailbox(w, seed, user.name, i === 0 ? undefined : pool);
  }

  const lib = "/var/lib/cyrus";
  const rng = new Rng(seed, "cyrus-lib");
  let mailboxes = "";
  for (const user of list) {
    for (const folder of planFolders(seed, user.name)) {
      mailboxes +=
        `${DOMAIN}!user.${user.name}${folder.mailbox}\t%(A %(${user.login}@${DOMAIN} lrswipkxtecdan admin0 lrswipkxtecdan) ` +
        `I ${folder.uniqueId} P bluemind_lab T e V ${ORIGIN_EPOCH} F 1 M ${ORIGIN_EPOCH + 290 * DAY})\n`;
    }
  }
  const libTime = ORIGIN_EPOCH + 301 * DAY;
  w.file(`${lib}/mailboxes.db`, twoskipFile(rng, mailboxes), CYRUS_FILE, libTime);
  w.file(`${lib}/annotations.db`, twoskipFile(rng, rng.bytes(8192 + 512 * list.length)), CYRUS_FILE, libTime);
  w.file(`${lib}/tls_sessions.db`, twoskipFile(rng, rng.bytes(4096)), CYRUS_FILE, libTime - DAY);
  w.file(`${lib}/deliver.db`, twoskipFile(rng, rng.bytes(16_384 + 2048 * list.length)), CYRUS_FILE, libTime);
  w.dir(`${lib}/proc`, CYRUS_DIR, libTime);
  for (const user of list) {
    const dir = `${lib}/user/${letter(user.name)}`;
    w.dir(dir, CYRUS_PUBLIC_DIR);
    const seen = renderSeen(seed, user.name);
    const sub = planFolders(seed, user.name)
      .filter((f) => f.mailbox !== "")
      .map((f) => `${DOMAIN}!user.${user.name}${f.mailbox}\t\n`)
      .join("");
    w.file(`${dir}/${user.name}.seen`, seen, CYRUS_FILE, ORIGIN_EPOCH + 299 * DAY);
    w.file(`${dir}/${user.name}.sub`, sub, CYRUS_FILE, ORIGIN_EPOCH + 20 * DAY);
  }

  const hsm = `/var/spool/bm-hsm/${DOMAIN}`;
  for (const [i, user] of list.entries()) {
    const urng = new Rng(seed, "hsm", user.name);
    if (i !== 0 && !urng.chance(0.2)) continue;
    w.dir(`${hsm}/${user.name}`, CYRUS_PUBLIC_DIR);
    for (let k = 0; k < 4; k++) {
      const folder: FolderPlan = { dir: "hsm", mailbox: "", count: 4, uniqueId: "" };
      const message = renderMessage(seed, user.name, folder, 9, k + 1);
      w.file(`${hsm}/${user.name}/${urng.hex(40)}`, message.bytes, CYRUS_FILE, message.mtime - 200 * DAY);
    }
  }

  for (const [i, user] of list.entries()) {
    if (i !== 0 && !new Rng(seed, "has-sieve", user.name).chance(0.5)) continue;
    writeSieve(w, seed, user.name, renderSieve(seed, user.name));
  }
}

function writeSieve(w: TreeWriter, seed: number, name: string, script: Message): void {
  const dir = `/var/spool/sieve/${DOMAIN}/${letter(name)}/${name}`;
  w.dir(dir, CYRUS_DIR);
  w.file(`${dir}/roundcube.script`, script.bytes, CYRUS_FILE, script.mtime);
  const rng = new Rng(seed, "sieve-bc", name, script.mtime);
  const bc = Buffer.concat([
    Buffer.from("CyrSBytecode\0\0\0\x06", "latin1"),
    rng.bytes(script.bytes.length + 40),
  ]);
  w.file(`${dir}/roundcube.bc`, bc, CYRUS_FILE, script.mtime + 1);
  w.symlink("roundcube.bc", `${dir}/defaultbc`, CYRUS_FILE, script.mtime + 1);
}

// ---------------------------------------------------------------------------------------------
// Target data: a fresh install, plus the traps

function writeTargetData(w: TreeWriter, seed: number): void {
  const rng = new Rng(seed, "target-data");
  const t = (days: number): number => TARGET_EPOCH + days * DAY + rng.int(0, 3600);
  const admin = planFolders(seed, "admin");
  const inbox = admin[0];
  if (inbox === undefined) throw new Error("admin has no INBOX");

  // Trap 1: admin's INBOX message 1, same size and mtime as the origin's, different body.
  const originFirst = renderMessage(seed, "admin", inbox, 0, 1);
  const base = userDir("admin");
  w.dir(base, CYRUS_DIR);
  w.file(`${base}/1.`, sameLengthVariant(originFirst.bytes), CYRUS_FILE, originFirst.mtime);
  const welcome = (to: string, n: number): Buffer =>
    Buffer.from(
      `From: BlueMind <no-reply@${DOMAIN}>\r\nTo: <${to}@${DOMAIN}>\r\nSubject: Bienvenue (${n})\r\n` +
        `Date: ${rfc2822(TARGET_EPOCH + n * 60)}\r\nMessage-ID: <welcome-${n}-${rng.hex(12)}@${DOMAIN}>\r\n\r\n` +
        `Bienvenue dans BlueMind. Ce serveur vient d'être installé.\r\n`,
    );
  w.file(`${base}/2.`, welcome("admin", 2), CYRUS_FILE, t(0));
  w.file(`${base}/3.`, welcome("admin", 3), CYRUS_FILE, t(0));
  const fresh: FolderPlan = { dir: "", mailbox: "", count: 3, uniqueId: rng.hex(16) };
  const records: IndexRecord[] = [1, 2, 3].map((uid) => ({
    uid,
    size: 300,
    mtime: t(0),
    head: Buffer.from("x"),
  }));
  for (const dir of [base, `${base}/Drafts`]) {
    w.dir(dir, CYRUS_DIR);
    w.file(`${dir}/cyrus.header`, cyrusHeader("admin", fresh), CYRUS_FILE, t(0));
    w.file(`${dir}/cyrus.index`, cyrusIndex(fresh, records), CYRUS_FILE, t(1));
    w.file(`${dir}/cyrus.cache`, cyrusCache(records), CYRUS_FILE, t(1));
  }
  w.file(`${base}/Drafts/1.`, welcome("admin", 9), CYRUS_FILE, t(1));
  const jean = userDir("jean^dupont");
  w.dir(jean, CYRUS_DIR);
  w.file(`${jean}/1.`, welcome("jean.dupont", 1), CYRUS_FILE, t(0));

  // Trap 2: admin's seen state.
  const lib = "/var/lib/cyrus";
  w.dir(`${lib}/user/a`, CYRUS_PUBLIC_DIR);
  w.file(
    `${lib}/user/a/admin.seen`,
    sameLengthVariant(renderSeen(seed, "admin")),
    CYRUS_FILE,
    ORIGIN_EPOCH + 299 * DAY,
  );
  w.file(`${lib}/user/a/admin.sub`, `${DOMAIN}!user.admin.Drafts\t\n`, CYRUS_FILE, t(0));
  w.dir(`${lib}/user/b`, CYRUS_PUBLIC_DIR);
  w.file(`${lib}/user/b/bmhiddensysadmin.seen`, `${rng.hex(16)}\t2 ${t(0)} 0 ${t(0)} \n`, CYRUS_FILE, t(0));
  w.file(
    `${lib}/mailboxes.db`,
    twoskipFile(rng, `${DOMAIN}!user.admin\t%(I ${fresh.uniqueId} P bluemind_lab)\n`),
    CYRUS_FILE,
    t(1),
  );
  w.file(`${lib}/annotations.db`, twoskipFile(rng, rng.bytes(2048)), CYRUS_FILE, t(1));
  w.file(`${lib}/tls_sessions.db`, twoskipFile(rng, rng.bytes(1024)), CYRUS_FILE, t(1));
  w.file(`${lib}/deliver.db`, twoskipFile(rng, rng.bytes(512)), CYRUS_FILE, t(1));
  w.dir(`${lib}/proc`, CYRUS_DIR, t(2));

  // Trap 3: admin's sieve script.
  const originScript = renderSieve(seed, "admin");
  writeSieve(w, seed + 1, "admin", {
    bytes: sameLengthVariant(originScript.bytes),
    mtime: originScript.mtime,
  });
  w.file(`/var/spool/sieve/${DOMAIN}/a/admin/vacation.script`, 'require ["vacation"];\r\n', CYRUS_FILE, t(1));

  w.dir(`/var/spool/bm-hsm/${DOMAIN}`, CYRUS_PUBLIC_DIR, t(0));
  w.dir(`/var/spool/bm-docs/${DOMAIN}/admin`, ROOT_DIR);
  w.file(`/var/spool/bm-docs/${DOMAIN}/admin/Bienvenue dans BlueMind.txt`, "Bienvenue !\n", ROOT_FILE, t(0));
  w.dir(`/var/spool/bm-filehosting/${DOMAIN}`, ROOT_DIR, t(0));
}

// ---------------------------------------------------------------------------------------------
// Configuration files (both roles, different content)

interface ConfigFile {
  path: string;
  content: string | Buffer;
  meta?: Meta;
}

function pem(rng: Rng, label: string, bytes: number): string {
  const body = rng.bytes(bytes).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body.replace(/\n$/, "")}\n-----END ${label}-----\n`;
}

function berkeleyDb(rng: Rng, entries: string): Buffer {
  const header = Buffer.alloc(512);
  header.writeUInt32LE(0x00061561, 12); // hash magic
  header.writeUInt32LE(4096, 20);
  return Buffer.concat([header, Buffer.from(entries), rng.bytes(4096 + rng.int(0, 8192))]);
}

function configFiles(role: Role, seed: number, ip: string): ConfigFile[] {
  const rng = new Rng(seed, "config", role);
  const host = role === "origin" ? "bm-prod" : "bm-neu";
  const fqdn = `${host}.${DOMAIN}`;
  const postfixMaps = {
    master_relay_transport: `${DOMAIN} smtp:${role === "origin" ? "[smtp.relais.example]:587" : "[127.0.0.1]:25"}\n`,
    transport: `${DOMAIN} lmtp:unix:/var/run/cyrus/socket/lmtp\n`,
    virtual_alias:
      role === "origin"
        ? `contact@${DOMAIN} contact@${DOMAIN}\npostmaster@${DOMAIN} admin@${DOMAIN}\nventes@${DOMAIN} jean.dupont@${DOMAIN},marie.curie@${DOMAIN}\n`
        : `postmaster@${DOMAIN} admin@${DOMAIN}\n`,
    virtual_domains: `${DOMAIN} OK\n`,
    virtual_mailbox:
      role === "origin" ? `admin@${DOMAIN} OK\njean.dupont@${DOMAIN} OK\n` : `admin@${DOMAIN} OK\n`,
  };
  const files: ConfigFile[] = [
    {
      path: "/etc/bm/bm-lmtpd.properties",
      content: `# bm-lmtpd\nlmtp.port=2400\nlmtp.host=${ip}\nfilter.sieve=true\nmax.message.size=${role === "origin" ? 52428800 : 10485760}\n`,
    },
    {
      path: "/etc/bm/nodeclient_keystore.jks",
      content: Buffer.concat([
        Buffer.from([0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]),
        rng.bytes(rng.int(2200, 2600)),
      ]),
    },
    {
      path: "/etc/bm/local/bm-core.log.xml",
      content:
        `<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n  <logger name="net.bluemind" level="${role === "origin" ? "DEBUG" : "INFO"}"/>\n` +
        `  <root level="WARN"><appender-ref ref="FILE"/></root>\n</configuration>\n`,
    },
    {
      path: "/etc/bm-hps/hps.ini",
      content: `[hps]\nhost=${ip}\nport=8079\nexternal-url=${DOMAIN}\nsession-timeout=${role === "origin" ? 7200 : 3600}\n`,
    },
    {
      path: "/etc/bm-hps/vhosts/bluemind.lab.conf",
      content: `server_name ${DOMAIN};\nlisten ${ip}:443 ssl;\nproxy_pass http://${ip}:8080; # ${fqdn}\n`,
    },
    {
      path: "/etc/ssl/certs/bm_cert.pem",
      content: pem(rng, "CERTIFICATE", 900) + pem(rng, "PRIVATE KEY", 1200),
    },
    { path: "/var/lib/bm-ca/cacert.pem", content: pem(rng, "CERTIFICATE", 1000) },
    { path: "/var/lib/bm-ca/ca.key", content: pem(rng, "RSA PRIVATE KEY", 1190), meta: ROOT_SECRET },
    {
      path: "/var/lib/bm-ca/index.txt",
      content: `V\t${role === "origin" ? "330510" : "340618"}120000Z\t\t01\tunknown\t/C=FR/O=BlueMind/CN=${DOMAIN}\n`,
    },
    {
      path: "/usr/share/bm-elasticsearch/config/elasticsearch.yml",
      content:
        `cluster.name: bluemind-${rng.hex(12)}\nnode.name: ${host}\npath.data: /var/spool/bm-elasticsearch/data\n` +
        `network.host: ${ip}\nbootstrap.memory_lock: ${role === "origin"}\nindices.memory.index_buffer_size: 30%\n`,
    },
    {
      path: "/etc/imapd.conf",
      content:
        `configdirectory: /var/lib/cyrus\npartition-bluemind_lab: /var/spool/cyrus/data/bluemind_lab\n` +
        `sievedir: /var/spool/sieve\nvirtdomains: userid\nunixhierarchysep: 1\nhashimapspool: true\n` +
        `fulldirhash: 0\nservername: ${fqdn}\nadmins: admin0\nsingleinstancestore: 1\n` +
        `archive_enabled: ${role === "origin" ? 1 : 0}\n`,
    },
    {
      path: "/etc/imapd.annotations.conf",
      content: "/vendor/blue-mind/replication/id,mailbox,string,backend,value.shared,a\n",
    },
    {
      path: "/etc/cyrus.conf",
      content:
        'START {\n  recover cmd="ctl_cyrusdb -r"\n}\nSERVICES {\n  imap cmd="imapd -U 30" listen="1143" prefork=5\n' +
        `  lmtpunix cmd="lmtpd" listen="/var/run/cyrus/socket/lmtp" prefork=${role === "origin" ? 8 : 1}\n}\n` +
        'EVENTS {\n  checkpoint cmd="ctl_cyrusdb -c" period=30\n}\n',
    },
    { path: "/etc/cyrus-partitions", content: `bluemind_lab:/var/spool/cyrus/data/bluemind_lab\n` },
    {
      path: "/etc/cyrus-replication",
      content: `sync_log: 1\nsync_log_channels: core\ncore_sync_host: ${ip}\ncore_sync_port: 2501\n`,
    },
    {
      path: "/etc/postfix/main.cf",
      content: postfixMainCf(role, fqdn, ip),
    },
    {
      path: "/etc/postfix/master.cf",
      content: postfixMasterCf(role),
    },
  ];
  for (const [map, entries] of Object.entries(postfixMaps)) {
    files.push({ path: `/etc/postfix/${map}-flat`, content: entries });
    files.push({ path: `/etc/postfix/${map}.db`, content: berkeleyDb(rng, entries) });
  }
  files.push(
    {
      path: "/etc/bm-webmail/bm-webmail.ini",
      content: `[webmail]\nimap_host=${ip}\nsmtp_host=${ip}\ndes_key=${rng.hex(24)}\nplugins=bm_webmail,managesieve\n`,
    },
    {
      path: "/etc/bm-webmail/mail.ini",
      content: `[mail]\ndefault_host=${ip}\nskin=${role === "origin" ? "bluemind" : "elastic"}\nlanguage=fr_FR\n`,
    },
  );
  return files;
}

/**
 * Postfix's main.cf, in BlueMind's shape (virtual domains, mailboxes and aliases, transport maps),
 * and read by Debian's real postfix, which each lab host runs: the maps are read from their flat
 * sources (`texthash:`; the lab's .db files are placeholders, not Berkeley DB files postmap would
 * build), chroot is off, the log goes to a file (no syslog in a lab host). The origin relays through
 * the lab's LAN address on port 2525, where nothing listens until a test starts a relay there: its
 * mail waits in the deferred queue, as on a server whose relay is unreachable.
 */
export function postfixMainCf(role: Role, fqdn: string, ip: string): string {
  const relay = role === "origin" ? `[${lanAddress(ip)}]:${LAB_RELAY_PORT}` : "";
  const map = (name: string): string => `texthash:/etc/postfix/${name}-flat`;
  return (
    `myhostname = ${fqdn}\nmydestination = localhost\nrelayhost = ${relay}\nmynetworks = 127.0.0.0/8 ${ip}/32\n` +
    `inet_protocols = ipv4\ncompatibility_level = 3.6\nmaillog_file = /var/log/postfix.log\n` +
    `virtual_mailbox_domains = ${map("virtual_domains")}\nvirtual_mailbox_maps = ${map("virtual_mailbox")}\n` +
    `virtual_alias_maps = ${map("virtual_alias")}\ntransport_maps = ${map("transport")}\n` +
    `virtual_transport = lmtp:unix:/var/run/cyrus/socket/lmtp\n` +
    `message_size_limit = ${role === "origin" ? 52428800 : 10240000}\n`
  );
}

/** The relay of the lab's origin: the LAN's address (.1 of the hosts' /24), on this port. */
export const LAB_RELAY_PORT = 2525;

export function lanAddress(ip: string): string {
  return ip.replace(/\.\d+$/, ".1");
}

/** Debian's master.cf services that a running postfix needs, chroot off; the origin also has smtps. */
function postfixMasterCf(role: Role): string {
  const services = [
    "smtp      inet  n       -       n       -       -       smtpd",
    "submission inet n       -       n       -       -       smtpd\n  -o smtpd_tls_security_level=may",
    ...(role === "origin"
      ? ["smtps     inet  n       -       n       -       -       smtpd\n  -o smtpd_tls_wrappermode=no"]
      : []),
    "pickup    unix  n       -       n       60      1       pickup",
    "cleanup   unix  n       -       n       -       0       cleanup",
    "qmgr      unix  n       -       n       300     1       qmgr",
    "tlsmgr    unix  -       -       n       1000?   1       tlsmgr",
    "rewrite   unix  -       -       n       -       -       trivial-rewrite",
    "bounce    unix  -       -       n       -       0       bounce",
    "defer     unix  -       -       n       -       0       bounce",
    "trace     unix  -       -       n       -       0       bounce",
    "verify    unix  -       -       n       -       1       verify",
    "flush     unix  n       -       n       1000?   0       flush",
    "proxymap  unix  -       -       n       -       -       proxymap",
    "proxywrite unix -       -       n       -       1       proxymap",
    "smtp      unix  -       -       n       -       -       smtp",
    "relay     unix  -       -       n       -       -       smtp",
    "showq     unix  n       -       n       -       -       showq",
    "error     unix  -       -       n       -       -       error",
    "retry     unix  -       -       n       -       -       error",
    "discard   unix  -       -       n       -       -       discard",
    "local     unix  -       n       n       -       -       local",
    "virtual   unix  -       n       n       -       -       virtual",
    "lmtp      unix  -       -       n       -       -       lmtp",
    "anvil     unix  -       -       n       -       1       anvil",
    "scache    unix  -       -       n       -       1       scache",
    "postlog   unix-dgram n  -       n       -       1       postlogd",
  ];
  return services.join("\n") + "\n";
}

/** 5.x removed Cyrus's configuration files and bm-hps (BLUEMIND-SOURCE-FACTS.md, PROCEDURE.md). */
function inVersion(path: string, version: string | undefined): boolean {
  return !(isFive(version) && (/^\/etc\/(imapd|cyrus)/.test(path) || path.startsWith("/etc/bm-hps/")));
}

function writeConfiguration(w: TreeWriter, role: Role, seed: number, ip: string, version?: string): void {
  const rng = new Rng(seed, "config-times", role);
  const epoch = role === "origin" ? ORIGIN_CONFIG_EPOCH : TARGET_CONFIG_EPOCH;
  for (const file of configFiles(role, seed, ip).filter((f) => inVersion(f.path, version))) {
    const parent = dirname(file.path);
    if (parent === "/etc/bm/local" || parent === "/etc/bm-hps/vhosts") w.dir(parent, ROOT_DIR);
    else mkdirSync(w.abs(parent), { recursive: true });
    w.file(file.path, file.content, file.meta ?? ROOT_FILE, epoch + rng.int(0, 40 * DAY));
  }
}

// ---------------------------------------------------------------------------------------------
// What a server holds beyond the procedure's list (BLUEMIND-SOURCE-FACTS.md): the hollow
// directory, per-domain certificates, the setup wizard's password, 5.x Keycloak's configuration
// and bm-core's caches; on the target, what a fresh install leaves in /etc/bm and /etc/postfix.

export const HOLLOW = "/var/spool/bm-hollowed";

/** BlueMind 5.x: Keycloak, API tokens in the hollow directory, bm-core's caches. */
export function isFive(version: string | undefined): boolean {
  return version !== undefined && /^([5-9]|\d{2,})\./.test(version);
}

/** The target's own extra configuration files (a fresh install's), which the migration sets aside. */
export const TARGET_EXTRA_CONFIG: readonly string[] = [
  "/etc/bm/bm-fresh-install.properties",
  "/etc/bm/local/fresh-install.log.xml",
  "/etc/postfix/fresh-install.cf",
];

function writeBeyondProcedure(
  w: TreeWriter,
  role: Role,
  seed: number,
  ip: string,
  version: string | undefined,
): void {
  const rng = new Rng(seed, "beyond", role);
  const epoch = role === "origin" ? ORIGIN_CONFIG_EPOCH : TARGET_CONFIG_EPOCH;
  const t = (): number => epoch + rng.int(0, 40 * DAY);
  // The hollow directory: one snapshot per domain, with its version (DirectorySerializer).
  for (const domain of ["global.virt", DOMAIN]) {
    const version = role === "origin" ? rng.int(200, 900) : rng.int(1, 9);
    w.dir(`${HOLLOW}/${domain}`, ROOT_DIR);
    w.file(`${HOLLOW}/${domain}/version`, `${version}\n`, ROOT_FILE, t());
    w.file(`${HOLLOW}/${domain}/snapshot-${version}`, rng.bytes(rng.int(2000, 9000)), ROOT_FILE, t());
  }
  if (isFive(version)) {
    w.dir(`${HOLLOW}/tokens`, ROOT_DIR);
    for (let i = 0; i < 3; i++) w.file(`${HOLLOW}/tokens/${rng.hex(32)}`, rng.hex(64), ROOT_SECRET, t());
  }
  // Per-domain certificates (4.7+) and what nginx's per-domain configuration is generated from.
  const cert = pem(rng, "CERTIFICATE", 800) + pem(rng, "PRIVATE KEY", 1100);
  w.dir("/etc/bm/certs", ROOT_DIR);
  w.file(`/etc/bm/certs/bm_cert-${DOMAIN}.pem`, cert, ROOT_SECRET, t());
  w.file(`/etc/ssl/certs/bm_cert-${DOMAIN}.pem`, cert, ROOT_FILE, t());
  w.file("/etc/bm/domains-settings", `${DOMAIN}:mail.${DOMAIN}:${DOMAIN}\n`, ROOT_FILE, t());
  mkdirSync(w.abs("/etc/nginx"), { recursive: true });
  w.file("/etc/nginx/sw.htpasswd", `admin:$apr1$${rng.hex(8)}$${rng.hex(22)}\n`, ROOT_SECRET, t());
  if (isFive(version)) {
    w.dir("/etc/bm-keycloak", ROOT_DIR);
    w.file(
      "/etc/bm-keycloak/keycloak.conf",
      `db=postgres\ndb-url=jdbc:postgresql://localhost/keycloak\nhostname=${role === "origin" ? "bm-prod" : "bm-neu"}.${DOMAIN}\nhttp-port=8099\n`,
      ROOT_SECRET,
      t(),
    );
  }
  if (role === "target") {
    for (const path of TARGET_EXTRA_CONFIG)
      w.file(path, `# left by the fresh install of ${ip}\n`, ROOT_FILE, t());
    if (isFive(version))
      for (const dir of ["retry-rocks-0", "tasks-queues", "sds-sync-queue"]) {
        mkdirSync(w.abs(`/var/cache/bm-core/${dir}`), { recursive: true });
        w.file(`/var/cache/bm-core/${dir}/000001.log`, rng.bytes(512), ROOT_FILE, t());
      }
  }
}

/** 5.x: Keycloak's database (realms whose BlueMind provider holds the admin0 token and the core's URL). */
function keycloakSql(role: Role, seed: number, ip: string, token: string): string {
  const rng = new Rng(seed, "keycloak", role);
  const realms = ["master", DOMAIN];
  return `
DROP TABLE IF EXISTS component_config, component, realm CASCADE;
CREATE TABLE realm (id varchar(36) PRIMARY KEY, name varchar(255) UNIQUE NOT NULL, enabled boolean NOT NULL);
CREATE TABLE component (id varchar(36) PRIMARY KEY, realm_id varchar(36) NOT NULL REFERENCES realm(id), name varchar(255), provider_id varchar(255));
CREATE TABLE component_config (id varchar(36) PRIMARY KEY, component_id varchar(36) NOT NULL REFERENCES component(id), name varchar(255) NOT NULL, value text);
${realms.map((r, i) => `INSERT INTO realm VALUES ('${rng.hex(8)}-${i}', '${r}', true);`).join("\n")}
INSERT INTO component SELECT 'c-' || id, id, 'bm-provider', 'bm-provider' FROM realm WHERE name <> 'master';
INSERT INTO component_config SELECT 'cc-url-' || id, id, 'bmUrl', 'http://${ip}:8090' FROM component;
INSERT INTO component_config SELECT 'cc-tok-' || id, id, 'bmCoreToken', ${sqlLiteral(token)} FROM component;
SELECT 'rows=' || ((SELECT count(*) FROM realm) + (SELECT count(*) FROM component) + (SELECT count(*) FROM component_config));
`;
}

// ---------------------------------------------------------------------------------------------
// Databases

function sqlLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function runPsql(db: string, sql: string, password: string, singleTransaction: boolean): string {
  const args = [
    "-X",
    "-q",
    "-t",
    "-A",
    "-w",
    "-v",
    "ON_ERROR_STOP=1",
    "-h",
    "localhost",
    "-U",
    "bj",
    "-d",
    db,
  ];
  if (singleTransaction) args.push("--single-transaction");
  const result = spawnSync("psql", args, {
    input: sql,
    encoding: "utf8",
    env: { ...process.env, PGPASSWORD: password, PGCLIENTENCODING: "UTF8" },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error !== undefined) throw new Error(`cannot run psql: ${result.error.message}`);
  if (result.status !== 0) {
    const tail = result.stderr.trim().split("\n").slice(-6).join("\n");
    throw new Error(`psql -h localhost -U bj -d ${db} failed with exit code ${result.status}:\n${tail}`);
  }
  return result.stdout;
}

/**
 * Loads BlueMind's schema into `db` when it is not there yet, as `DbSchemaService.initialize` does for
 * every database BlueMind creates (lab/schema/assemble.ts); refuses a database already filled.
 */
function ensureSchema(db: string, version: SchemaVersion, password: string): void {
  const present = runPsql(
    db,
    "SELECT to_regclass('public.schema_version') IS NOT NULL;",
    password,
    false,
  ).trim();
  if (present !== "t") {
    // The file holds its own BEGIN/COMMIT per schema file (ignoreErrors files are rolled back alone).
    runPsql(db, readFileSync(schemaFile(version), "utf8"), password, false);
  }
  const filled = runPsql(db, "SELECT EXISTS (SELECT 1 FROM t_container);", password, false).trim();
  if (filled === "t") {
    throw new Error(
      `database ${db} already holds BlueMind containers: the generator fills a new lab only (npm run lab -- down, then up)`,
    );
  }
}

function fillDatabases(opts: GenerateOptions, list: UserInfo[]): number {
  const origin = opts.role === "origin";
  const k = opts.scale;
  const five = isFive(opts.bmVersion);
  const threeDotX = /^3\./.test(opts.bmVersion ?? "");
  const encoding = runPsql(
    "bj",
    "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database();",
    opts.pgPassword,
    false,
  ).trim();
  const plan: FillPlan = {
    five,
    origin,
    tag: `${opts.seed}:${opts.role}`,
    domain: DOMAIN,
    users: origin ? list : list.slice(0, 1),
    ip: opts.hostIp,
    fqdn: origin ? `bm-prod.${DOMAIN}` : `bm-neu.${DOMAIN}`,
    groups: origin ? Math.round(5 * k) : 1,
    mailshares: origin ? Math.round(2 * k) : 0,
    resources: origin ? Math.round(k) : 0,
    bodies: origin ? Math.round(1400 * k) : 3,
    records: origin ? Math.round(2000 * k) : 3,
    events: origin ? 6 : 1,
    contacts: origin ? 4 : 1,
    utf8: encoding === "UTF8",
  };
  let rows = 0;
  // 3.x has no bj-data (lab/host-setup.sh); its bj gets the 4.x schema, the oldest the lab knows.
  const databases: [string, (p: FillPlan) => string][] = [["bj", bjFillSql]];
  if (!threeDotX) databases.push(["bj-data", bjDataFillSql]);
  for (const [db, sql] of databases) {
    ensureSchema(db, five ? "5" : "4", opts.pgPassword);
    const out = runPsql(db, sql(plan), opts.pgPassword, true);
    const match = /rows=(\d+)/.exec(out);
    rows += match?.[1] === undefined ? 0 : Number(match[1]);
  }
  if (five) {
    let token = "";
    try {
      token = readFileSync(`${opts.root.replace(/\/+$/, "")}/etc/bm/bm-core.tok`, "utf8").trim();
    } catch {
      token = "no-token";
    }
    const out = runPsql(
      "keycloak",
      keycloakSql(opts.role, opts.seed, opts.hostIp, token),
      opts.pgPassword,
      true,
    );
    rows += Number(/rows=(\d+)/.exec(out)?.[1] ?? 0);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Entry points

const DATA_ROOTS: readonly [string, Meta][] = [
  ["/var/spool/cyrus", CYRUS_PUBLIC_DIR],
  ["/var/lib/cyrus", CYRUS_PUBLIC_DIR],
  ["/var/spool/bm-hsm", CYRUS_PUBLIC_DIR],
  ["/var/spool/sieve", CYRUS_PUBLIC_DIR],
  ["/var/spool/bm-elasticsearch", ROOT_DIR],
  ["/var/spool/bm-docs", ROOT_DIR],
  ["/var/spool/bm-filehosting", ROOT_DIR],
  [HOLLOW, ROOT_DIR],
];

/** Configuration directories compared whole (lab/manifest.ts CONFIG_PATHS). */
const CONFIG_DIRS = ["/etc/bm", "/etc/bm-hps", "/etc/bm-webmail", "/etc/postfix", "/var/lib/bm-ca"];

/** Writes one host's data; deterministic for a given role, seed and scale. */
export function generate(opts: GenerateOptions): GenerateSummary {
  const started = performance.now();
  if (!(opts.scale > 0)) throw new Error(`scale must be a positive number, got ${opts.scale}`);
  const origin = opts.role === "origin";
  mkdirSync(opts.root, { recursive: true });
  const managed = [
    ...DATA_ROOTS.map(([p]) => p),
    "/etc/bm/local",
    "/etc/bm-hps/vhosts",
    "/etc/bm/certs",
    "/etc/bm-keycloak",
    ...CONFIG_DIRS,
  ];
  const epoch = origin ? ORIGIN_EPOCH : TARGET_EPOCH;
  const w = new TreeWriter(opts.root, readAccounts(opts.root), managed, epoch);
  for (const [path, meta] of DATA_ROOTS) w.dir(path, meta);
  // The configuration directories' own mtimes are the generator's too (the newest file written in them).
  for (const path of CONFIG_DIRS.filter((d) => inVersion(`${d}/`, opts.bmVersion))) w.dir(path, ROOT_DIR);

  const list = users(opts.seed, Math.max(SPECIAL_USERS.length, Math.round(80 * opts.scale)));
  if (origin) {
    writeOriginData(w, opts.seed, list);
    writeDocuments(
      w,
      opts.seed,
      opts.scale,
      list.map((u) => u.login),
    );
  } else {
    writeTargetData(w, opts.seed);
  }
  writeElasticsearch(w, opts.seed, opts.scale, opts.role);
  writeConfiguration(w, opts.role, opts.seed, opts.hostIp, opts.bmVersion);
  writeBeyondProcedure(w, opts.role, opts.seed, opts.hostIp, opts.bmVersion);
  w.finish();

  const filesDone = performance.now();
  const rows = opts.db ? fillDatabases(opts, list) : 0;
  const done = performance.now();
  return {
    role: opts.role,
    ...w.counts,
    rows,
    seconds: (done - started) / 1000,
    databaseSeconds: (done - filesDone) / 1000,
  };
}

/** bm-core's version as dpkg knows it on this host (the lab's stand-in records it). */
function installedVersion(): { bmVersion?: string } {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Version}", "bm-core"], { encoding: "utf8" });
  const v = r.status === 0 ? r.stdout.trim() : "";
  return v ? { bmVersion: v } : {};
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      role: { type: "string" },
      scale: { type: "string", default: "1" },
      seed: { type: "string", default: "1" },
      root: { type: "string", default: "/" },
      "no-db": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  const usage = "usage: tsx lab/generate.ts --role origin|target --scale K [--seed S] [--root /] [--no-db]\n";
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  const problems: string[] = [];
  const role = values.role;
  if (role !== "origin" && role !== "target") problems.push("--role must be origin or target");
  const scale = Number(values.scale);
  if (!(scale > 0)) problems.push(`--scale must be a positive number, got ${values.scale}`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) problems.push(`--seed must be an integer, got ${values.seed}`);
  if (problems.length > 0 || (role !== "origin" && role !== "target")) {
    process.stderr.write(problems.map((p) => `generate: ${p}\n`).join("") + usage);
    return 2;
  }
  const summary = generate({
    role,
    scale,
    seed,
    root: values.root,
    db: !values["no-db"],
    hostIp: process.env.LAB_HOST_IP ?? "127.0.0.1",
    pgPassword: process.env.PGPASSWORD ?? "bj",
    ...installedVersion(),
  });
  process.stdout.write(
    `generate: role=${summary.role} scale=${scale} seed=${seed} files=${summary.files} hardlinks=${summary.hardLinks} ` +
      `symlinks=${summary.symlinks} dirs=${summary.dirs} bytes=${summary.bytes} (${(summary.bytes / 1048576).toFixed(1)} MiB apparent) ` +
      `rows=${summary.rows} seconds=${summary.seconds.toFixed(1)} (databases ${summary.databaseSeconds.toFixed(1)})\n`,
  );
  return 0;
}

if (isMain(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
