/**
 * PostgreSQL on both sides: running and accepting bm.ini's credentials (the origin's through the
 * SSH tunnel the dump will use), and the target's tools able to dump the origin's server and
 * restore into its own.
 */
import type { CheckId, Finding } from "./findings.js";
import type { PreflightFacts } from "./gather.js";
import { pgMajor, type SideFacts } from "./probes.js";
import { normalisedInWords } from "../database/majorUpgrade.js";
import type { Side } from "./context.js";

function serverShown(s: SideFacts): string {
  const v = s.db?.serverVersionNum;
  const svc = s.services;
  const state = svc
    ? `postgresql ${svc.postgresql}, ${svc.pgAcceptsConnections ? "accepting connections" : "not accepting connections"} on localhost:5432`
    : "";
  return [v ? `PostgreSQL ${pgMajor(v)}` : "", state].filter(Boolean).join(", ");
}

function loginFinding(f: PreflightFacts, side: Side): Finding[] {
  const s = f[side];
  if (!s.host || !s.db) return [];
  const id: CheckId = side === "origin" ? "pg-origin" : "pg-target";
  const on = (value: string) => (side === "origin" ? { origin: value } : { target: value });
  const user = s.host.bmIni?.user ?? "bj";
  const how = side === "origin" ? "through the SSH tunnel" : "on localhost:5432";
  if (s.db.ok)
    return [
      {
        id,
        severity: "info",
        title: `${user} logs in to the ${side}'s PostgreSQL ${how}`,
        ...on(serverShown(s)),
      },
    ];
  const notRunning = s.services && (s.services.postgresql === "stopped" || !s.services.pgAcceptsConnections);
  const base = {
    id,
    severity: "blocker" as const,
    ...on([serverShown(s), s.db.message].filter(Boolean).join(": ")),
  };
  const svc = side === "origin" ? "on the origin" : "on the target";
  if (s.db.failure === "auth")
    return [
      {
        ...base,
        title: `the ${side}'s PostgreSQL refuses ${user}'s password from /etc/bm/bm.ini`,
        remedy: `make /etc/bm/bm.ini's password ${svc} match the role's actual password (or ALTER ROLE ${user} PASSWORD ... there to match bm.ini), then check again`,
      },
    ];
  if (s.db.failure === "tunnel")
    return [
      {
        ...base,
        title: "the origin's sshd refuses to forward a port to its PostgreSQL",
        remedy:
          "allow TCP forwarding for root in the origin's sshd_config (AllowTcpForwarding yes) and reload sshd",
      },
    ];
  if (s.db.failure === "no-psql")
    return [
      {
        ...base,
        title: "psql is missing on the target",
        remedy: "install the PostgreSQL client on the target (apt-get install postgresql-client)",
      },
    ];
  if (notRunning || s.db.failure === "unreachable")
    return [
      {
        ...base,
        title: `PostgreSQL is not running on the ${side}`,
        remedy: `start it ${svc}: service postgresql start (or systemctl start postgresql); the dump and restore need it running`,
      },
    ];
  return [
    {
      ...base,
      title: `cannot log in to the ${side}'s PostgreSQL as ${user}`,
      remedy: `check PostgreSQL ${svc} and the db, user and password in its /etc/bm/bm.ini`,
    },
  ];
}

export function postgresLoginFindings(f: PreflightFacts): Finding[] {
  return [...loginFinding(f, "origin"), ...loginFinding(f, "target")];
}

/** pg_dump on the target must be at least the origin server's major version; pg_restore must exist. */
export function postgresToolFindings(f: PreflightFacts): Finding[] {
  const t = f.target;
  if (!t.host) return [];
  const originServer = f.origin.db?.serverVersionNum;
  const originMajor = originServer ? pgMajor(originServer) : undefined;
  const dump = t.host.pgDumpMajor;
  const restore = t.services?.pgRestoreMajor;
  const tools = `pg_dump ${dump ?? "missing"}, pg_restore ${restore ?? "missing"}`;
  const origin =
    originMajor !== undefined ? `PostgreSQL server ${originMajor}` : "server version unknown (not reached)";
  const problems: string[] = [];
  if (dump === undefined) problems.push("pg_dump is missing on the target");
  if (t.services && restore === undefined) problems.push("pg_restore is missing on the target");
  if (dump !== undefined && originMajor !== undefined && dump < Math.floor(originMajor))
    problems.push(`pg_dump ${dump} cannot dump a PostgreSQL ${originMajor} server`);
  const out: Finding[] = [];
  if (problems.length)
    out.push({
      id: "pg-tools",
      severity: "blocker",
      title: problems.join("; "),
      origin,
      target: tools,
      remedy: `install the PostgreSQL client tools on the target, version ${originMajor !== undefined ? `${Math.ceil(originMajor)} or later` : "at least the origin's"}`,
    });
  else
    out.push({
      id: "pg-tools",
      severity: "info",
      title: `the target's ${tools} can dump the origin${originMajor !== undefined ? `'s PostgreSQL ${originMajor}` : ""}`,
      origin,
      target: tools,
    });
  const targetServer = t.db?.serverVersionNum;
  if (originServer && targetServer) {
    const [om, tm] = [pgMajor(originServer), pgMajor(targetServer)];
    const older = targetServer < originServer && tm < om;
    const implied = normalisedInWords(Math.floor(om), Math.floor(tm));
    out.push({
      id: "pg-versions",
      severity: older ? "warning" : "info",
      title: older
        ? "the target's PostgreSQL is older than the origin's: the restore may fail"
        : om === tm
          ? `same PostgreSQL major version (${om}): copied by dump and restore`
          : `major upgrade ${om} → ${tm} by dump and restore (the target's pg_dump ${t.host.pgDumpMajor ?? "?"} reads the origin)`,
      origin: `PostgreSQL ${om}`,
      target: `PostgreSQL ${tm}`,
      ...(implied.length || (om < 17 && tm >= 17)
        ? {
            detail: [
              ...implied.map((n) => `the load normalises ${n}`),
              ...(om < 17 && tm >= 17
                ? ["ALL PRIVILEGES on a table or view includes MAINTAIN on the target (verify accepts that)"]
                : []),
            ].join("\n"),
          }
        : {}),
      ...(older ? { remedy: "install the origin's PostgreSQL version (or later) on the target" } : {}),
    });
  }
  return out;
}

