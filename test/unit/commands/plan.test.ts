// plan's outlines (they follow the profile and the version), and --dry-run on the phase commands.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { PROFILES, type Profile } from "../../../src/bluemind/profiles.js";
import { postOutline } from "../../../src/phases/post.js";
import type { App } from "../../../src/engine/app.js";
import type { MigrationContext } from "../../../src/phases/context.js";
import { DifferenceLog } from "../../../src/verify/compare.js";
import { newFound, verifyPlan } from "../../../src/verify/run.js";
import { cli } from "../../support/cli.js";
import { tempDir } from "../../support/tmp.js";

const tmp = (): string => tempDir("bm-plan-");

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
