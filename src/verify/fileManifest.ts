/**
 * The file manifest of one host: every entry under the data directories and the configuration
 * files, with its metadata and content checksum, as one stream sorted by path.
 *
 * The origin has no Node.js, so the manifest is a bash script of tools every Linux has (GNU find
 * `-printf`, sort, sed, xargs, sha256sum); the same script runs on the target. Records are
 * NUL-terminated so that any byte but NUL may appear in a name:
 *
 *   PATH//TYPE/USER/GROUP/MODE/SIZE/MTIME/DEV:INODE/NLINK/LINKTARGET   metadata (find -printf)
 *   PATH//#SHA256                                                     content (regular files)
 *
 * `//` never occurs inside a path find prints (roots are clean absolute paths), so the first `//`
 * ends the path. Sorting whole records bytewise (LC_ALL=C) orders them by the key `PATH//`, the
 * same order on both hosts; the comparison walks both streams in step (see compare.ts).
 */
import { displayBytes } from "../engine/text.js";
import type { ConfigPattern } from "../bluemind/profiles.js";
import { shellQuote } from "../adapters/process.js";

/** What the manifest covers on a host. */
export interface ManifestScope {
  /** Data directories: walked whole; a root that is a symlink is followed (as rsync DIR/ does). */
  dataDirs: readonly string[];
  /** Configuration patterns: globs expanded on each host, `recursive` ones walked whole. */
  configFiles: readonly ConfigPattern[];
}

export interface ManifestScriptOptions {
  /** Hash only this percentage of regular files (chosen by a hash of the path); default all. */
  samplePercent?: number;
  /** Parallel sha256sum pipelines (default 2). */
  hashWorkers?: number;
  /** Files per sha256sum call (default 200). */
  batchSize?: number;
  /**
   * Instead of walking the data directories whole: only the entries the script reads on stdin
   * (see {@link listedInput}), each alone or with everything under it. Configuration files as usual.
   */
  listed?: boolean;
  /**
   * Listed: the data directories. A listed entry that is one of them is followed when its root is
   * a symlink (as the whole walk's `find -H` and rsync's `DIR/` do), so that a root that is a
   * symlink on one side and a directory on the other compares as the directory on both; any other
   * listed symlink stays a link.
   */
  roots?: readonly string[];
}

/** One entry of a listed manifest: the path alone, or the whole tree under it. */
export interface ListedEntry {
  path: string;
  tree: boolean;
}

/** The stdin of a listed manifest script: NUL-terminated records, "1PATH" (alone) or "2PATH" (tree). */
export function listedInput(entries: readonly ListedEntry[]): Buffer {
  return Buffer.concat(entries.map((e) => Buffer.from(`${e.tree ? "2" : "1"}${e.path}\0`, "latin1")));
}

/** One entry of a manifest. Strings are latin1 (one char per byte), so any name survives intact. */
export interface FileEntry {
  path: string;
  /** find's %y: f d l p s c b (D: door). */
  type: string;
  user: string;
  group: string;
  /** Octal permission bits, as find prints them (e.g. "640", "4755"). */
  mode: string;
  size: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  /** device:inode, which identifies hard-linked names on one host. */
  inode: string;
  nlink: number;
  /** For symlinks: what the link points to. */
  linkTarget?: string;
  /** sha256 of the content (regular files that were hashed); "?" when it could not be read. */
  sha256?: string;
}

const FIND_FORMAT = "%p//%y/%u/%g/%m/%s/%T@/%D:%i/%n/%l\\0";

/**
 * Hash the files given as arguments; one `PATH//#SHA256` record each, in argument order. When a
 * file fails (vanished, unreadable), the batch is redone file by file so names and sums stay paired.
 * sha256sum's own name output is not used: older coreutils (Ubuntu 16.04) lack `-z` and escape
 * odd names.
 */
export const HASH_BATCH = [
  `mapfile -t h < <(sha256sum -- "$@" 2>/dev/null | sed -e 's/^\\\\//' -e 's/ .*//')`,
  'if [ "${#h[@]}" -eq "$#" ]; then',
  `  i=0; for f; do printf '%s//#%s\\0' "$f" "\${h[$i]}"; i=$((i + 1)); done`,
  "else",
  "  for f; do",
  `    if s=$(sha256sum < "$f" 2>/dev/null); then printf '%s//#%s\\0' "$f" "\${s%% *}"; else printf '%s//#?\\0' "$f"; fi`,
  "  done",
  "fi",
].join("\n");