/**
 * The extensions the origin's databases use (hstore for BlueMind) must be available on the
 * target's server, or the restore fails on CREATE EXTENSION.
 */
export function postgresExtensionFindings(f: PreflightFacts): Finding[] {
  const used = f.origin.db?.extensions;
  const available = f.target.db?.availableExtensions;
  if (!used || !available) return [];
  const missing = used.filter((e) => !available.includes(e));
  const targetMajor = f.target.db?.serverVersionNum
    ? Math.floor(pgMajor(f.target.db.serverVersionNum))
    : undefined;
  const origin = used.length ? `uses ${[...used].sort().join(", ")}` : "no extension";
  if (!missing.length)
    return [
      {
        id: "pg-extensions",
        severity: "info",
        title: "the extensions the origin's databases use are available on the target",
        origin,
        target: `${available.length} extensions available`,
      },
    ];
  const contrib = missing.filter((e) => CONTRIB.has(e));
  return [
    {
      id: "pg-extensions",
      severity: "blocker",
      title: `the target's PostgreSQL lacks extension${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, which the origin's databases use: the restore would fail`,
      origin,
      target: `not available: ${missing.join(", ")}`,
      remedy: contrib.length
        ? `install PostgreSQL's contrib modules on the target (Debian/Ubuntu: apt-get install postgresql-contrib${targetMajor ? ` or postgresql-${targetMajor}` : ""}; RHEL: dnf install postgresql-contrib), then check again`
        : `install the package that provides ${missing.join(", ")} for PostgreSQL ${targetMajor ?? ""} on the target, then check again`,
    },
  ];
}

/**
 * A POSIX time zone specification ("UTC+3", "<+03>-3", "EST5EDT,M3.2.0,M11.1.0"): PostgreSQL reads
 * it without tzdata, so its absence from the target's list of names proves nothing.
 */
const POSIX_SPEC = /^(<[^>]+>|[A-Za-z]{3,})[+-]?\d/;

/**
 * The time zone names in the origin's rows must be names the target's PostgreSQL accepts: BlueMind's
 * calendar and task columns (t_calendar_vevent's and t_todolist_vtodo's *_timezone) are of its domain
 * `timezone`, whose CHECK calls is_timezone(), `now() AT TIME ZONE tz` in plpgsql
 * (net.bluemind.core.sqlschema/sql/datetime-schema-1.0.0.sql, 4.x and 5.1): the restore's COPY
 * checks each row, and a name the target's tzdata lacks (a name removed from tzdata, or one of the
 * legacy links Debian 13 moved to the package tzdata-legacy) makes the restore fail. PostgreSQL
 * looks names up without regard to case.
 */
export function postgresTimezoneFindings(f: PreflightFacts): Finding[] {
  const used = f.origin.db?.timezonesUsed;
  const known = f.target.db?.timezonesKnown;
  if (!used || !known) return [];
  const accepted = new Set(known.map((n) => n.toLowerCase()));
  const missing = new Map<string, { columns: string[]; rows: number }>();
  for (const u of used) {
    if (accepted.has(u.name.toLowerCase()) || POSIX_SPEC.test(u.name)) continue;
    const m = missing.get(u.name) ?? { columns: [], rows: 0 };
    if (!m.columns.includes(u.column)) m.columns.push(u.column);
    m.rows += u.rows;
    missing.set(u.name, m);
  }
  const names = [...new Set(used.map((u) => u.name))];
  const origin = `${names.length} time zone name${names.length === 1 ? "" : "s"} in calendar and task rows`;
  const target = `${known.length} time zone names and abbreviations known to PostgreSQL`;
  if (!missing.size)
    return [
      {
        id: "pg-timezones",
        severity: "info",
        title: "the target's PostgreSQL knows every time zone name the origin's calendar and task rows use",
        origin,
        target,
      },
    ];
  const list = [...missing.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [
    {
      id: "pg-timezones",
      severity: "blocker",
      title: `the target's PostgreSQL lacks time zone${missing.size > 1 ? "s" : ""} ${list.map(([n]) => n).join(", ")}, which the origin's rows use: the restore would fail on BlueMind's timezone domain`,
      origin,
      target: `unknown on the target: ${list.map(([n]) => n).join(", ")}`,
      detail: list
        .map(([n, m]) => `${n}: ${m.rows} row${m.rows === 1 ? "" : "s"} in ${m.columns.join(", ")}`)
        .join("\n"),
      remedy:
        "install the target's legacy time zone names (Debian 13 and later, Ubuntu 24.04 and later: apt-get install tzdata-legacy; elsewhere update tzdata), then check again; " +
        "or change those rows on the origin to a current name (e.g. UPDATE t_calendar_vevent SET dtstart_timezone = 'Europe/Kyiv' WHERE dtstart_timezone = 'Europe/Kiev', for each column named)",
    },
  ];
}

/** Extensions of PostgreSQL's contrib modules that BlueMind's databases are known to use or could. */
const CONTRIB = new Set([
  "hstore",
  "pg_trgm",
  "unaccent",
  "pgcrypto",
  "uuid-ossp",
  "btree_gin",
  "btree_gist",
  "citext",
]);
