// plan (readable commands, views, outlines), init's configuration file (renders, loads back), the
// JSON lines' documentation (every event type) and --dry-run on the phase commands.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { runCli } from "../../support/cli.js";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SshConnection } from "../../../src/adapters/ssh.js";
import { rsyncArgs } from "../../../src/adapters/rsync.js";
import { shellQuote } from "../../../src/adapters/process.js";
import { formatPlan, readableCommand, type Plan } from "../../../src/engine/plan.js";
import { loadSettings, type Settings } from "../../../src/engine/settings.js";
import { parseFacts, type HostFacts } from "../../../src/bluemind/facts.js";
import { PROFILES } from "../../../src/bluemind/profiles.js";
import { postOutline } from "../../../src/phases/post.js";
import { newFound, verifyPlan } from "../../../src/verify/run.js";
import { DifferenceLog } from "../../../src/verify/compare.js";
import type { MigrationContext } from "../../../src/phases/context.js";
import type { App } from "../../../src/engine/app.js";
import type { Profile } from "../../../src/bluemind/profiles.js";
import { viewOf } from "../../../src/engine/planView.js";
import { formatDestination, renderConfigFile, type ConfigDraft } from "../../../src/config/configFile.js";
import type { SshTarget } from "../../../src/engine/destination.js";

