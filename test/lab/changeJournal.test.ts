// The change journal in the lab: two hot passes while the origin's live writer runs (the second
// visits only what changed since the first), deliberate changes between the last hot pass and the
// cold sync, then the cold sync's final pass visits only the changed paths, and the oracle finds
// both hosts identical. A watcher killed between hot and
// cold means a full pass, with the same result.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN } from "./support.js";

const SCALE = Number(process.env["BM_TEST_SCALE"] ?? 1);
let lab: Lab;

labForTests("cj1", { scale: SCALE }, (l) => (lab = l));

/** Every kind of change the final pass must carry, made in /var/spool/cyrus (and one in bm-docs). */
const CHANGES = String.raw`set -e
c=/var/spool/cyrus/data
set -- $(find $c -type f -name '*.' -links 1 | sort | sed -n '5,10p')
d=$(dirname "$1")
echo "new mail" > "$d/cj-new."
# Same size, same mtime, other content: rsync's quick check alone would keep the old one.
cp -p "$2" /tmp/cj-ref; head -c "$(stat -c %s "$2")" /dev/zero | tr '\000' Z > "$2"
touch -r /tmp/cj-ref "$2"; rm /tmp/cj-ref
rm "$3"
mv "$4" "$(dirname "$4")/cj-renamed."
ln "$5" "$d/cj-link."
chmod 0640 "$6"
chown nobody "$1"
mkdir "$d/cj-newdir"; echo x > "$d/cj-newdir/a"; mkdir "$d/cj-newdir/sub"; echo y > "$d/cj-newdir/sub/b"
dd=$(find /var/spool/bm-docs -mindepth 1 -type d | sort | head -1)
mv "$dd" "$dd-cj-renamed"
echo done`;

/** The watcher's pid as recorded on the target (other labs on this machine run their own). */
function watcherPid(): string {
  return lab
    .must("target", "sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p' /var/lib/bm-migrate/changes/watcher.json")
    .trim();
}

/** A script that succeeds while that watcher runs (the lab's init reaps nothing: zombies stay). */
function running(pid: string): string {
  return `grep -q bm-migrate-watcher /proc/${pid}/cmdline 2>/dev/null`;
}

function lastPassStep(phase: string, dir: string): Record<string, unknown> | undefined {
  const done = journal(lab).filter(
    (r) => r["phase"] === phase && r["type"] === "step-done" && r["step"] === `rsync:${dir}`,
  );
  return done.at(-1)?.["data"] as Record<string, unknown> | undefined;
}

const finalPass = (dir: string): Record<string, unknown> | undefined => lastPassStep("cold-sync", dir);

test("the cold sync's final pass copies only the journaled changes, and the hosts end identical", async () => {
  for (let i = 0; i < 2; i++) {
    const hot = lab.bm(["hot-sync", ...ORIGIN]);
    assert.equal(hot.code, 0, hot.stderr + hot.stdout);
  }
  // The second hot pass, while the live writer runs, copied only what changed since the first.
  const hot2 = lastPassStep("hot-sync", "/var/spool/cyrus");
  assert.equal(hot2?.["mode"], "journal", JSON.stringify(hot2));
  assert.ok(Number(hot2?.["listed"]) < 2000, JSON.stringify(hot2));
  const pid = watcherPid();
  assert.match(pid, /^\d+$/);
  assert.equal(lab.sh("target", running(pid)).code, 0, "the watcher runs");
  assert.match(lab.must("origin", CHANGES), /done/);

  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);

  const cyrus = finalPass("/var/spool/cyrus");
  assert.equal(cyrus?.["mode"], "journal", JSON.stringify(cyrus));
  assert.ok(Number(cyrus?.["listed"]) > 0 && Number(cyrus?.["listed"]) < 1000, JSON.stringify(cyrus));
  // The new link to an old file: its other name was found, so rsync -H could link them.
  assert.equal(cyrus?.["linkWalks"], 1, JSON.stringify(cyrus));
  const docs = finalPass("/var/spool/bm-docs");
  assert.equal(docs?.["mode"], "full", "a renamed directory means a full pass of its data directory");
  assert.match(String(docs?.["reason"]), /renamed/);

  assert.equal(lab.sh("target", running(pid)).code, 1, "the watcher is stopped after the final copy");
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
});

test("a watcher killed between hot and cold sync means a full pass, still identical", async () => {
  lab.must("origin", "bmctl start; service postfix start");
  const hot = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(hot.code, 0, hot.stderr + hot.stdout);
  // The whole watcher (its process group), as an OOM kill or a reboot of the target would.
  lab.must("target", `kill -9 -- -${watcherPid()}`);
  lab.must("origin", "sleep 1; echo more > /var/spool/cyrus/data/cj-after-kill.");
  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);
  const cyrus = finalPass("/var/spool/cyrus");
  assert.equal(cyrus?.["mode"], "full", JSON.stringify(cyrus));
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
});

test("a cold sync long after the last hot sync first catches up while the origin serves", async () => {
  lab.must("origin", "bmctl start; service postfix start");
  const hot = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(hot.code, 0, hot.stderr + hot.stdout);
  lab.must(
    "origin",
    `d=/var/spool/cyrus/data/cj-late; mkdir -p $d; for i in 1 2 3; do echo "late $i" > $d/$i.; done; chown -R cyrus:mail $d`,
  );
  // 0 s: any hot pass is "old" (the default waits for 60 s).
  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "0"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);
  assert.match(cold.stdout, /Catching up before the downtime: the last hot sync ended .* ago/);
  const records = journal(lab);
  const coldStart = records.findLastIndex((r) => r["type"] === "pass-started" && r["phase"] === "cold-sync");
  const catchUp = records.findLastIndex((r) => r["type"] === "pass-finished" && r["phase"] === "hot-sync");
  assert.ok(
    catchUp > 0 && catchUp < coldStart,
    "a hot pass finished within the cold sync, before its downtime",
  );
  const caught = records
    .slice(0, coldStart)
    .findLast((r) => r["type"] === "step-done" && r["step"] === "rsync:/var/spool/cyrus");
  const data = caught?.["data"] as Record<string, unknown> | undefined;
  assert.equal(data?.["mode"], "journal", "the catch-up copied only what changed");
  assert.ok(Number(data?.["transferredFiles"]) >= 3, JSON.stringify(data));
  assert.equal(finalPass("/var/spool/cyrus")?.["mode"], "journal");
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
});
