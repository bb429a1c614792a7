/**
 * What the preflight reads on each host beyond `gatherFacts`: one read-only script per concern
 * (services, storage, accounts), the database probe's SQL, and parsers for their output. Pure:
 * the scripts are text and the parsers take text, so both are testable without a host.
 */
import { SERVICE_STATE_SCRIPT, parseServiceState } from "../bluemind/serviceState.js";
import { shellQuote } from "../adapters/process.js";
import type { HostFacts } from "../bluemind/facts.js";

export type ServiceState = "running" | "stopped";

export interface ServiceFacts {
  bluemind: ServiceState;
  /** What the BlueMind state rests on (unit states, process, core port). */
  bluemindEvidence?: string;
  postfix: ServiceState;
  postgresql: ServiceState;
  /** pg_isready on localhost:5432 answered "accepting connections". */
  pgAcceptsConnections: boolean;
  pgRestoreMajor?: number;
  psqlMajor?: number;
}

/** One data directory as measured on one host (hard links counted once). */
export interface DirUsage {
  path: string;
  present: boolean;
  /**
   * Bytes the data takes once copied, each inode once: per file the larger of its allocated size
   * (what `du -sB1` counts) and its apparent size (a sparse file is written in full by rsync -a).
   */
  bytes: number;
  /** Apparent size, each inode once (what travels). */
  apparentBytes: number;
  /** Distinct inodes (what the destination's filesystem must hold). */
  inodes: number;
  /** Paths, hard links included. */
  paths: number;
}

/** The filesystem holding a path (or its nearest existing parent). */
export interface FsSpace {
  /** The path asked about. */
  path: string;
  mount: string;
  availBytes: number;
  availInodes: number;
  /** 0 on filesystems without a fixed inode table (btrfs): then inodes are not checked. */
  totalInodes: number;
}

