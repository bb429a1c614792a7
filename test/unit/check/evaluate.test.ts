// The preflight's checks over fake facts: findings, their order, --skip-check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DATA_DIRS_4, PROFILES } from "../../../src/bluemind/profiles.js";
import type { HostFacts } from "../../../src/bluemind/facts.js";
import type { CheckContext } from "../../../src/check/context.js";
import { evaluateChecks } from "../../../src/check/evaluate.js";
import { applySkips, blockers, type Finding } from "../../../src/check/findings.js";
import { formatFindings } from "../../../src/check/formatFindings.js";
import type { PreflightFacts } from "../../../src/check/gather.js";
import { journalShowsSync, validateSkips } from "../../../src/check/preflight.js";
import { parseDbProbe, pgMajor, type SideFacts } from "../../../src/check/probes.js";

const DIRS = DATA_DIRS_4;
const GiB = 1024 ** 3;

function hostFacts(role: "origin" | "target"): HostFacts {
  return {
    hostname: `bm-${role}`,
    bmVersion: "4.1.56",
    packageManager: "dpkg",
    bmIni: { externalUrl: "bluemind.example.test", user: "bj", password: "bj", db: "bj" },
    osId: "debian",
    osVersion: role === "origin" ? "11" : "12",
    osPrettyName: role === "origin" ? "Debian GNU/Linux 11" : "Debian GNU/Linux 12",
    init: "systemd",
    hasRsync: true,
    rsyncVersion: "3.2.7",
    inotifywaitVersion: "3.22.6.0",
    hasBmctl: true,
    subscription: true,
    pgDumpMajor: 15,
    clock: 0,
  };
}

function side(role: "origin" | "target"): SideFacts {
  const origin = role === "origin";
  return {
    host: hostFacts(role),
    services: {
      bluemind: "running",
      postfix: "running",
      postgresql: "running",
      pgAcceptsConnections: true,
      pgRestoreMajor: 15,
      psqlMajor: 15,
    },
    storage: {
      dirs: DIRS.map((path) => ({
        path,
        present: true,
        bytes: origin ? GiB : 4096,
        apparentBytes: origin ? GiB : 100,
        inodes: origin ? 10_000 : 1,
        paths: origin ? 10_000 : 1,
      })),
      spaces: [...DIRS, "/var/lib/bm-migrate"].map((path) => ({
        path,
        mount: "/var",
        availBytes: 100 * GiB,
        availInodes: 5_000_000,
        totalInodes: 6_000_000,
      })),
      owners: origin ? [{ user: "cyrus", group: "mail", uid: 9901, gid: 8 }] : [],
    },
    ...(origin
      ? {}
      : {
          accounts: {
            users: new Map([
              ["root", 0],
              ["cyrus", 9952],
            ]),
            groups: new Map([
              ["root", 0],
              ["mail", 8],
            ]),
          },
        }),
    db: {
      ok: true,
      serverVersionNum: 150018,
      sizes: { bj: 50_000_000, "bj-data": 20_000_000 },
      users: origin ? 80 : 2,
      mailboxes: origin ? 80 : 2,
      extensions: ["hstore"],
      availableExtensions: ["hstore", "plpgsql", "pg_trgm"],
    },
    errors: {},
  };
}

function readyFacts(): PreflightFacts {
  return {
    originDestination: "root@bm-origin",
    ssh: { ok: true },
    origin: side("origin"),
    target: side("target"),
    clock: { offsetSec: 0.2, uncertaintySec: 0.01, targetTime: 1_800_000_000 },
    dataDirs: DIRS,
    stateDir: "/var/lib/bm-migrate",
    syncedBefore: false,
    databasesRestoredBefore: false,
    durationMs: 100,
  };
}

const ctx: CheckContext = { profile: PROFILES["4"]!, profileSource: "version", forceOverwriteTarget: false };

function only(findings: Finding[], id: string, severity = "blocker"): Finding {
  const found = findings.filter((f) => f.id === id && f.severity === severity);
  assert.equal(
    found.length,
    1,
    `one ${severity} ${id} in ${JSON.stringify(findings.map((f) => [f.id, f.severity]))}`,
  );
  return found[0]!;
}

