// What the profiles hold per BlueMind version.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PROFILES, configScope, profileFor } from "../../../src/bluemind/profiles.js";

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

test("the profile follows the BlueMind version", () => {
  assert.deepEqual(profileFor("3.5.14-2")?.databases, ["bj"]);
  assert.equal(profileFor("4.1.56")?.id, "4");
  assert.ok(profileFor("4.1.56")?.configFiles.some((c) => c.pattern === "/etc/imapd*"));
  assert.ok(!profileFor("5.1.2")?.configFiles.some((c) => c.pattern.startsWith("/etc/bm-hps")));
  assert.equal(profileFor("5.3.0-1")?.dbPasswordInIni, true);
  assert.equal(profileFor("2.9"), undefined);
  assert.equal(profileFor("not a version"), undefined);
});
