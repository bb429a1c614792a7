// `bm-migrate run`: every phase in order in one command; interrupted, it resumes from the journal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Lab } from "../../lab/lab.js";
import { journal, labForTests, ORIGIN, waitForJournal } from "./support.js";

let lab: Lab;

labForTests("t-run", { scale: 1 }, (l) => (lab = l));

test("run refuses to start without a terminal or --yes (it must ask before the downtime)", () => {
  const r = lab.bm(["run", ...ORIGIN]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /add --yes/);
});

test("run, killed during the hot sync, resumes and completes every phase", async () => {
  const child = lab.bmSpawn(["run", ...ORIGIN, "--yes", "--bwlimit", "4000"]);
  const exited = new Promise<void>((res) => child.on("exit", () => res()));
  await waitForJournal(lab, (r) => r["type"] === "step-started" && String(r["step"]).startsWith("rsync:"));
  await sleep(1000);
  child.kill("SIGKILL");
  await exited;
  assert.ok(!journal(lab).some((r) => r["type"] === "pass-finished"), "killed before any phase finished");

  const r = lab.bm(["run", ...ORIGIN, "--yes"], { timeoutMs: 600_000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /resuming pass/, "the interrupted hot pass was resumed");
  assert.match(r.stdout, /The cold phase took [\d.]+ (ms|s|min).*the outage goes on/);
  assert.match(r.stdout, /Verified: the target holds what the origin holds/);
  assert.match(r.stdout, /Swap done/);
  assert.match(r.stdout, /The migration is complete/);
  const phases = journal(lab)
    .filter((x) => x["type"] === "pass-finished")
    .map((x) => x["phase"]);
  assert.deepEqual(
    [...new Set(phases)],
    ["hot-sync", "cold-sync", "swap", "post"],
    "post is a journaled phase too",
  );
  assert.ok(journal(lab).some((x) => x["type"] === "verify-result" && x["ok"] === true));
  assert.ok(
    journal(lab).some((x) => x["type"] === "step-done" && x["step"] === "mail-repair"),
    "post ran BlueMind's mail maintenance, journaled as a step of its phase",
  );
  // The old address now answers from the target.
  const hostKey = lab.must("target", "cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub").trim();
  const seen = lab.lan(["ssh-keyscan", "-t", "ed25519", "-T", "5", lab.env.LAB_ORIGIN_IP]);
  assert.match(seen.stdout, new RegExp(hostKey.replace(/[+/]/g, (c) => `\\${c}`)));
  // A further run has nothing left to do.
  const again = lab.bm(["run", ...ORIGIN, "--yes"]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /The migration is complete/);
});
