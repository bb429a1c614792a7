/**
 * Test oracle, part 2: compare two manifests (see manifest.ts) and explain every difference in a sentence.
 *
 * CLI: tsx lab/compare.ts ORIGIN.jsonl TARGET.jsonl [--ignore PREFIX|GLOB]... [--ignore-field [TYPE:]FIELD]...
 *                         [--labels origin,target] [--max 200]
 * prints the differences and exits 1, or prints `identical: N entries, M tables` and exits 0.
 */
import { isMain } from "./isMain.js";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { recordKey, type DbRecord, type DbValue, type FsRecord, type ManifestRecord } from "./manifest.js";

export interface CompareOptions {
  /**
   * Keys to leave out on both sides. A plain string is a prefix at a path boundary (`/var/lib/cyrus/proc`
   * also drops everything below it); a string with `*`, `?` or `**` is a glob on the key, and also drops
   * everything below a matching directory. Database keys look like `db:bj-data/sequence/public.x_seq`.
   */
  ignore?: readonly string[];
  /**
   * Fields not to compare: `mtime` for every record, or `TYPE:FIELD` for one record type, where TYPE is
   * f, d, l, other or a database object type (`d:mtime`, `table:contentHash`, `sequence:lastValue`).
   */
  ignoreFields?: readonly string[];
  /** Names of the two sides in the messages; default `origin` and `target`. */
  labels?: readonly [string, string];
}

export type DifferenceKind = "missing" | "extra" | "type" | "content" | "hardlink" | "rows" | "field";

/** One difference between the two manifests; `message` is a full sentence naming the entry. */
export interface Difference {
  key: string;
  kind: DifferenceKind;
  field?: string;
  a?: DbValue;
  b?: DbValue;
  message: string;
}

type Present = FsRecord | DbRecord;