test("a ready pair has no blocker and no warning, and says what will move", () => {
  const findings = evaluateChecks(readyFacts(), ctx);
  assert.deepEqual(
    findings.filter((f) => f.severity !== "info").map((f) => f.id),
    [],
  );
  const volume = only(findings, "volume", "info");
  assert.match(volume.title, /7\.0 GiB in 70,000 files/);
  assert.match(volume.detail ?? "", /first hot sync: about/);
  only(findings, "owner-ids", "info");
  assert.match(only(findings, "owner-ids", "info").origin ?? "", /cyrus uid 9901/);
});

test("different bm-core versions are a blocker showing both", () => {
  const f = readyFacts();
  f.target.host!.bmVersion = "4.1.57";
  const b = only(evaluateChecks(f, ctx), "bm-version");
  assert.equal(b.origin, "4.1.56");
  assert.equal(b.target, "4.1.57");
});

test("BlueMind missing on the target is a blocker", () => {
  const f = readyFacts();
  delete f.target.host!.bmVersion;
  assert.match(only(evaluateChecks(f, ctx), "bluemind-installed").title, /not installed on the target/);
});

test("external-url: case and a trailing slash do not matter; another name is a blocker", () => {
  const f = readyFacts();
  f.target.host!.bmIni!.externalUrl = "BlueMind.example.test/";
  only(evaluateChecks(f, ctx), "external-url", "info");
  f.target.host!.bmIni!.externalUrl = "mail.other.test";
  const b = only(evaluateChecks(f, ctx), "external-url");
  assert.equal(b.origin, "bluemind.example.test");
  assert.equal(b.target, "mail.other.test");
});

test("no subscription on the target and rsync missing on the origin are blockers", () => {
  const f = readyFacts();
  f.target.host!.subscription = false;
  f.origin.host!.hasRsync = false;
  const findings = evaluateChecks(f, ctx);
  assert.match(only(findings, "subscription").target ?? "", /no \/etc\/bm\/subscription\.bmz/);
  const r = only(findings, "rsync");
  assert.match(r.title, /missing on the origin$/);
  assert.equal(r.origin, "rsync not installed");
});

test("an SSH failure is classified, and the target's checks are still reported", () => {
  const f = readyFacts();
  f.ssh = {
    ok: false,
    kind: "host-key-changed",
    message: "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!",
  };
  f.origin = { errors: {} };
  delete f.clock;
  f.target.host!.subscription = false;
  const findings = evaluateChecks(f, ctx);
  const s = only(findings, "ssh");
  assert.match(s.title, /host key has changed/);
  assert.match(s.remedy ?? "", /ssh-keygen -R bm-origin/);
  only(findings, "subscription");
  only(findings, "pg-target", "info");
  assert.equal(
    findings.some((x) => x.id === "bm-version"),
    false,
    "no comparison without the origin's facts",
  );
});

