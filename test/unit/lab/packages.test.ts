// The lab installs the Debian packages it lacks itself when it runs as root, and says which;
// otherwise it lists them. dpkg-query, apt-get and id are stand-ins here (on PATH first), so that
// nothing is installed by the test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PACKAGES_SH = new URL("../../../lab/packages.sh", import.meta.url).pathname;

function stubs(uid: number, missing: string[]): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), "bm-lab-packages-"));
  const log = join(dir, "apt.log");
  const script = (name: string, body: string): void => {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  // dpkg-query -W -f=FORMAT PACKAGE...: a line for each installed one, unless listed as missing.
  script(
    "dpkg-query",
    `shift 2; for p in "$@"; do case " ${missing.join(" ")} " in *" $p "*) ;; *) printf '%s\\tinstall ok installed\\n' "$p" ;; esac; done`,
  );
  script("apt-get", `echo "$*" >> ${JSON.stringify(log)}`);
  script("id", `echo ${uid}`);
  return { dir, log };
}

function ensure(uid: number, missing: string[], ...opts: string[]) {
  const s = stubs(uid, missing);
  const r = spawnSync("bash", [PACKAGES_SH, "ensure", ...opts], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${s.dir}:${process.env["PATH"] ?? ""}` },
  });
  return { ...r, apt: existsSync(s.log) ? readFileSync(s.log, "utf8") : "" };
}

test("as root: installs what is missing, and says so first", () => {
  const r = ensure(0, ["inotify-tools", "mmdebstrap", "chromium"], "--releases", "--browser");
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stderr,
    /^lab: installing the Debian packages the lab needs: inotify-tools mmdebstrap chromium$/m,
  );
  assert.equal(r.apt, "update -q\ninstall -y -q --no-install-recommends inotify-tools mmdebstrap chromium\n");
});

test("nothing missing: nothing installed, nothing said", () => {
  const r = ensure(0, ["mmdebstrap"]);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, "");
  assert.equal(r.apt, "", "mmdebstrap is only needed for hosts of other releases");
});

test("not root: the list to install by hand, and a failure", () => {
  const r = ensure(1000, ["rsync", "openssh-server"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /lab: missing on this machine: rsync openssh-server/);
  assert.match(r.stderr, /apt-get install -y --no-install-recommends rsync openssh-server/);
  assert.equal(r.apt, "");
});
