// The plan as printed: every step with its host and commands, stage by stage; commands shown
// readable (the long ssh of rsync's -e said once, in a note).
import { connection, fakePlan, step } from "../../support/plan.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { shellQuote } from "../../../src/adapters/process.js";
import { rsyncArgs } from "../../../src/adapters/rsync.js";
import { formatPlan, readableCommand } from "../../../src/engine/plan.js";

test("the plan prints every step with its host and commands, stage by stage", () => {
  const text = formatPlan({
    phase: "hot-sync",
    stages: [{ name: "Copy", steps: [step("x", []), step("y", [])] }],
  });
  assert.match(text, /Copy \(these run at the same time\)/);
  assert.match(text, /1\. \[x\] step x {2}\(on target\)\n\s+\$ do x/);
});

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
