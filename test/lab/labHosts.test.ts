// The lab itself: two isolated hosts that behave like two BlueMind servers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { Lab } from "../../lab/lab.js";
import { labForTests } from "./support.js";

let lab: Lab;
labForTests("t-lab", { scale: 1 }, (l) => (lab = l));

test("each host has its own hostname, files and PostgreSQL", () => {
  assert.equal(lab.must("origin", "hostname").trim(), "bm-origin");
  assert.equal(lab.must("target", "hostname").trim(), "bm-target");
  lab.must("origin", "echo only-here > /etc/bm/lab-isolation-probe");
  assert.equal(
    lab.sh("target", "test -e /etc/bm/lab-isolation-probe").code,
    1,
    "a file written on the origin is absent on the target",
  );
  assert.equal(existsSync("/etc/bm/lab-isolation-probe"), false, "and absent on the machine");
  lab.must("origin", "runuser -u postgres -- psql -qc 'CREATE TABLE lab_probe(x int)' bj");
  const t = lab.sh(
    "target",
    "runuser -u postgres -- psql -Atc \"select to_regclass('lab_probe') is null\" bj",
  );
  assert.equal(t.stdout.trim(), "t", "a table created on the origin's PostgreSQL is absent on the target's");
  lab.must("origin", "runuser -u postgres -- psql -qc 'DROP TABLE lab_probe' bj");
});

test("the BlueMind stand-in answers like BlueMind", () => {
  assert.equal(lab.must("origin", "dpkg-query -W -f='${Version}' bm-core"), "4.1.56");
  assert.match(lab.must("target", "cat /etc/bm/bm.ini"), /external-url = bluemind\.lab\.test/);
  const uidO = lab.must("origin", "id -u cyrus").trim();
  const uidT = lab.must("target", "id -u cyrus").trim();
  assert.notEqual(uidO, uidT, "cyrus has another uid on each host, as after a change of distribution");
});

test("root on the target reaches root on the origin by key, host key verified, without prompts", () => {
  const r = lab.sh("target", "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes root@bm-origin hostname");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "bm-origin");
});

test("bmctl stop stops the live writer; start resumes it", () => {
  const count = () => Number(lab.must("origin", "find /var/spool/cyrus/data -name 'w*.' | wc -l").trim());
  const seq = () => lab.must("origin", "cat /var/lib/cyrus/bm-lab-writer.seq").trim();
  lab.must("origin", "sleep 1");
  assert.match(lab.must("origin", "bmctl status"), /running/);
  lab.must("origin", "bmctl stop");
  assert.equal(lab.sh("origin", "bmctl status").code, 3);
  const a = seq();
  const filesA = count();
  lab.must("origin", "sleep 1");
  assert.equal(seq(), a, "no mail is delivered while BlueMind is stopped");
  assert.equal(count(), filesA);
  lab.must("origin", "bmctl start; sleep 1");
  assert.notEqual(seq(), a, "the writer delivers again once started");
});

test("power commands are stand-ins that only take the lab host off the network", () => {
  const r = lab.sh("origin", "readlink -f $(command -v poweroff); head -3 $(command -v poweroff)");
  assert.match(r.stdout, /stand-in/);
});

test("down leaves no namespace, process or state behind", () => {
  const other = Lab.up("t-lab2", { scale: 0, data: false });
  const pids = [other.pid("origin"), other.pid("target")];
  const state = other.env.LAB_STATE;
  other.down();
  const ns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(ns, new RegExp(`bmlab-${other.name}-`));
  for (const p of pids)
    assert.equal(
      existsSync(`/proc/${p}/status`) &&
        !/State:\s+Z/.test(spawnSync("cat", [`/proc/${p}/status`], { encoding: "utf8" }).stdout),
      false,
    );
  assert.equal(existsSync(state), false);
  const mounts = spawnSync("cat", ["/proc/self/mountinfo"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(mounts, /lab-(origin|target)-/);
});