/** An owner of the origin's data, by name and number ("#1234" names when the id has no name). */
export interface Owner {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

export interface StorageFacts {
  dirs: DirUsage[];
  spaces: FsSpace[];
  owners: Owner[];
}

/** Users and groups defined on a host, name to id. */
export interface Accounts {
  users: Map<string, number>;
  groups: Map<string, number>;
}

/** What the database probe learnt on one side. */
export interface DbFacts {
  ok: boolean;
  /** Why the login failed, in the administrator's terms. */
  failure?: "auth" | "unreachable" | "no-database" | "no-psql" | "tunnel" | "other";
  message?: string;
  /** e.g. 150018 (server_version_num) */
  serverVersionNum?: number;
  /** Database name to size in bytes (only those that exist). */
  sizes: Record<string, number>;
  /** Users in the directory (t_directory_entry, kind USER), when the table exists. */
  users?: number;
  /** Mailboxes (t_mailbox), when the table exists. */
  mailboxes?: number;
  /** Extensions created in the BlueMind databases (plpgsql aside). */
  extensions?: string[];
  /** Extensions the server could create (pg_available_extensions: its packages installed). */
  availableExtensions?: string[];
  /** Time zone names in the rows' columns of BlueMind's `timezone` domain: name, column, rows. */
  timezonesUsed?: { name: string; column: string; rows: number }[];
  /** The time zone names and abbreviations the server accepts (pg_timezone_names, pg_timezone_abbrevs). */
  timezonesKnown?: string[];
}

/** Everything read on one side; a probe that failed leaves its field out and says why in `errors`. */
export interface SideFacts {
  host?: HostFacts;
  services?: ServiceFacts;
  storage?: StorageFacts;
  accounts?: Accounts;
  db?: DbFacts;
  errors: Partial<Record<"host" | "services" | "storage" | "accounts" | "db", string>>;
}

// The service states come from the one module that decides them (never from bmctl's exit code).
export const SERVICES_SCRIPT =
  SERVICE_STATE_SCRIPT +
  String.raw`
if command -v pg_isready >/dev/null 2>&1; then pg_isready -q -h localhost -p 5432 -t 3 && echo pg_ready=1 || echo pg_ready=0
else (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && echo pg_ready=1 || echo pg_ready=0; fi
major() { "$1" --version 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\)\..*/\1/p' | head -1; }
command -v pg_restore >/dev/null 2>&1 && echo "pg_restore=$(major pg_restore)"
command -v psql >/dev/null 2>&1 && echo "psql=$(major psql)"
true
`;

/**
 * Measures each data directory in one pass of find (allocated and apparent bytes and inodes, hard
 * links once; paths; owners by name and id) and the free space of the filesystem under each path.
 * Reads only. `nice` keeps a busy origin serving.
 */
export function storageScript(dataDirs: readonly string[], spaceOnly: readonly string[] = []): string {
  const dirs = dataDirs.map(shellQuote).join(" ");
  const extra = spaceOnly.map(shellQuote).join(" ");
  return String.raw`
export LC_ALL=C
space() {
  p="$1"; while [ ! -e "$p" ] && [ "$p" != / ]; do p="$(dirname "$p")"; done
  df -B1 --output=target,avail,iavail,itotal "$p" 2>/dev/null | tail -n 1 | awk -v d="$1" '{print "space\t" d "\t" $1 "\t" $2 "\t" $3 "\t" $4}'
}
# Ids only in find: resolving names per file costs seconds on large spools; the few distinct ids
# are named once at the end.
measured="$(for d in ${dirs}; do
  space "$d"
  if [ ! -d "$d" ]; then printf 'dir\t%s\tabsent\n' "$d"; continue; fi
  nice -n 10 find "$d" -printf '%D:%i %n %b %s %U %G\n' 2>/dev/null | awk -v d="$d" '
    { paths++
      if ($2 > 1 && seen[$1]++) next
      # rsync without --sparse writes a sparse file in full: count the larger of the two.
      inodes++; alloc = $3 * 512; bytes += (alloc > $4 ? alloc : $4); apparent += $4
      owners[$5 "\t" $6] = 1 }
    END { printf "dir\t%s\tpresent\t%.0f\t%.0f\t%d\t%d\n", d, bytes, apparent, inodes, paths
          for (o in owners) print "ownerid\t" o }'
done)"
printf '%s\n' "$measured" | grep -v '^ownerid'
printf '%s\n' "$measured" | awk -F'\t' '$1 == "ownerid" { print $2, $3 }' | sort -u | while read -r u g; do
  un="$(getent passwd "$u" | cut -d: -f1)"; [ -n "$un" ] || un="$u"
  gn="$(getent group "$g" | cut -d: -f1)"; [ -n "$gn" ] || gn="$g"
  printf 'owner\t%s\t%s\t%s\t%s\n' "$un" "$gn" "$u" "$g"
done
for d in ${extra}; do space "$d"; done
true
`;
}

export const ACCOUNTS_SCRIPT = String.raw`
getent passwd | awk -F: '{print "user\t" $1 "\t" $3}'
getent group | awk -F: '{print "group\t" $1 "\t" $3}'
`;

export function parseServices(out: string): ServiceFacts {
  const kv = keyValues(out);
  const st = parseServiceState(out);
  const f: ServiceFacts = {
    bluemind: st.bluemind,
    bluemindEvidence: st.bluemindEvidence,
    postfix: st.postfix,
    postgresql: st.postgresql,
    pgAcceptsConnections: kv["pg_ready"] === "1",
  };
  if (kv["pg_restore"]) f.pgRestoreMajor = Number(kv["pg_restore"]);
  if (kv["psql"]) f.psqlMajor = Number(kv["psql"]);
  return f;
}

export function parseStorage(out: string): StorageFacts {
  const dirs: DirUsage[] = [];
  const spaces: FsSpace[] = [];
  const owners = new Map<string, Owner>();
  for (const line of out.split("\n")) {
    const c = line.split("\t");
    if (c[0] === "dir" && c[1]) {
      const present = c[2] === "present";
      dirs.push({
        path: c[1],
        present,
        bytes: present ? Number(c[3]) : 0,
        apparentBytes: present ? Number(c[4]) : 0,
        inodes: present ? Number(c[5]) : 0,
        paths: present ? Number(c[6]) : 0,
      });
    } else if (c[0] === "space" && c[1] && c[2]) {
      spaces.push({
        path: c[1],
        mount: c[2],
        availBytes: Number(c[3]),
        availInodes: Number(c[4]),
        totalInodes: Number(c[5]) || 0,
      });
    } else if (c[0] === "owner" && c[1] && c[2]) {
      const o = { user: c[1], group: c[2], uid: Number(c[3]), gid: Number(c[4]) };
      owners.set(`${o.user}:${o.group}`, o);
    }
  }
  return { dirs, spaces, owners: [...owners.values()] };
}

export function parseAccounts(out: string): Accounts {
  const users = new Map<string, number>();
  const groups = new Map<string, number>();
  for (const line of out.split("\n")) {
    const [kind, name, id] = line.split("\t");
    if (!name || id === undefined) continue;
    if (kind === "user") users.set(name, Number(id));
    else if (kind === "group") groups.set(name, Number(id));
  }
  return { users, groups };
}

/**
 * Run in each of bj and bj-data: server version, database sizes, and users and mailboxes where
 * the tables exist (query_to_xml runs the count only when the WHERE clause found the table, so a
 * missing table or column is no error). Output: `key|value` lines.
 */
export const DB_PROBE_SQL = String.raw`
select 'server_version_num', current_setting('server_version_num');
select 'extension:' || extname, 1 from pg_extension where extname <> 'plpgsql';
select 'available:' || name, 1 from pg_available_extensions;
select 'size:' || datname, pg_database_size(datname) from pg_database where datname in ('bj', 'bj-data');
select 'tz-known:' || name, 1 from pg_timezone_names union select 'tz-known:' || abbrev, 1 from pg_timezone_abbrevs;
select 'tz-used:' || (xpath('/row/z/text()', r))[1]::text || chr(9) || (xpath('/row/w/text()', r))[1]::text, (xpath('/row/c/text()', r))[1]::text
  from unnest(xpath('/table/row', query_to_xml((
    select coalesce(string_agg(format('select v.z, v.w, count(*) as c from %I.%I t, lateral (values %s) v(z, w) where v.z is not null group by v.z, v.w',
                                      t.nspname, t.relname, t.cols), ' union all '), 'select null::text as z, null::text as w, 0 as c where false')
      from (select n.nspname, c.relname, string_agg(format('(t.%I::text, %L)', a.attname, c.relname || '.' || a.attname), ', ') as cols
              from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
                   join pg_type ty on ty.oid = a.atttypid
             where ty.typtype = 'd' and ty.typname = 'timezone' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
               and n.nspname not like 'pg\_%'
             group by n.nspname, c.relname) t), false, false, ''))) r;
select 'users', (xpath('/row/c/text()', query_to_xml(
  case when exists (select 1 from information_schema.columns
                    where table_schema = current_schema() and table_name = 't_directory_entry' and column_name = 'kind')
       then 'select count(*) as c from t_directory_entry where kind = ''USER'''
       else 'select count(*) as c from t_directory_entry' end, false, true, '')))[1]::text
  where to_regclass('t_directory_entry') is not null;
select 'mailboxes', (xpath('/row/c/text()', query_to_xml('select count(*) as c from t_mailbox', false, true, '')))[1]::text
  where to_regclass('t_mailbox') is not null;
`;

/** Merge the probe output of each database into one DbFacts (users and mailboxes add up). */
export function parseDbProbe(outputs: readonly string[]): DbFacts {
  const f: DbFacts = { ok: true, sizes: {} };
  for (const out of outputs) {
    for (const line of out.split("\n")) {
      const bar = line.indexOf("|");
      if (bar < 0) continue;
      const key = line.slice(0, bar).trim();
      const value = Number(line.slice(bar + 1).trim());
      if (!Number.isFinite(value)) continue;
      if (key === "server_version_num") f.serverVersionNum = value;
      else if (key.startsWith("size:")) f.sizes[key.slice(5)] = value;
      else if (key === "users") f.users = (f.users ?? 0) + value;
      else if (key === "mailboxes") f.mailboxes = (f.mailboxes ?? 0) + value;
      else if (key.startsWith("extension:")) addName((f.extensions ??= []), key.slice(10));
      else if (key.startsWith("available:")) addName((f.availableExtensions ??= []), key.slice(10));
      else if (key.startsWith("tz-known:")) addName((f.timezonesKnown ??= []), key.slice(9));
      else if (key.startsWith("tz-used:")) {
        const [name, column] = key.slice(8).split("\t");
        if (name && column) (f.timezonesUsed ??= []).push({ name, column, rows: value });
      }
    }
  }
  return f;
}

function addName(list: string[], name: string): void {
  if (!list.includes(name)) list.push(name);
}

/** Why psql could not log in, from its stderr. */
export function classifyPsqlFailure(stderr: string): NonNullable<DbFacts["failure"]> {
  if (
    /password authentication failed|authentication failed|no password supplied|no pg_hba\.conf entry/i.test(
      stderr,
    )
  )
    return "auth";
  if (/database ".*" does not exist/i.test(stderr)) return "no-database";
  if (
    /Connection refused|server closed the connection|could not connect|timeout expired|Is the server running/i.test(
      stderr,
    )
  )
    return "unreachable";
  if (/psql: (?:command )?not found|ENOENT|spawn psql/i.test(stderr)) return "no-psql";
  return "other";
}

/** PostgreSQL's major version from server_version_num (150018 -> 15; 90624 -> 9.6). */
export function pgMajor(versionNum: number): number {
  const major = Math.floor(versionNum / 10000);
  return versionNum >= 100000 ? major : major + (Math.floor(versionNum / 100) % 100) / 10;
}

function keyValues(out: string): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) kv[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return kv;
}