const tmp = () => mkdtempSync(join(tmpdir(), "bm-plan-init-"));
function cli(...args: string[]) {
  const r = runCli(args, { cwd: tmp() });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

function connection(port?: number): SshConnection {
  return new SshConnection(
    { user: "root", host: "bm-origin", ...(port ? { port } : {}) },
    { socketDir: tmp() },
  );
}

// ---------------------------------------------------------------------------------------------
// Readable commands

test("rsync's long -e 'ssh -o ...' is shown as -e ssh; the rest of the command is unchanged", () => {
  const ssh = connection();
  const argv = [
    "rsync",
    ...rsyncArgs({ ssh, source: "/var/spool/cyrus", dest: "/var/spool/cyrus", nice: true }),
  ];
  const full = argv.map(shellQuote).join(" ");
  assert.match(full, /ControlPath=/);
  const r = readableCommand(full);
  assert.equal(r.ssh, ssh.rsyncShell());
  assert.doesNotMatch(r.text, /ControlPath|BatchMode/);
  assert.equal(r.text, full.replace(`'${ssh.rsyncShell()}'`, "ssh"));
  assert.match(
    r.text,
    / -e ssh '--rsync-path=nice -n 10 ionice -c2 -n7 rsync' root@bm-origin:\/var\/spool\/cyrus\/ /,
  );
});

test("a non-default port stays visible, and a bare (unquoted) -e ssh ... is shortened too", () => {
  const ssh = connection(2222);
  const quoted = ["rsync", ...rsyncArgs({ ssh, source: "/a", dest: "/a" })].map(shellQuote).join(" ");
  assert.match(readableCommand(quoted).text, / -e 'ssh -p 2222' root@bm-origin:\/a\/ \/a\/$/);
  const plain = connection();
  const bare = ["rsync", "-aHS", "-e", plain.rsyncShell(), "--from0", "root@bm-origin:/", "/"].join(" ");
  const r = readableCommand(bare);
  assert.equal(r.text, "rsync -aHS -e ssh --from0 root@bm-origin:/ /");
  assert.equal(r.ssh, plain.rsyncShell());
});

test("a command without a remote shell is left alone", () => {
  const c = "pg_dump -h <tunnel> -U bj bj | psql 'bj.bm-migrate-new' -e x";
  assert.deepEqual(readableCommand(c), { text: c });
});

function fakePlan(): Plan {
  const ssh = connection();
  const rsync = (d: string) => ["rsync", ...rsyncArgs({ ssh, source: d, dest: d })].map(shellQuote).join(" ");
  const step = (id: string, host: "origin" | "target" | "both", commands: string[]) => ({
    id,
    title: `title of ${id}`,
    host,
    commands,
    run: () => Promise.reject(new Error("a plan is not run in these tests")),
  });
  return {
    phase: "hot-sync",
    stages: [
      { name: "Stop", steps: [step("stop-services:target", "target", ["bmctl stop"])] },
      {
        name: "Copy",
        maxParallel: 1,
        steps: [step("rsync:/a", "target", [rsync("/a")]), step("rsync:/b", "target", [rsync("/b")])],
      },
      { name: "Databases", steps: [step("database:bj", "both", ["pg_dump bj | psql"])] },
    ],
  };
}

test("formatPlan: readable commands, host names, parallelism, and the SSH note exactly once", () => {
  const text = formatPlan(fakePlan(), { hosts: { origin: "root@bm-origin", target: "bm-target" } });
  assert.doesNotMatch(text.split("Note:")[0]!, /ControlPath/);
  assert.equal(text.match(/Note: All SSH to the origin goes through one master connection/g)?.length, 1);
  assert.match(text, /ControlPath=/, "the note gives the full ssh once");
  assert.match(text, /1\. \[stop-services:target\] title of stop-services:target {2}\(on target bm-target\)/);
  assert.match(text, /Copy \(these run at the same time, 1 at most\)/);
  assert.match(text, /\(on both\)\n/);
  assert.doesNotMatch(formatPlan(fakePlan(), { explainSsh: false }), /Note:/);
});

test("viewOf: the JSON plan keeps id, title, host, readable commands, and the full ssh apart", () => {
  const v = viewOf(fakePlan(), ["a note"]);
  const json = JSON.parse(JSON.stringify(v)) as typeof v;
  assert.equal(json.phase, "hot-sync");
  assert.deepEqual(
    json.stages.map((s) => s.name),
    ["Stop", "Copy", "Databases"],
  );
  const step = json.stages[1]!.steps[0]!;
  assert.deepEqual(Object.keys(step).sort(), ["commands", "host", "id", "title"]);
  assert.equal(step.id, "rsync:/a");
  assert.match(step.commands[0]!, / -e ssh root@bm-origin:\/a\/ \/a\/$/);
  assert.match(json.ssh ?? "", /^ssh -o BatchMode=yes .* -o ControlPath=/);
  assert.deepEqual(json.notes, ["a note"]);
});

/** The verification's plan for a profile (built as `plan` builds it; nothing runs). */
function verifyOutline(profile: Profile) {
  const into = { app: {} as App, log: new DifferenceLog(0), found: newFound() };
  return verifyPlan({ profile } as MigrationContext, { port: () => 0 }, into);
}

test("outlines follow the profile and the version", () => {
  const v35 = verifyOutline(PROFILES["3.5"]!);
  assert.deepEqual(
    v35.stages.flatMap((s) => s.steps.map((x) => x.id)),
    ["verify-files", "verify-db:bj"],
  );
  const v4 = verifyOutline(PROFILES["4"]!);
  assert.ok(v4.stages[0]!.steps.some((s) => s.id === "verify-db:bj-data"));
  assert.match(
    JSON.stringify(postOutline("5.2.3")),
    /internal-api\/system\/firewall\/_updatefirewallrules {2}\(BlueMind 5\.2\.3\)/,
  );
  assert.match(JSON.stringify(postOutline("4.1.56")), /POST http:\/\/localhost:8090\/api\/system\/security/);
  assert.match(
    JSON.stringify(postOutline("5.1.3")),
    /internal-api\/system\/firewall/,
    "every 5.x: the internal endpoint",
  );
});

// ---------------------------------------------------------------------------------------------
// The configuration file

function facts(over: Partial<Record<string, string>> = {}): HostFacts {
  const kv = {
    hostname: "bm-origin",
    pm: "dpkg",
    bm_version: "4.1.56",
    os_id: "debian",
    os_version: "11",
    os_pretty: "Debian GNU/Linux 11 (bullseye)",
    init: "systemd",
    rsync: "3.2.3",
    pg_dump: "13",
    subscription: "1",
    clock: "1.0",
    ...over,
  };
  const ini = "[global]\nexternal-url = mail.example.test\nhost = 10.0.0.1\n";
  return parseFacts(
    `${Object.entries(kv)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n")}\n--- bm.ini\n${ini}--- end\n`,
  );
}

function draft(origin: SshTarget, over: Partial<Settings> = {}, target = facts({ hostname: "bm-target" })) {
  const settings = {
    stateDir: "/srv/bm state",
    logDir: "/var/log/bm-migrate",
    bwlimit: 5000,
    nice: true,
    dbJobs: 4,
    catchUpAfter: 60 as number | null,
    ...over,
    origin,
  };
  const d: ConfigDraft = {
    settings,
    origin: {
      label: formatDestination(origin),
      facts: facts(),
      spaces: [
        {
          path: "/var/spool/cyrus",
          mount: "/",
          availBytes: 10 * 2 ** 30,
          availInodes: 5000,
          totalInodes: 9000,
        },
      ],
    },
    target: {
      label: "bm-target",
      facts: target,
      spaces: [
        {
          path: "/var/spool/cyrus",
          mount: "/",
          availBytes: 20 * 2 ** 30,
          availInodes: 7000,
          totalInodes: 9000,
        },
        { path: "/srv/bm state", mount: "/srv", availBytes: 3 * 2 ** 30, availInodes: 0, totalInodes: 0 },
      ],
    },
    profile: PROFILES[over.profile ?? "4"]!,
    profileForced: over.profile !== undefined,
    writtenAt: "2026-01-02T03:04:05.000Z",
  };
  return d;
}

function loadBack(text: string): Settings {
  const f = join(tmp(), "bm-migrate.conf");
  writeFileSync(f, text);
  return loadSettings({ flags: {}, configFile: f, configExplicit: true });
}

test("the rendered file loads back through loadSettings with the same settings", () => {
  for (const origin of [
    { user: "root", host: "bm-origin" },
    { user: "admin", host: "10.1.2.3", port: 2222 },
    { user: "root", host: "fd00::10", port: 22 },
  ] satisfies SshTarget[]) {
    const d = draft(origin);
    const s = loadBack(renderConfigFile(d));
    assert.deepEqual(s.origin, origin);
    assert.equal(s.stateDir, "/srv/bm state");
    assert.equal(s.logDir, "/var/log/bm-migrate");
    assert.equal(s.bwlimit, 5000);
    assert.equal(s.dbJobs, 4);
    assert.equal(s.nice, true);
    assert.equal(s.profile, undefined, "a detected profile is not forced");
  }
  const forced = loadBack(renderConfigFile(draft({ user: "root", host: "o" }, { profile: "5.2" })));
  assert.equal(forced.profile, "5.2");
});

test("every line is a comment, blank or a key; every key is explained; what was detected is said", () => {
  const text = renderConfigFile(draft({ user: "root", host: "bm-origin" }));
  for (const line of text.split("\n")) assert.match(line, /^(#.*|)$|^[a-z-]+ = .*$/, `line: ${line}`);
  for (const k of ["origin", "state-dir", "log-dir", "bwlimit", "nice", "db-jobs"]) {
    assert.match(text, new RegExp(`^# ${k}: .*\\n(#.*\\n)*${k} = `, "m"), `${k} explained above its line`);
  }
  assert.match(text, /^# profile: [^\n]*\n(#[^\n]*\n)*# profile = 4$/m);
  assert.match(text, /origin root@bm-origin: Debian GNU\/Linux 11 \(bullseye\), BlueMind 4\.1\.56 \(dpkg\),/);
  assert.match(text, /target bm-target: .*BlueMind 4\.1\.56/);
  // Comments wrap: the facts are matched on the text with its comment lines joined.
  const flat = text.replace(/\n# +/g, " ");
  assert.equal(flat.match(/external-url mail\.example\.test/g)?.length, 2);
  assert.match(text, /What moves: profile 4, BlueMind 4\.x/);
  assert.match(text, /data directories \(rsync, hot and cold\): \/var\/spool\/cyrus, \/var\/lib\/cyrus,/);
  assert.match(text, /databases .*: bj, bj-data/);
  assert.match(flat, /made equal to the origin.s .*\/etc\/bm\*\/, \/etc\/postfix\//);
  assert.match(
    text,
    /Free space on the target[^\n]*\n# +\/: 20\.0 GiB, 7,000 inodes free, for \/var\/spool\/cyrus/,
  );
  assert.match(text, /\/srv: 3\.0 GiB free, for \/srv\/bm state \(state-dir: dumps\)/);
  assert.doesNotMatch(text, /^# +! /m, "no mismatch on a matching pair");
  for (const line of text.split("\n")) assert.ok(line.length <= 110, `long line: ${line}`);
});

test("mismatches the procedure forbids are written as ! lines", () => {
  const other = facts({ hostname: "bm-target", bm_version: "4.1.57", subscription: "0" });
  delete other.bmIni;
  const text = renderConfigFile(draft({ user: "root", host: "bm-origin" }, {}, other));
  assert.match(
    text,
    /# {3}! the BlueMind versions differ \(4\.1\.56 on the origin, 4\.1\.57 on the target\)/,
  );
  assert.match(text, /! external-url differs \(mail\.example\.test on the origin, none on the target\)/);
  assert.match(text, /! the target has no subscription file/);
  assert.doesNotThrow(() => loadBack(text));
});

// ---------------------------------------------------------------------------------------------
// CLI and JSON lines (needs `npm run build`)

test("status --json prints one line with ts and type", () => {
  const dir = tmp();
  const r = cli("status", "--json", "--state-dir", dir, "--log-dir", join(dir, "log"));
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split("\n").filter(Boolean);
  assert.equal(lines.length, 1);
  const o = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(o["type"], "status");
  assert.ok(typeof o["ts"] === "string" && !Number.isNaN(Date.parse(o["ts"])), `ts: ${String(o["ts"])}`);
});

test("docs/json-events.md documents every event type, with an example line that parses", () => {
  const events = readFileSync(new URL("../../../src/engine/events.ts", import.meta.url), "utf8");
  const doc = readFileSync(new URL("../../../docs/json-events.md", import.meta.url), "utf8");
  const types = [...events.matchAll(/type: "([a-z-]+)"/g)].map((m) => m[1]!);
  assert.ok(types.length >= 9, `types: ${types.join(", ")}`);
  const documented = [...types, "error", "finding", "check-result", "status", "plan", "config-written"];
  for (const t of documented) {
    assert.match(doc, new RegExp(`^### \`${t}\``, "m"), `${t} has a section`);
    const example = doc.split(new RegExp(`^### \`${t}\``, "m"))[1]!.split(/^### /m)[0]!;
    const line = /^\{"ts":.*\}$/m.exec(example)?.[0];
    assert.ok(line, `${t} has an example line`);
    const o = JSON.parse(line) as Record<string, unknown>;
    assert.equal(o["type"], t);
  }
});

test("--dry-run: rollback and post print their plans and change nothing; plan's --phase is checked", () => {
  const dir = tmp();
  const common = ["--state-dir", dir, "--log-dir", join(dir, "log")];
  const rb = cli("rollback", "--dry-run", ...common);
  assert.equal(rb.code, 0, rb.err);
  assert.match(
    rb.out,
    /Plan for rollback:\n.*\n {4}1\. \[rollback:origin\] Restart PostgreSQL, postfix and BlueMind/,
  );
  assert.match(rb.out, /Nothing was done\./);
  const post = cli("post", "--dry-run", "--json", ...common);
  assert.equal(post.code, 0, post.err);
  const plan = JSON.parse(post.out.trim()) as {
    type: string;
    phase: string;
    stages: { steps: { id: string }[] }[];
  };
  assert.equal(plan.type, "plan");
  assert.equal(plan.phase, "post");
  assert.deepEqual(
    plan.stages.flatMap((s) => s.steps.map((x) => x.id)),
    ["connect", "firewall", "mail-repair", "mynetworks"],
  );
  assert.equal(
    spawnSync("ls", [dir]).stdout.toString().includes("journal.jsonl"),
    false,
    "nothing journaled",
  );
  const bad = cli("plan", "--phase", "nope", ...common);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--phase/);
  const both = cli("swap", "--dry-run", "--apply", ...common);
  assert.equal(both.code, 2);
  assert.match(both.err, /--dry-run and --apply contradict each other/);
});

test("init keeps an existing file unless --force, before connecting anywhere", () => {
  const dir = tmp();
  const f = join(dir, "bm.conf");
  writeFileSync(f, "# mine\n");
  const r = cli("init", "--origin", "root@nowhere.invalid", "--out", f, "--state-dir", dir, "--log-dir", dir);
  assert.equal(r.code, 2);
  assert.match(r.err, /bm\.conf exists; it was kept as it is\nnext: add --force/);
  assert.equal(readFileSync(f, "utf8"), "# mine\n");
});
