// Issue 17's pure parts: what the profiles hold per version, the configuration mirror's set-aside
// list from rsync's itemized output, the postfix queue listing, the domains BlueMind repairs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PROFILES, configScope, profileFor } from "../../../src/bluemind/profiles.js";
import { deletedPaths, mirrorDirsScript, parseExpansion } from "../../../src/phases/configSteps.js";
import { parseQueueList } from "../../../src/bluemind/postfixQueue.js";
import { domainRepair, domainsToRepair, repairConfig } from "../../../src/bluemind/repairs.js";
import { parseFacts } from "../../../src/bluemind/facts.js";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("every profile carries the hollow directory, the postfix queue, /etc/bm*, /etc/postfix and elasticsearch.yml (mandatory)", () => {
  for (const p of Object.values(PROFILES)) {
    assert.ok(p.dataDirs.includes("/var/spool/bm-hollowed"), p.id);
    assert.ok(p.dataDirs.includes("/var/spool/postfix/deferred"), p.id);
    assert.deepEqual(
      p.configMirrors.map((m) => m.pattern),
      ["/etc/bm*", "/etc/postfix", "/var/lib/bm-ca"],
    );
    const es = p.configFiles.find((c) => c.pattern.endsWith("elasticsearch.yml"));
    assert.ok(es && !es.optional, `${p.id}: elasticsearch.yml is not optional`);
    assert.ok(p.configFiles.some((c) => c.pattern === "/etc/ssl/certs/bm_cert-*.pem"));
    assert.ok(p.configFiles.some((c) => c.pattern === "/etc/nginx/sw.htpasswd"));
    assert.ok(p.repairs.includes("hollow.directory"));
    // verify walks the mirrored directories whole
    assert.ok(configScope(p).some((c) => c.pattern === "/etc/postfix" && c.recursive));
  }
});

test("5.x: Keycloak's database and repair, bm-core's leftovers, the password generated from 5.0 on; 4.x: Cyrus's files", () => {
  const five = profileFor("5.0.3")!;
  assert.equal(five.id, "5");
  assert.ok(five.dbPasswordInIni, "5.0 generates the database password at install");
  assert.ok(five.databases.includes("keycloak"));
  assert.ok(five.repairs.includes("domain.keycloak"));
  assert.ok(five.targetLeftovers.includes("/var/cache/bm-core/tasks-queues"));
  assert.ok(!five.configFiles.some((c) => c.pattern.startsWith("/etc/imapd")));
  const four = profileFor("4.1.56")!;
  assert.ok(!four.dbPasswordInIni);
  assert.ok(!four.databases.includes("keycloak"));
  assert.deepEqual(four.targetLeftovers, []);
  assert.ok(four.configFiles.some((c) => c.pattern === "/etc/cyrus*"));
});

test("the mirror's set-aside list comes from rsync's itemized deletions", () => {
  assert.deepEqual(
    deletedPaths([
      "Number of files: 3",
      "*deleting   fresh-install.properties",
      ">f+++++++++ bm.ini",
      "*deleting   local/extra dir/x.xml",
    ]),
    ["fresh-install.properties", "local/extra dir/x.xml"],
  );
});

test("the mirror patterns expand to directories only (a real bash over a temp tree)", () => {
  const root = mkdtempSync(join(tmpdir(), "bm-mirror-"));
  for (const d of ["etc/bm", "etc/bm-hps", "etc/postfix"]) mkdirSync(join(root, d), { recursive: true });
  const script = mirrorDirsScript([
    { pattern: `${root}/etc/bm*` },
    { pattern: `${root}/etc/postfix` },
    { pattern: `${root}/etc/nothere`, optional: true },
  ]);
  const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
  const e = parseExpansion(r.stdout, "DIR:");
  assert.deepEqual(e.found, [`${root}/etc/bm`, `${root}/etc/bm-hps`, `${root}/etc/postfix`]);
  assert.deepEqual(e.missing, [`${root}/etc/nothere`]);
});

test("queued messages are counted per queue", () => {
  const q = parseQueueList("deferred/A/A1B2C3\ndeferred/F/F00D\nactive/B77\n\n");
  assert.equal(q.count, 3);
  assert.deepEqual(q.byQueue, { deferred: 2, active: 1 });
});

test("BlueMind repairs every domain but the global one, with a RepairConfig", () => {
  const list = [
    { uid: "global.virt", value: { name: "global.virt", global: true } },
    { uid: "bluemind.lab", value: { name: "bluemind.lab", global: false } },
    { uid: "other.example", value: { name: "other.example" } },
  ];
  assert.deepEqual(domainsToRepair(list), ["bluemind.lab", "other.example"]);
  assert.throws(() => domainsToRepair({ values: {} }), /did not answer a list/);
  assert.equal(
    domainRepair("bluemind.lab").path,
    "/api/directory/bluemind.lab/bluemind.lab/mgmt/_maintenance/repair",
  );
  assert.deepEqual(repairConfig(["hollow.directory", "domain.keycloak"]).opIdentifiers, [
    "hollow.directory",
    "domain.keycloak",
  ]);
});

test("the facts list BlueMind's installed packages", () => {
  const f = parseFacts(
    "hostname=x\npm=dpkg\nbm_version=4.1.56\nbmpkg=bm-core\nbmpkg=bm-plugin-core-ldap-import\nclock=1\n",
  );
  assert.deepEqual(f.bmPackages, ["bm-core", "bm-plugin-core-ldap-import"]);
});

test("the report lists what was set aside, the queue's counts and the repairs, from the journal", async () => {
  const { carriedView } = await import("../../../src/report/model.js");
  const rec = (step: string, data: Record<string, unknown>, summary = "") => ({
    t: "2026-12-04T22:00:00.000Z",
    type: "step-done",
    phase: "cold-sync",
    pass: "p1",
    step,
    summary,
    data,
  });
  const c = carriedView([
    { t: "2026-12-04T21:59:00.000Z", type: "postfix-flush", before: 7, after: 5 },
    rec("config", {
      setAside: ["/etc/bm/bm-fresh-install.properties"],
      backupDir: "/var/lib/bm-migrate/config-before/p1",
    }),
    rec("target-leftovers", { setAside: ["/var/cache/bm-core/tasks-queues"], backupDir: "/x" }),
    rec("postfix-queue:origin", { queued: 5 }),
    rec("postfix-queue:target", { requeued: 5, leftQueue: 5, stillQueued: 0 }),
    rec("repair:domains", {}, "hollow.directory repaired on 1 domain(s): bluemind.lab"),
  ]);
  assert.deepEqual(
    c.setAside.map((s) => s.path),
    ["/etc/bm/bm-fresh-install.properties", "/var/cache/bm-core/tasks-queues"],
  );
  assert.deepEqual(c.queue, {
    beforeFlush: 7,
    afterFlush: 5,
    atStop: 5,
    requeued: 5,
    leftQueue: 5,
    stillQueued: 0,
  });
  assert.match(c.repairs ?? "", /hollow\.directory/);
});

test("the profile follows the BlueMind version", () => {
  assert.deepEqual(profileFor("3.5.14-2")?.databases, ["bj"]);
  assert.equal(profileFor("4.1.56")?.id, "4");
  assert.ok(profileFor("4.1.56")?.configFiles.some((c) => c.pattern === "/etc/imapd*"));
  assert.ok(!profileFor("5.1.2")?.configFiles.some((c) => c.pattern.startsWith("/etc/bm-hps")));
  assert.equal(profileFor("5.3.0-1")?.dbPasswordInIni, true);
  assert.equal(profileFor("2.9"), undefined);
  assert.equal(profileFor("not a version"), undefined);
});
