// init in the two-host lab, driven only through bin/bm-migrate on the target: the file it writes
// from the real hosts' facts, which status and check then use; an existing file is kept.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { bmJson, labForTests } from "./support.js";

let lab: Lab;
labForTests("i1", { scale: 1 }, (l) => (lab = l));

test("init writes a commented file that status and check then use; an existing file is kept", () => {
  lab.must("target", "rm -f /tmp/p1-init.conf");
  const t0 = Date.now();
  const r = lab.bm(
    ["init", "--origin", "root@bm-origin", "--out", "/tmp/p1-init.conf", "--bwlimit", "7000"],
    {
      env: { NO_COLOR: "1" },
      timeoutMs: 120_000,
    },
  );
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Wrote \/tmp\/p1-init\.conf: origin root@bm-origin, profile 4/);
  assert.match(r.stdout, /Next: bm-migrate check --config \/tmp\/p1-init\.conf/);
  const text = lab.must("target", "cat /tmp/p1-init.conf");
  assert.match(text, /^origin = root@bm-origin$/m);
  assert.match(text, /^bwlimit = 7000$/m);
  assert.match(text, /origin root@bm-origin: .*BlueMind 4\.1\.56/);
  assert.match(text, /target bm-target: .*BlueMind 4\.1\.56/);
  assert.match(text, /What moves: profile 4/);
  assert.match(text, /Free space on the target \(at init\)\n# +\/\S*: [\d.]+ [KMGT]?i?B/);
  assert.ok(seconds < 30, `init took ${seconds} s`);

  const st = bmJson(lab, ["status", "--config", "/tmp/p1-init.conf"]);
  assert.equal(st.code, 0, st.stderr);
  assert.equal(st.lines[0]?.["type"], "status");

  // No --origin: check takes it from the file.
  const chk = bmJson(lab, ["check", "--config", "/tmp/p1-init.conf"], { timeoutMs: 120_000 });
  assert.equal(chk.code, 0, chk.stdout + chk.stderr);
  const lines = chk.lines;
  const ssh = lines.find((o) => o["type"] === "finding" && o["id"] === "ssh");
  assert.ok(ssh, "check reports its ssh finding");
  assert.match(JSON.stringify(ssh), /bm-origin/);
  assert.equal(lines.find((o) => o["type"] === "check-result")?.["blockers"], 0);

  const again = lab.bm(["init", "--origin", "root@other", "--out", "/tmp/p1-init.conf"]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /exists; it was kept as it is/);
  assert.equal(lab.must("target", "cat /tmp/p1-init.conf"), text);
  const forced = bmJson(lab, ["init", "--origin", "root@bm-origin", "--out", "/tmp/p1-init.conf", "--force"]);
  assert.equal(forced.code, 0, forced.stderr);
  const written = forced.lines.find((o) => o["type"] === "config-written");
  assert.deepEqual(
    {
      path: written?.["path"],
      origin: written?.["origin"],
      profile: written?.["profile"],
      warnings: written?.["warnings"],
    },
    { path: "/tmp/p1-init.conf", origin: "root@bm-origin", profile: "4", warnings: [] },
  );
  assert.match(lab.must("target", "cat /tmp/p1-init.conf"), /^bwlimit = 0$/m);
});