/**
 * An awk program over NUL-terminated names: awk reads lines, so newlines in names are escaped to
 * \x01\x03 (and \x01 itself to \x01\x02) on the way in and restored on the way out. The program
 * sees each name in $0 and the table o[] of byte values.
 */
const awkOverNames = (vars: string, program: string): string =>
  String.raw`sed -z 's/\x01/\x01\x02/g; s/\n/\x01\x03/g' | tr '\0' '\n' \
  | awk ${vars} 'BEGIN { for (i = 1; i < 256; i++) o[sprintf("%c", i)] = i }
      ${program}' \
  | tr '\n' '\0' | sed -z 's/\x01\x03/\n/g; s/\x01\x02/\x01/g'`;

/** Keep the paths whose hash falls under the sample (basis points in $sample): both hosts pick the same files. */
const SAMPLE_FILTER = awkOverNames(
  '-v keep="$sample"',
  `{ h = 0; n = length($0); for (i = 1; i <= n; i++) h = (h * 31 + o[substr($0, i, 1)]) % 2147483647
        if (h % 10000 < keep) print }`,
);

/**
 * Keep the paths worker $1 of $workers hashes. The share depends on the path alone (its length and
 * last two bytes: a message file's name ends in its UID's last digit and a dot), never on its place
 * in the listing: each worker lists the files itself, and on a serving origin the listings differ,
 * so a share by position would leave files unhashed, and hash others twice, after the first file
 * added or removed between two workers' listings.
 */
export const WORKER_SHARE = `if [ "$workers" -le 1 ]; then cat; else ${awkOverNames(
  '-v w="$1" -v n="$workers"',
  `{ l = length($0); if ((l + o[substr($0, l, 1)] + o[substr($0, l - 1, 1)]) % n == w - 1) print }`,
)}; fi`;

const GLOB_SAFE = /^\/[A-Za-z0-9_.@+,:/*?[\]-]+$/;

/** The bash script that prints the manifest of `scope` on the host it runs on. */
export function fileManifestScript(scope: ManifestScope, opts: ManifestScriptOptions = {}): string {
  const workers = Math.max(1, Math.floor(opts.hashWorkers ?? 2));
  const batch = Math.max(1, Math.floor(opts.batchSize ?? 200));
  const sample = Math.round((opts.samplePercent ?? 100) * 100);
  const addData = scope.dataDirs.map((d) => `add data ${shellQuote(trimSlashes(d))}`).join("\n");
  const addConfig = scope.configFiles
    .map((p) => {
      const pattern = trimSlashes(p.pattern);
      if (!GLOB_SAFE.test(pattern))
        throw new Error(`configuration pattern not safe for a shell: ${p.pattern}`);
      // Unquoted on purpose: the glob is expanded by the host's own shell (nullglob).
      return `for p in ${pattern}; do add ${p.recursive ? "tree" : "one"} "$p"; done`;
    })
    .join("\n");
  const workerList = Array.from({ length: workers }, (_, i) => `<(worker ${i + 1})`).join(" ");
  return `set -u
export LC_ALL=C
shopt -s nullglob
sample=${sample}; workers=${workers}
data=(); tree=(); one=()
add() { # add KIND PATH: only what exists (a dangling symlink exists as a link)
  [ -e "$2" ] || [ -L "$2" ] || return 0
  case "$1" in data) data+=("$2") ;; tree) tree+=("$2") ;; one) one+=("$2") ;; esac
}
${addData}
${addConfig}
# data_listing / config_listing FIND-TESTS... : raw records; data roots followed if symlinks (-H)
${
  opts.listed
    ? `# Listed: entries read from stdin; one that is gone is simply not listed (on either side).
lone=(); ltree=(); rone=(); rtree=()
declare -A root=(${(opts.roots ?? []).map((d) => `[${shellQuote(trimSlashes(d))}]=1`).join(" ")})
while IFS= read -r -d '' rec; do
  p=\${rec:1}
  if [ -n "\${root[$p]+x}" ]; then case "$rec" in 1*) rone+=("$p") ;; 2*) rtree+=("$p") ;; esac
  else case "$rec" in 1*) lone+=("$p") ;; 2*) ltree+=("$p") ;; esac; fi
