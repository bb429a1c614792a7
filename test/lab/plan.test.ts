// plan in the two-host lab, driven only through bin/bm-migrate on the target: the plans of every
// phase from the real hosts' facts, read-only. (init's file: init.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { bmJson, labForTests } from "./support.js";

let lab: Lab;
labForTests("p1", { scale: 1 }, (l) => (lab = l));

/**
 * What plan must leave as it was: the state directory's content (journal, lock) and the data.
 * (Every command creates the state directory itself, empty.)
 */
function untouched(): string {
  return lab.must(
    "target",
    "ls -A /var/lib/bm-migrate 2>/dev/null; cat /var/lib/bm-migrate/journal.jsonl 2>/dev/null; ls -la /var/spool/cyrus | md5sum",
  );
}

test("plan prints every phase in order with ids, hosts and readable commands, and changes nothing", () => {
  const before = untouched();
  const t0 = Date.now();
  const r = lab.bm(["plan", "--origin", "root@bm-origin"], { env: { NO_COLOR: "1" }, timeoutMs: 120_000 });
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const order = [...r.stdout.matchAll(/^Plan for ([a-z-]+):/gm)].map((m) => m[1]);
  assert.deepEqual(order, ["check", "hot-sync", "cold-sync", "verify", "swap", "post"]);
  assert.match(r.stdout, /Plans from root@bm-origin \(.*BlueMind 4\.1\.56\) to bm-target .*profile 4/);
  assert.match(
    r.stdout,
    /\[rsync:\/var\/spool\/cyrus\] Copy \/var\/spool\/cyrus {2}\(on target bm-target, once change-journal:start is done\)/,
  );
  assert.match(
    r.stdout,
    /\$ rsync -aHS .* -e ssh .*root@bm-origin:\/var\/spool\/cyrus\/ \/var\/spool\/cyrus\//,
  );
  assert.match(r.stdout, /\[origin:disable\] .*\(on origin root@bm-origin\)/);
  assert.match(r.stdout, /\[verify-db:bj-data\]/);
  assert.match(r.stdout, /\[mynetworks\]/);
  // The long ssh options appear once, in the closing note, not in every command.
  assert.equal(r.stdout.match(/ControlPath=/g)?.length, 1, r.stdout);
  assert.match(
    r.stdout,
    /All SSH to the origin goes through one master connection.*stands for: ssh -o BatchMode=yes/,
  );
  assert.match(r.stdout, /Nothing was done\./);
  assert.equal(untouched(), before, "plan wrote nothing");
  assert.ok(seconds < 30, `plan took ${seconds} s`);
});

test("plan --json: one plan object per phase with stages of steps {id, title, host, commands[, waitFor]}", () => {
  const r = bmJson(lab, ["plan", "--origin", "root@bm-origin"], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const plans = r.lines.filter((o) => o["type"] === "plan");
  assert.deepEqual(
    plans.map((p) => p["phase"]),
    ["check", "hot-sync", "cold-sync", "verify", "swap", "post"],
  );
  for (const p of plans) {
    assert.equal(typeof p["ts"], "string");
    const stages = p["stages"] as { name: string; steps: Record<string, unknown>[] }[];
    assert.ok(stages.length > 0, `${String(p["phase"])} has stages`);
    for (const s of stages.flatMap((x) => x.steps)) {
      assert.deepEqual(
        Object.keys(s)
          .filter((k) => k !== "waitFor")
          .sort(),
        ["commands", "host", "id", "title"],
      );
      if (s["waitFor"] !== undefined) assert.ok(Array.isArray(s["waitFor"]), "waitFor lists step ids");
      assert.ok(["origin", "target", "both"].includes(String(s["host"])));
    }
  }
  const hot = plans[1]!;
  assert.deepEqual(hot["hosts"], { origin: "root@bm-origin", target: "bm-target" });
  assert.match(String(hot["ssh"]), /^ssh -o BatchMode=yes .*ControlPath=/);
  const ids = (hot["stages"] as { steps: { id: string }[] }[]).flatMap((s) => s.steps.map((x) => x.id));
  assert.ok(ids.includes("rsync:/var/spool/cyrus") && ids.includes("stop-services:target"), ids.join(" "));
  const cyrus = (hot["stages"] as { steps: Record<string, unknown>[] }[])
    .flatMap((s) => s.steps)
    .find((x) => x["id"] === "rsync:/var/spool/cyrus");
  assert.deepEqual(cyrus?.["waitFor"], ["change-journal:start"], "copies start once the journal watches");
});

test("--dry-run on verify and swap, and plan --phase, print one phase's plan", () => {
  const v = lab.bm(["verify", "--dry-run", "--origin", "root@bm-origin"], { env: { NO_COLOR: "1" } });
  assert.equal(v.code, 0, v.stderr);
  assert.deepEqual(
    [...v.stdout.matchAll(/^Plan for ([a-z-]+):/gm)].map((m) => m[1]),
    ["verify"],
  );
  const s = bmJson(lab, ["swap", "--dry-run", "--origin", "root@bm-origin"]);
  assert.equal(s.code, 0, s.stderr);
  const swap = s.lines.filter((o) => o["type"] === "plan");
  assert.deepEqual(
    swap.map((p) => p["phase"]),
    ["swap"],
  );
  const c = lab.bm(["plan", "--phase", "cold-sync", "--origin", "root@bm-origin"], {
    env: { NO_COLOR: "1" },
  });
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(
    [...c.stdout.matchAll(/^Plan for ([a-z-]+):/gm)].map((m) => m[1]),
    ["cold-sync"],
  );
  assert.match(c.stdout, /\[database:bj\]/);
});