test("PostgreSQL stopped on the origin and a refused password are told apart", () => {
  const f = readyFacts();
  f.origin.services!.postgresql = "stopped";
  f.origin.services!.pgAcceptsConnections = false;
  f.origin.db = {
    ok: false,
    failure: "unreachable",
    message: "server closed the connection unexpectedly",
    sizes: {},
  };
  assert.match(only(evaluateChecks(f, ctx), "pg-origin").title, /not running on the origin/);
  const g = readyFacts();
  g.origin.db = {
    ok: false,
    failure: "auth",
    message: 'password authentication failed for user "bj"',
    sizes: {},
  };
  const b = only(evaluateChecks(g, ctx), "pg-origin");
  assert.match(b.title, /refuses bj's password/);
  assert.doesNotMatch(JSON.stringify(b), /"bj"\s*$|password": "bj"/);
});

test("pg_dump older than the origin's server is a blocker; an older target server a warning", () => {
  const f = readyFacts();
  f.target.host!.pgDumpMajor = 13;
  f.target.db!.serverVersionNum = 130004;
  const findings = evaluateChecks(f, ctx);
  assert.match(only(findings, "pg-tools").title, /pg_dump 13 cannot dump a PostgreSQL 15 server/);
  only(findings, "pg-versions", "warning");
  assert.equal(pgMajor(90624), 9.6);
  assert.equal(pgMajor(150018), 15);
});

test("a small filesystem over one destination is a blocker naming it; a shared one adds needs up", () => {
  const f = readyFacts();
  const docs = f.target.storage!.spaces.find((s) => s.path === "/var/spool/bm-docs")!;
  docs.mount = "/var/spool/bm-docs";
  docs.availBytes = 1024 * 1024;
  const b = only(evaluateChecks(f, ctx), "disk-space");
  assert.match(b.title, /\/var\/spool\/bm-docs/);
  assert.match(b.target ?? "", /1\.0 MiB free/);
  // Six 1 GiB directories on /var: 6 GiB do not fit in 5 GiB.
  const g = readyFacts();
  for (const s of g.target.storage!.spaces) s.availBytes = 5 * GiB;
  assert.match(only(evaluateChecks(g, ctx), "disk-space").origin ?? "", /^7\.\d GiB to hold/);
});

test("what is already synced counts: a second hot sync needs only the difference", () => {
  const f = readyFacts();
  for (const s of f.target.storage!.spaces) s.availBytes = 2 * GiB;
  assert.ok(evaluateChecks(f, ctx).some((x) => x.id === "disk-space" && x.severity === "blocker"));
  for (const d of f.target.storage!.dirs) {
    d.bytes = GiB;
    d.inodes = 10_000;
    d.paths = 10_000;
  }
  f.syncedBefore = true;
  const findings = evaluateChecks(f, ctx);
  assert.equal(
    findings.filter((x) => x.severity === "blocker").length,
    0,
    JSON.stringify(blockers(findings)),
  );
});

test("too few inodes is a blocker; filesystems without an inode table are not checked", () => {
  const f = readyFacts();
  for (const s of f.target.storage!.spaces) s.availInodes = 50_000;
  only(evaluateChecks(f, ctx), "disk-inodes");
  for (const s of f.target.storage!.spaces) s.totalInodes = 0;
  assert.equal(
    evaluateChecks(f, ctx).some((x) => x.id === "disk-inodes"),
    false,
  );
});

test("an owner missing on the target is a blocker; other uids are only information", () => {
  const f = readyFacts();
  f.target.accounts!.users.delete("cyrus");
  const b = only(evaluateChecks(f, ctx), "owners");
  assert.match(b.origin ?? "", /user cyrus \(uid 9901\)/);
  assert.match(b.target ?? "", /missing: user cyrus/);
});

test("a target in use is a blocker unless --force-overwrite-target", () => {
  const f = readyFacts();
  f.target.db!.users = 500;
  const b = only(evaluateChecks(f, ctx), "fresh-target");
  assert.match(b.target ?? "", /500 directory users/);
  assert.match(b.origin ?? "", /80 directory users/);
  only(evaluateChecks(f, { ...ctx, forceOverwriteTarget: true }), "fresh-target", "warning");
  f.databasesRestoredBefore = true;
  only(evaluateChecks(f, ctx), "fresh-target", "info");
});

test("many files on the target block only before bm-migrate has synced", () => {
  const f = readyFacts();
  for (const d of f.target.storage!.dirs) d.paths = 5000;
  only(evaluateChecks(f, ctx), "fresh-target");
  f.syncedBefore = true;
  only(evaluateChecks(f, ctx), "fresh-target", "info");
  assert.equal(journalShowsSync([{ t: "", type: "step-done", phase: "hot-sync", step: "x" }]), true);
  assert.equal(journalShowsSync([{ t: "", type: "check", phase: "check" }]), false);
});

test("clocks: a few seconds apart is a warning", () => {
  const f = readyFacts();
  f.clock = { offsetSec: -42, uncertaintySec: 0.02, targetTime: 1_800_000_000 };
  const w = only(evaluateChecks(f, ctx), "clock", "warning");
  assert.match(w.title, /-42\.00 s/);
  assert.notEqual(w.origin, w.target);
});

test("an unknown version has no profile: a blocker that names --profile", () => {
  const f = readyFacts();
  f.origin.host!.bmVersion = f.target.host!.bmVersion = "2.9.1";
  const b = only(evaluateChecks(f, { forceOverwriteTarget: false }), "profile");
  assert.match(b.remedy ?? "", /--profile/);
});

test("several blockers are all reported, blockers first", () => {
  const f = readyFacts();
  f.target.host!.bmVersion = "4.1.57";
  f.target.host!.subscription = false;
  f.origin.host!.hasRsync = false;
  f.target.accounts!.users.delete("cyrus");
  const findings = evaluateChecks(f, ctx);
  assert.deepEqual(
    blockers(findings).map((x) => x.id),
    ["bm-version", "subscription", "rsync", "owners"],
  );
  const firstInfo = findings.findIndex((x) => x.severity === "info");
  assert.ok(findings.slice(0, firstInfo).every((x) => x.severity !== "info"));
  const text = formatFindings(findings, {
    origin: "root@bm-origin",
    durationMs: 1234,
    at: "now",
    again: "bm-migrate check",
  });
  assert.ok(text.indexOf("BLOCKERS") < text.indexOf("INFORMATION"));
  assert.match(text, /\[bm-version\] bm-core versions differ\n\s+origin: 4\.1\.56\n\s+target: 4\.1\.57/);
  assert.match(text, /RESULT: 4 blocker\(s\) stand/);
});

test("--skip-check turns the named blocker into a warning; unknown and vital ids are refused", () => {
  const f = readyFacts();
  f.target.host!.subscription = false;
  const findings = applySkips(evaluateChecks(f, ctx), ["subscription"]);
  const w = only(findings, "subscription", "warning");
  assert.equal(w.skipped, true);
  assert.match(w.title, /skipped with --skip-check subscription/);
  assert.throws(() => validateSkips(["no-such-check"]), /unknown check id\(s\) no-such-check/);
  assert.throws(() => validateSkips(["ssh"]), /ssh cannot be skipped/);
  validateSkips(["disk-space", "fresh-target"]);
});

test("a BlueMind package (plugin) of the origin missing on the target blocks, naming the package to install", () => {
  const f = readyFacts();
  f.origin.host!.bmPackages = ["bm-core", "bm-full", "bm-plugin-core-ldap-import"];
  f.target.host!.bmPackages = ["bm-core", "bm-full"];
  const b = only(evaluateChecks(f, ctx), "plugins");
  assert.match(b.title, /missing on the target: bm-plugin-core-ldap-import/);
  assert.match(b.remedy ?? "", /apt-get install bm-plugin-core-ldap-import/);
  f.target.host!.bmPackages = ["bm-core", "bm-full", "bm-plugin-core-ldap-import"];
  assert.match(only(evaluateChecks(f, ctx), "plugins", "info").title, /the same 3 BlueMind packages on both/);
  f.target.host!.bmPackages = [...f.target.host!.bmPackages, "bm-plugin-extra"];
  assert.match(only(evaluateChecks(f, ctx), "plugins", "warning").title, /bm-plugin-extra/);
});

test("PostgreSQL 13 → 15: a major upgrade by dump and restore, what it normalises, and the extensions", () => {
  const f = readyFacts();
  f.origin.db!.serverVersionNum = 130016;
  f.target.db!.serverVersionNum = 170002;
  const findings = evaluateChecks(f, ctx);
  const v = only(findings, "pg-versions", "info");
  assert.match(v.title, /^major upgrade 13 → 17 by dump and restore/);
  assert.equal(v.origin, "PostgreSQL 13");
  assert.equal(v.target, "PostgreSQL 17");
  assert.match(v.detail ?? "", /schema public/);
  assert.match(v.detail ?? "", /MAINTAIN/);
  assert.match(only(findings, "pg-extensions", "info").origin ?? "", /uses hstore/);
  f.origin.db!.serverVersionNum = 150010;
  f.target.db!.serverVersionNum = 150018;
  const same = only(evaluateChecks(f, ctx), "pg-versions", "info");
  assert.match(same.title, /same PostgreSQL major version \(15\)/);
  assert.equal(same.detail, undefined);
});

test("an extension the origin uses that the target cannot create is a blocker naming the package", () => {
  const f = readyFacts();
  f.target.db!.availableExtensions = ["plpgsql"];
  const b = only(evaluateChecks(f, ctx), "pg-extensions");
  assert.match(b.title, /lacks extension hstore, which the origin's databases use/);
  assert.match(b.remedy ?? "", /apt-get install postgresql-contrib or postgresql-15/);
});

test("with the change journal possible, check says what it assumes", () => {
  const i = only(evaluateChecks(readyFacts(), ctx), "origin-tools", "info");
  assert.match(i.detail ?? "", /hard link to a data file is made from outside the data directories/);
  assert.match(i.detail ?? "", /mount changed under a data directory is detected/);
});

test("an origin without inotifywait, or with an rsync before 3.1: a warning with the fallback, no blocker", () => {
  const f = readyFacts();
  delete f.origin.host!.inotifywaitVersion;
  const w = only(evaluateChecks(f, ctx), "origin-tools", "warning");
  assert.match(
    w.title,
    /inotifywait is not installed on the origin.*every hot and cold pass will walk every file/,
  );
  assert.match(w.remedy ?? "", /inotify-tools/);
  f.origin.host!.inotifywaitVersion = "3.14";
  f.origin.host!.rsyncVersion = "3.0.9";
  assert.match(only(evaluateChecks(f, ctx), "origin-tools", "warning").title, /older than 3\.1\.0/);
  f.origin.host!.rsyncVersion = "3.2.3";
  assert.match(
    only(evaluateChecks(f, ctx), "origin-tools", "info").origin ?? "",
    /rsync 3\.2\.3, inotifywait 3\.14/,
  );
  assert.ok(!evaluateChecks(f, ctx).some((x) => x.severity === "blocker"));
});

test("a calendar time zone the target's PostgreSQL lacks blocks check, naming the rows and the package", () => {
  const f = readyFacts();
  f.origin.db!.timezonesUsed = [
    { name: "Europe/Paris", column: "t_calendar_vevent.dtstart_timezone", rows: 40 },
    { name: "US/Eastern", column: "t_calendar_vevent.dtstart_timezone", rows: 3 },
    { name: "US/Eastern", column: "t_todolist_vtodo.due_timezone", rows: 2 },
    { name: "UTC+3", column: "t_calendar_vevent.dtend_timezone", rows: 1 },
  ];
  // Debian 13's tzdata without tzdata-legacy: US/Eastern is gone; names are looked up without case.
  f.target.db!.timezonesKnown = ["europe/paris", "America/New_York", "UTC"];
  const b = only(evaluateChecks(f, ctx), "pg-timezones");
  assert.match(b.title, /lacks time zone US\/Eastern, which the origin's rows use: the restore would fail/);
  assert.equal(
    b.detail,
    "US/Eastern: 5 rows in t_calendar_vevent.dtstart_timezone, t_todolist_vtodo.due_timezone",
  );
  assert.match(b.remedy ?? "", /apt-get install tzdata-legacy/);
  f.target.db!.timezonesKnown.push("US/Eastern");
  assert.match(only(evaluateChecks(f, ctx), "pg-timezones", "info").title, /knows every time zone name/);
});

test("the database probe's time zone lines parse into names used (per column) and names known", () => {
  const f = parseDbProbe([
    "tz-known:Europe/Paris|1\ntz-known:CET|1\ntz-used:US/Eastern\tt_calendar_vevent.dtstart_timezone|12\n",
  ]);
  assert.deepEqual(f.timezonesKnown, ["Europe/Paris", "CET"]);
  assert.deepEqual(f.timezonesUsed, [
    { name: "US/Eastern", column: "t_calendar_vevent.dtstart_timezone", rows: 12 },
  ]);
});
