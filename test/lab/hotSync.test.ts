// Issue 19: hostile names on the origin during the hot phase (a newline followed by fake event text,
// bytes that are not UTF-8, terminal escapes, symlinks to outside the data directories) end
// identical on the target, and nothing from outside the data directories is ever copied. A re-run
// cold sync keeps the target's own database as <db>.bm-migrate-old.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, journal, labForTests, ORIGIN } from "./support.js";

const D = "/var/spool/cyrus/data";
const SECRET = "OUTSIDE-SECRET-4b1d";
let lab: Lab;

labForTests("hn", { scale: 1 }, (l) => (lab = l));

/** Names made with printf, so that every byte is exactly what the test says. */
const HOSTILE = String.raw`set -e
d=${D}
echo '${SECRET}' > /root/outside-secret
ln -sfn /root "$d/lnk"
ln -sfn /etc/passwd "$d/lnk-passwd"
# A directory whose name makes '%e %w%f' print a second, forged event: MODIFY $d/lnk/outside-secret
nl=$(printf 'a\nMODIFY %s/lnk' "$d")
mkdir -p "$d/$nl"
echo inside > "$d/$nl/outside-secret"
inv=$(printf 'inv\377\376.')
echo first > "$d/$inv"
esc=$(printf 'esc\033]0;owned\007\033[2Jcold sync OK.')
echo first > "$d/$esc"
printf 'x' > "$(printf '/etc/bm/conf\377.ini')"
echo done`;

const LATER = String.raw`set -e
d=${D}
nl=$(printf 'a\nMODIFY %s/lnk' "$d")
echo "changed later, same size?" > "$d/$nl/outside-secret"
echo second-version > "$d/$(printf 'inv\377\376.')"
echo second-version > "$d/$(printf 'esc\033]0;owned\007\033[2Jcold sync OK.')"
mkdir -p "$d/$(printf 'new\nCREATE,ISDIR %s/lnk' "$d")"
echo x > "$d/$(printf 'new\nCREATE,ISDIR %s/lnk' "$d")/f"
echo done`;

test("hostile names made during the hot phase end identical on the target, nothing from outside is copied", async () => {
  // The target's own database, marked: it must be the one kept as bj.bm-migrate-old.
  lab.must("target", `runuser -u postgres -- psql -q -d bj -c "CREATE TABLE bm_target_own (x int)"`);
  const hot1 = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(hot1.code, 0, hot1.stderr + hot1.stdout);
  assert.match(lab.must("origin", HOSTILE), /done/);
  const hot2 = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(hot2.code, 0, hot2.stderr + hot2.stdout);
  const hotCopy = journal(lab)
    .filter(
      (r) => r["phase"] === "hot-sync" && r["type"] === "step-done" && r["step"] === "rsync:/var/spool/cyrus",
    )
    .at(-1)?.["data"] as Record<string, unknown> | undefined;
  assert.ok(hotCopy, "the second hot pass copied the Cyrus spool");
  assert.match(lab.must("origin", LATER), /done/);

  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "never"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);
  for (const c of ["\u001b", "\u0007"])
    assert.ok(!(cold.stdout + cold.stderr + hot2.stdout).includes(c), "no raw control character printed");
  assert.ok(
    !lab.must("target", "cat /var/log/bm-migrate/bm-migrate.log").includes("\u001b"),
    "no raw escape in the log",
  );

  // Nothing from outside the data directories reached the target's data directories.
  const leaked = lab.sh("target", `grep -rlF '${SECRET}' /var/spool /var/lib/cyrus 2>/dev/null`);
  assert.equal(leaked.stdout.trim(), "", `the origin's /root/outside-secret was copied: ${leaked.stdout}`);
  // Nor anywhere else on the target through its own copy of the symlink (the target's /root).
  assert.equal(
    lab.sh("target", "test -e /root/outside-secret").code,
    1,
    "nothing written through lnk on the target",
  );
  // The symlinks came as symlinks.
  assert.equal(lab.must("target", `readlink ${D}/lnk`).trim(), "/root");
  // Names byte for byte, content of the latest version.
  assert.equal(lab.must("target", `cat "${D}/$(printf 'inv\\377\\376.')"`).trim(), "second-version");
  assert.equal(
    lab.must("target", `cat "${D}/$(printf 'a\\nMODIFY %s/lnk' ${D})/outside-secret"`).trim(),
    "changed later, same size?",
  );
  assert.equal(lab.must("target", `cat "$(printf '/etc/bm/conf\\377.ini')"`), "x");

  const verify = lab.bm(["verify", ...ORIGIN]);
  assert.equal(verify.code, 0, verify.stderr + verify.stdout);
  assert.deepEqual(await compareHosts(lab), [], "the oracle finds both hosts identical");

  // Cold sync again: the target's own database stays aside; the earlier copy goes.
  const again = lab.bm(["cold-sync", ...ORIGIN, "--yes", "--catch-up-after", "0"]);
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assert.equal(
    lab
      .must(
        "target",
        `runuser -u postgres -- psql -X -A -t -d bj.bm-migrate-old -c "SELECT count(*) FROM pg_class WHERE relname = 'bm_target_own'"`,
      )
      .trim(),
    "1",
    "bj.bm-migrate-old still holds the target's own database",
  );
});