function isDb(record: ManifestRecord): record is DbRecord {
  return "db" in record;
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? "";
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}(?:/.*)?$`, "s");
}

/** A predicate for the `ignore` option. */
export function ignoreMatcher(patterns: readonly string[]): (key: string) => boolean {
  const prefixes = patterns.filter((p) => !/[*?]/.test(p)).map((p) => p.replace(/\/+$/, ""));
  const globs = patterns.filter((p) => /[*?]/.test(p)).map(globToRegExp);
  return (key) =>
    prefixes.some((p) => key === p || key.startsWith(p + "/") || (p === "" && key.startsWith("/"))) ||
    globs.some((re) => re.test(key));
}

function index(records: Iterable<ManifestRecord>, ignored: (key: string) => boolean): Map<string, Present> {
  const map = new Map<string, Present>();
  for (const record of records) {
    if (!isDb(record) && record.type === "absent") continue; // absent on this side = not there
    const key = recordKey(record);
    if (!ignored(key)) map.set(key, record);
  }
  return map;
}

/** Hard-link group key -> member paths, to say what a file is linked with. */
function linkMembers(map: Map<string, Present>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const record of map.values()) {
    if (isDb(record) || typeof record.link !== "string") continue;
    const members = groups.get(record.link) ?? [];
    members.push(record.path);
    groups.set(record.link, members);
  }
  return groups;
}

function describe(record: Present): string {
  return isDb(record) ? `${record.type} ${record.name} (${record.db})` : record.path;
}

const TYPE_NAMES: Record<string, string> = { f: "file", d: "directory", l: "symlink", other: "special file" };

function show(value: DbValue | undefined): string {
  if (value === undefined || value === null) return "none";
  const s = String(value);
  return s.length > 100 ? `${s.slice(0, 97)}...` : s;
}

function shortHash(value: DbValue | undefined): string {
  return typeof value === "string" && value.length > 16 ? `${value.slice(0, 12)}…` : show(value);
}

function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}

function listPaths(paths: readonly string[]): string {
  return paths.length <= 3
    ? paths.join(", ")
    : `${paths.slice(0, 3).join(", ")} and ${paths.length - 3} more`;
}

/**
 * Compares two manifests record by record (path for files, db+type+name for database objects).
 * Both arguments may be arrays or generators; each is read once.
 */
export function compareManifests(
  a: Iterable<ManifestRecord>,
  b: Iterable<ManifestRecord>,
  opts: CompareOptions = {},
): Difference[] {
  const [la, lb] = opts.labels ?? ["origin", "target"];
  const ignored = ignoreMatcher(opts.ignore ?? []);
  const skipField = new Set(opts.ignoreFields ?? []);
  const mapA = index(a, ignored);
  const mapB = index(b, ignored);
  const linksA = linkMembers(mapA);
  const linksB = linkMembers(mapB);
  const differences: Difference[] = [];
  const missing: Present[] = [];
  const extra: Present[] = [];

  const keys = [...new Set([...mapA.keys(), ...mapB.keys()])].sort();
  for (const key of keys) {
    const ra = mapA.get(key);
    const rb = mapB.get(key);
    if (rb === undefined) {
      if (ra !== undefined) missing.push(ra);
      continue;
    }
    if (ra === undefined) {
      extra.push(rb);
      continue;
    }
    const type = ra.type;
    const skip = (field: string): boolean => skipField.has(field) || skipField.has(`${type}:${field}`);
    const add = (kind: DifferenceKind, message: string, field?: string, va?: DbValue, vb?: DbValue): void => {
      differences.push({ key, kind, field, a: va, b: vb, message: `${describe(ra)}: ${message}` });
    };

    if (isDb(ra) || isDb(rb)) {
      if (!isDb(ra) || !isDb(rb)) continue; // keys of the two kinds never collide
      const fields = [...new Set([...Object.keys(ra.props), ...Object.keys(rb.props)])].sort();
      const rowsDiffer = ra.props.rows !== rb.props.rows && !skip("rows");
      for (const field of fields) {
        const va = ra.props[field] ?? null;
        const vb = rb.props[field] ?? null;
        if (va === vb || skip(field)) continue;
        if (field === "rows") add("rows", `rows ${show(va)} vs ${show(vb)}`, field, va, vb);
        else if (field === "contentHash") {
          // Different row counts already say the content differs.
          if (!rowsDiffer)
            add("content", `content differs (row hash ${show(va)} vs ${show(vb)})`, field, va, vb);
        } else add("field", `${field} differs: ${show(va)} vs ${show(vb)}`, field, va, vb);
      }
      continue;
    }

    if (ra.type !== rb.type) {
      if (!skip("type")) {
        const ta = TYPE_NAMES[ra.type] ?? ra.type;
        const tb = TYPE_NAMES[rb.type] ?? rb.type;
        add("type", `type differs: ${ta} on ${la}, ${tb} on ${lb}`, "type", ra.type, rb.type);
      }
      continue;
    }
    if (ra.sha256 !== rb.sha256 && !skip("sha256")) {
      let detail: string;
      if (ra.size !== rb.size) detail = `size ${show(ra.size)} vs ${show(rb.size)}`;
      else if (ra.mtime === rb.mtime) detail = "same size and mtime: rsync's quick check cannot see this";
      else detail = "same size";
      add(
        "content",
        `content differs (sha256 ${shortHash(ra.sha256)} vs ${shortHash(rb.sha256)}; ${detail})`,
        "sha256",
        ra.sha256,
        rb.sha256,
      );
    } else if (ra.size !== rb.size && !skip("size")) {
      add("field", `size differs: ${show(ra.size)} vs ${show(rb.size)}`, "size", ra.size, rb.size);
    }
    if (ra.owner !== rb.owner && !skip("owner")) {
      add("field", `owner differs: ${ra.owner} vs ${rb.owner}`, "owner", ra.owner, rb.owner);
    }
    if (ra.group !== rb.group && !skip("group")) {
      add("field", `group differs: ${ra.group} vs ${rb.group}`, "group", ra.group, rb.group);
    }
    if (ra.mode !== rb.mode && !skip("mode")) {
      add("field", `mode differs: ${ra.mode} vs ${rb.mode}`, "mode", ra.mode, rb.mode);
    }
    if (ra.mtime !== rb.mtime && !skip("mtime")) {
      const delta = rb.mtime - ra.mtime;
      add(
        "field",
        `mtime differs: ${isoTime(ra.mtime)} vs ${isoTime(rb.mtime)} (${delta > 0 ? "+" : ""}${delta} s)`,
        "mtime",
        ra.mtime,
        rb.mtime,
      );
    }
    if (ra.target !== rb.target && !skip("target")) {
      add(
        "field",
        `symlink target differs: ${show(ra.target)} vs ${show(rb.target)}`,
        "target",
        ra.target,
        rb.target,
      );
    }
    if ((ra.sparse ?? false) !== (rb.sparse ?? false) && !skip("sparse")) {
      const what = (sparse: boolean | undefined): string => (sparse === true ? "sparse" : "not sparse");
      add(
        "field",
        `sparseness differs: ${what(ra.sparse)} on ${la}, ${what(rb.sparse)} on ${lb}`,
        "sparse",
        ra.sparse,
        rb.sparse,
      );
    }
    if ((ra.link ?? null) !== (rb.link ?? null) && !skip("link")) {
      const peers = (links: Map<string, string[]>, link: string | null | undefined): string => {
        const others = link == null ? [] : (links.get(link) ?? []).filter((p) => p !== ra.path);
        return others.length === 0 ? "not hard-linked" : `linked with ${listPaths(others)}`;
      };
      add(
        "hardlink",
        `hard-link group differs: ${peers(linksA, ra.link)} on ${la}, ${peers(linksB, rb.link)} on ${lb}`,
        "link",
        ra.link,
        rb.link,
      );
    }
    if (ra.special !== rb.special && !skip("special")) {
      add(
        "field",
        `special file differs: ${show(ra.special)} vs ${show(rb.special)}`,
        "special",
        ra.special,
        rb.special,
      );
    }
  }

  differences.push(...collapse(missing, "missing", `missing on ${lb}`));
  differences.push(...collapse(extra, "extra", `extra on ${lb}`));
  return differences.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

/** One line for a missing directory and everything below it, rather than one per entry. */
function collapse(records: Present[], kind: "missing" | "extra", what: string): Difference[] {
  const dirs = new Set(records.filter((r) => !isDb(r) && r.type === "d").map((r) => recordKey(r)));
  const below = new Map<string, number>();
  const tops: Present[] = [];
  for (const record of records) {
    const key = recordKey(record);
    let top: string | undefined;
    if (!isDb(record)) {
      for (let i = key.lastIndexOf("/"); i > 0; i = key.lastIndexOf("/", i - 1)) {
        const ancestor = key.slice(0, i);
        if (dirs.has(ancestor)) top = ancestor;
      }
    }
    if (top === undefined) tops.push(record);
    else below.set(top, (below.get(top) ?? 0) + 1);
  }
  return tops.map((record) => {
    const key = recordKey(record);
    const n = below.get(key) ?? 0;
    const suffix = n > 0 ? ` (and ${n} entries below it)` : "";
    const type = isDb(record) ? "" : ` (${TYPE_NAMES[record.type] ?? record.type})`;
    return { key, kind, message: `${describe(record)}: ${what}${type}${suffix}` };
  });
}

/** Counts what a manifest describes, for the CLI's summary line. */
export function countRecords(records: Iterable<ManifestRecord>): { entries: number; tables: number } {
  let entries = 0;
  let tables = 0;
  for (const r of records) {
    if (isDb(r)) {
      if (r.type === "table") tables++;
    } else if (r.type !== "absent") entries++;
  }
  return { entries, tables };
}

function parseRecord(value: unknown, where: string): ManifestRecord {
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    if (typeof v.path === "string" && typeof v.type === "string") return v as unknown as FsRecord;
    if (typeof v.db === "string" && typeof v.type === "string" && typeof v.name === "string") {
      return v as unknown as DbRecord;
    }
  }
  throw new Error(`${where}: not a manifest record`);
}

/** Reads a JSON-lines manifest file. */
export async function readManifest(file: string): Promise<ManifestRecord[]> {
  const records: ManifestRecord[] = [];
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === "") continue;
    records.push(parseRecord(JSON.parse(line) as unknown, `${file}:${n}`));
  }
  return records;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ignore: { type: "string", multiple: true, default: [] },
      "ignore-field": { type: "string", multiple: true, default: [] },
      labels: { type: "string", default: "origin,target" },
      max: { type: "string", default: "200" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [fileA, fileB] = positionals;
  if (values.help === true || fileA === undefined || fileB === undefined || positionals.length !== 2) {
    process.stderr.write(
      "usage: tsx lab/compare.ts ORIGIN.jsonl TARGET.jsonl [--ignore PREFIX|GLOB]... [--ignore-field [TYPE:]FIELD]...\n" +
        "                          [--labels origin,target] [--max N (0: all)]\n",
    );
    return values.help === true ? 0 : 2;
  }
  const [la = "origin", lb = "target"] = values.labels.split(",");
  const max = Number(values.max);
  const [a, b] = await Promise.all([readManifest(fileA), readManifest(fileB)]);
  const differences = compareManifests(a, b, {
    ignore: values.ignore,
    ignoreFields: values["ignore-field"],
    labels: [la, lb],
  });
  if (differences.length === 0) {
    const { entries, tables } = countRecords(a);
    process.stdout.write(`identical: ${entries} entries, ${tables} tables\n`);
    return 0;
  }
  const shown = max > 0 ? differences.slice(0, max) : differences;
  process.stdout.write(shown.map((d) => d.message).join("\n") + "\n");
  if (shown.length < differences.length) {
    process.stdout.write(`... and ${differences.length - shown.length} more (--max 0 shows all)\n`);
  }
  const plural = differences.length === 1 ? "difference" : "differences";
  process.stdout.write(`${differences.length} ${plural} between ${la} and ${lb}\n`);
  return 1;
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`compare: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
