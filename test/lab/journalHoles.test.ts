// The change journal's holes, each reproduced end to end (issue #25, items 1-4): between the last
// hot sync and the cold sync, something the journal used to miss happens on the origin (or to the
// target's clock); the cold sync must still leave the target equal to the origin, by a listed copy
// that saw the change or by a full pass that says why. Each scenario: two hot syncs (the journal
// watching, the second a listed copy), the hostile event, the cold sync, the lab's own comparison.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN } from "./support.js";

let lab: Lab;
labForTests("jh1", { scale: 1 }, (l) => (lab = l));

/** The origin serving again (the previous scenario's cold sync stopped it). */
function serve(): void {
  lab.must("origin", "bmctl start; service postfix start");
}

function hot(env?: Record<string, string>): void {
  const r = lab.bm(["hot-sync", ...ORIGIN], env ? { env } : {});
  assert.equal(r.code, 0, r.stderr + r.stdout);
}

function cold(): void {
  const r = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
}

/** The cold sync's final copy of /var/spool/cyrus, as journaled. */
function finalCyrus(): Record<string, unknown> {
  const done = journal(lab).filter(
    (r) => r["phase"] === "cold-sync" && r["type"] === "step-done" && r["step"] === "rsync:/var/spool/cyrus",
  );
  const data = (done.at(-1)?.["data"] ?? {}) as Record<string, unknown>;
  // Where the final copy's time went (the barrier's cost among it), for the report.
  console.log(`# final copy of /var/spool/cyrus: ${JSON.stringify({ mode: data["mode"], ms: data["ms"] })}`);
  return data;
}

/** The origin's inotifywait of this lab (other labs on the machine run theirs: same name, other namespace). */
const OWN_INOTIFYWAIT = String.raw`for p in $(pgrep -x inotifywait); do
  [ "$(readlink /proc/$p/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] && echo $p
done; true`;

/** A directory of the origin's mail holding messages: changes made there create no new directory. */
const MAILDIR = String.raw`dirname "$(find /var/spool/cyrus/data -type f -name '*.' | sort | head -1)"`;

test("item 1: a burst past the origin's inotify queue while its watcher is stopped is not lost", async () => {
  serve();
  hot();
  hot();
  const pids = lab.must("origin", OWN_INOTIFYWAIT).trim().split("\n").filter(Boolean);
  assert.equal(pids.length, 1, `one inotifywait on the origin: ${pids.join(" ")}`);
  // max_queued_events is not namespaced (a machine-wide sysctl): the burst is made big enough.
  const limit = Number(lab.must("origin", "cat /proc/sys/fs/inotify/max_queued_events"));
  const files = Math.ceil(limit / 2) + 2000; // each file: CREATE and CLOSE_WRITE
  lab.must("origin", `kill -STOP ${pids[0]}`);
  try {
    lab.must(
      "origin",
      `d=$(${MAILDIR}); cd "$d"; i=0; while [ $i -lt ${files} ]; do echo $i > jh-burst-$i.; i=$((i+1)); done`,
    );
  } finally {
    lab.must("origin", `kill -CONT ${pids[0]}`);
  }
  cold();
  // The invariant first: the target equals the origin; then how the final copy got there.
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
  const data = finalCyrus();
  assert.equal(data["mode"], "full", JSON.stringify(data));
  assert.match(String(data["reason"]), /overflowed|watcher ended/);
});

test("item 2: a stalled watcher at the stop is noticed by the barrier, not taken as quiet", async () => {
  serve();
  hot();
  hot();
  const pid = lab.must("origin", OWN_INOTIFYWAIT).trim().split("\n")[0]!;
  lab.must("origin", `kill -STOP ${pid}`);
  try {
    lab.must("origin", `d=$(${MAILDIR}); echo stalled > "$d/jh-stalled."`);
    const r = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  } finally {
    lab.sh("origin", `kill -CONT ${pid}`);
  }
  // The invariant first: the target equals the origin; then how the final copy got there.
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
  const data = finalCyrus();
  assert.equal(data["mode"], "full", JSON.stringify(data));
  assert.match(String(data["reason"]), /barrier did not come back/);
});

test("item 3: the target's clock stepped backwards after the last hot sync hides no change", async () => {
  serve();
  hot();
  // The last hot sync runs two hours ahead (its copy's start is journaled then), then the clock
  // is "corrected" back: the changes after it carry times older than that start.
  hot({
    LD_PRELOAD: "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    FAKETIME: "+2h",
  });
  lab.must(
    "origin",
    `d=$(${MAILDIR}); echo after-step > "$d/jh-clock."; f=$(ls "$d"/*. | head -1); echo changed >> "$f"`,
  );
  cold();
  // The invariant first: the target equals the origin; then how the final copy got there.
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
  const data = finalCyrus();
  assert.equal(data["mode"], "journal", JSON.stringify(data));
});

test("item 4: a write through a hard link whose other name is outside the data directories", async () => {
  serve();
  lab.must(
    "origin",
    `f=$(find /var/spool/cyrus/data -type f -name '*.' -links 1 | sort | tail -1); ln "$f" /var/tmp/jh-alias`,
  );
  try {
    hot();
    hot();
    // Same size and times, other content: only a copy that lists the file brings it.
    lab.must(
      "origin",
      `cp -p /var/tmp/jh-alias /var/tmp/jh-ref; s=$(stat -c %s /var/tmp/jh-alias); head -c "$s" /dev/zero | tr '\\000' Q > /var/tmp/jh-alias; touch -r /var/tmp/jh-ref /var/tmp/jh-alias; rm /var/tmp/jh-ref`,
    );
    cold();
  } finally {
    lab.sh("origin", "rm -f /var/tmp/jh-alias");
  }
  // The invariant first: the target equals the origin; then how the final copy got there.
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
  const data = finalCyrus();
  assert.equal(data["mode"], "journal", JSON.stringify(data));
});

test("item 4: a filesystem mounted under a data directory after the watches were set", async () => {
  serve();
  lab.must("origin", "mkdir -p /var/spool/cyrus/data/jh-mnt; chown cyrus:mail /var/spool/cyrus/data/jh-mnt");
  hot();
  hot();
  lab.must(
    "origin",
    "mount -t tmpfs -o mode=0755 none /var/spool/cyrus/data/jh-mnt; echo inside > /var/spool/cyrus/data/jh-mnt/jh-mounted.",
  );
  try {
    cold();
    // The invariant first: the target equals the origin; then how the final copy got there.
    assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
    const data = finalCyrus();
    assert.equal(data["mode"], "full", JSON.stringify(data));
    assert.match(String(data["reason"]), /mounted .*jh-mnt/);
  } finally {
    lab.sh("origin", "umount /var/spool/cyrus/data/jh-mnt");
  }
});