done
data_listing() {
  { [ \${#lone[@]} -eq 0 ] || find "\${lone[@]}" -maxdepth 0 "$@"; [ \${#ltree[@]} -eq 0 ] || find "\${ltree[@]}" "$@"
    [ \${#rone[@]} -eq 0 ] || find -H "\${rone[@]}" -maxdepth 0 "$@"; [ \${#rtree[@]} -eq 0 ] || find -H "\${rtree[@]}" "$@"; } 2>/dev/null
}`
    : `data_listing() { [ \${#data[@]} -eq 0 ] || find -H "\${data[@]}" "$@"; }`
}
config_listing() {
  [ \${#tree[@]} -eq 0 ] || find "\${tree[@]}" "$@"
  [ \${#one[@]} -eq 0 ] || find "\${one[@]}" -maxdepth 0 "$@"
}
metadata() { { data_listing -printf '${FIND_FORMAT}'; config_listing -printf '${FIND_FORMAT}'; } | sort -z -u; }
# Configuration files are few: always hashed; the sample applies to the data directories.
regular_files() {
  { data_listing -type f -printf '%p//\\0' | sampled; config_listing -type f -printf '%p//\\0'; } \\
    | sort -z -u | sed -z 's,//$,,'
}
sampled() { if [ "$sample" -ge 10000 ]; then cat; else ${SAMPLE_FILTER}; fi; }
hash_batch=${shellQuote(HASH_BATCH)}
# Each worker hashes its share of the sorted list in order, into its own pipe: its output stays
# sorted, and sort -m merges the sorted streams without holding them.
worker_share() { ${WORKER_SHARE}; }
worker() { regular_files | worker_share "$1" | xargs -0 -r -n ${batch} bash -c "$hash_batch" _; }
sort -z -m <(metadata) ${workerList}
`;
}

function trimSlashes(p: string): string {
  const t = p.replace(/\/+$/, "");
  return t === "" ? "/" : t;
}

/** The sort key of a path: records are ordered by `PATH//` bytewise. */
export function pathKey(path: string): string {
  return `${path}//`;
}

/**
 * Parse a manifest stream (raw bytes) into entries, one per path, in stream order. Content records
 * come just before their path's metadata record (`#` sorts first); a content record without
 * metadata (a file that appeared between the two listings) is dropped.
 */
export async function* parseFileManifest(
  chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
): AsyncGenerator<FileEntry> {
  let rest: Buffer = Buffer.alloc(0);
  let pendingHash: { path: string; sha256: string } | undefined;
  let last: FileEntry | undefined;
  const take = (record: string): FileEntry | undefined => {
    const sep = record.indexOf("//");
    if (sep < 0) throw new Error(`malformed manifest record: ${JSON.stringify(record.slice(0, 200))}`);
    const path = record.slice(0, sep);
    const body = record.slice(sep + 2);
    if (body.startsWith("#")) {
      pendingHash = { path, sha256: body.slice(1) };
      return undefined;
    }
    const entry = parseMetadata(path, body);
    if (pendingHash?.path === path) entry.sha256 = pendingHash.sha256;
    pendingHash = undefined;
    if (last?.path === path) return undefined; // the same entry listed twice (overlapping patterns)
    last = entry;
    return entry;
  };
  for await (const chunk of chunks) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk;
    const data = rest.length ? Buffer.concat([rest, buf]) : buf;
    let start = 0;
    for (let nul = data.indexOf(0, start); nul >= 0; nul = data.indexOf(0, start)) {
      const e = take(data.toString("latin1", start, nul));
      if (e) yield e;
      start = nul + 1;
    }
    rest = data.subarray(start);
  }
  if (rest.length) {
    const e = take(rest.toString("latin1"));
    if (e) yield e;
  }
}

function parseMetadata(path: string, body: string): FileEntry {
  const f: string[] = [];
  let at = 0;
  for (let i = 0; i < 8; i++) {
    const slash = body.indexOf("/", at);
    if (slash < 0) throw new Error(`malformed manifest record for ${displayPath(path)}`);
    f.push(body.slice(at, slash));
    at = slash + 1;
  }
  const [type, user, group, mode, size, mtime, inode, nlink] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const entry: FileEntry = {
    path,
    type,
    user,
    group,
    mode,
    size: Number(size),
    mtime: Number(mtime.split(".")[0]),
    inode,
    nlink: Number(nlink),
  };
  if (type === "l") entry.linkTarget = body.slice(at);
  return entry;
}

/**
 * A latin1 path (raw bytes) for people: UTF-8 when it is UTF-8, other bytes as \xHH, and control
 * characters escaped so that a name with a newline stays on one line (the tool's one escaping, in
 * engine/text.ts).
 */
export const displayPath = (latin1: string): string => displayBytes(latin1);

/** Whether `path` (latin1) lies in one of the directories. */
export function isUnder(path: string, dirs: readonly string[]): boolean {
  return dirs.some((d) => path === d || path.startsWith(`${trimSlashes(d)}/`));
}
