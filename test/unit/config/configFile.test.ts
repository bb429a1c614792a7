// The configuration file init writes: every line a comment, blank or a key, what was detected
// said in comments, and it loads back through loadSettings with the same settings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseFacts, type HostFacts } from "../../../src/bluemind/facts.js";
import { PROFILES } from "../../../src/bluemind/profiles.js";
import { formatDestination, renderConfigFile, type ConfigDraft } from "../../../src/config/configFile.js";
import type { SshTarget } from "../../../src/engine/destination.js";
import { loadSettings, type Settings } from "../../../src/engine/settings.js";
import { tempDir } from "../../support/tmp.js";

const tmp = (): string => tempDir("bm-config-");

function facts(over: Partial<Record<string, string>> = {}): HostFacts {
  const kv = {
    hostname: "bm-origin",
    pm: "dpkg",
    bm_version: "4.1.56",
    os_id: "debian",
    os_version: "11",
    os_pretty: "Debian GNU/Linux 11 (bullseye)",
    init: "systemd",
    rsync: "3.2.3",
    pg_dump: "13",
    subscription: "1",
    clock: "1.0",
    ...over,
  };
  const ini = "[global]\nexternal-url = mail.example.test\nhost = 10.0.0.1\n";
  return parseFacts(
    `${Object.entries(kv)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n")}\n--- bm.ini\n${ini}--- end\n`,
  );
}

function draft(origin: SshTarget, over: Partial<Settings> = {}, target = facts({ hostname: "bm-target" })) {
  const settings = {
    stateDir: "/srv/bm state",
    logDir: "/var/log/bm-migrate",
    bwlimit: 5000,
    nice: true,
    dbJobs: 4,
    catchUpAfter: 60 as number | null,
    ...over,
    origin,
  };
  const d: ConfigDraft = {
    settings,
    origin: {
      label: formatDestination(origin),
      facts: facts(),
      spaces: [
        {
          path: "/var/spool/cyrus",
          mount: "/",
          availBytes: 10 * 2 ** 30,
          availInodes: 5000,
          totalInodes: 9000,
        },
      ],
    },
    target: {
      label: "bm-target",
      facts: target,
      spaces: [
        {
          path: "/var/spool/cyrus",
          mount: "/",
          availBytes: 20 * 2 ** 30,
          availInodes: 7000,
          totalInodes: 9000,
        },
        { path: "/srv/bm state", mount: "/srv", availBytes: 3 * 2 ** 30, availInodes: 0, totalInodes: 0 },
      ],
    },
    profile: PROFILES[over.profile ?? "4"]!,
    profileForced: over.profile !== undefined,
    writtenAt: "2026-01-02T03:04:05.000Z",
  };
  return d;
}

function loadBack(text: string): Settings {
  const f = join(tmp(), "bm-migrate.conf");
  writeFileSync(f, text);
  return loadSettings({ flags: {}, configFile: f, configExplicit: true });
}

test("the rendered file loads back through loadSettings with the same settings", () => {
  for (const origin of [
    { user: "root", host: "bm-origin" },
    { user: "admin", host: "10.1.2.3", port: 2222 },
    { user: "root", host: "fd00::10", port: 22 },
  ] satisfies SshTarget[]) {
    const d = draft(origin);
    const s = loadBack(renderConfigFile(d));
    assert.deepEqual(s.origin, origin);
    assert.equal(s.stateDir, "/srv/bm state");
    assert.equal(s.logDir, "/var/log/bm-migrate");
    assert.equal(s.bwlimit, 5000);
    assert.equal(s.dbJobs, 4);
    assert.equal(s.nice, true);
    assert.equal(s.profile, undefined, "a detected profile is not forced");
  }
  const forced = loadBack(renderConfigFile(draft({ user: "root", host: "o" }, { profile: "5.2" })));
  assert.equal(forced.profile, "5.2");
});

test("every line is a comment, blank or a key; every key is explained; what was detected is said", () => {
  const text = renderConfigFile(draft({ user: "root", host: "bm-origin" }));
  for (const line of text.split("\n")) assert.match(line, /^(#.*|)$|^[a-z-]+ = .*$/, `line: ${line}`);
  for (const k of ["origin", "state-dir", "log-dir", "bwlimit", "nice", "db-jobs"]) {
    assert.match(text, new RegExp(`^# ${k}: .*\\n(#.*\\n)*${k} = `, "m"), `${k} explained above its line`);
  }
  assert.match(text, /^# profile: [^\n]*\n(#[^\n]*\n)*# profile = 4$/m);
  assert.match(text, /origin root@bm-origin: Debian GNU\/Linux 11 \(bullseye\), BlueMind 4\.1\.56 \(dpkg\),/);
  assert.match(text, /target bm-target: .*BlueMind 4\.1\.56/);
  // Comments wrap: the facts are matched on the text with its comment lines joined.
  const flat = text.replace(/\n# +/g, " ");
  assert.equal(flat.match(/external-url mail\.example\.test/g)?.length, 2);
  assert.match(text, /What moves: profile 4, BlueMind 4\.x/);
  assert.match(text, /data directories \(rsync, hot and cold\): \/var\/spool\/cyrus, \/var\/lib\/cyrus,/);
  assert.match(text, /databases .*: bj, bj-data/);
  assert.match(flat, /made equal to the origin.s .*\/etc\/bm\*\/, \/etc\/postfix\//);
  assert.match(
    text,
    /Free space on the target[^\n]*\n# +\/: 20\.0 GiB, 7,000 inodes free, for \/var\/spool\/cyrus/,
  );
  assert.match(text, /\/srv: 3\.0 GiB free, for \/srv\/bm state \(state-dir: dumps\)/);
  assert.doesNotMatch(text, /^# +! /m, "no mismatch on a matching pair");
  for (const line of text.split("\n")) assert.ok(line.length <= 110, `long line: ${line}`);
});

test("mismatches the procedure forbids are written as ! lines", () => {
  const other = facts({ hostname: "bm-target", bm_version: "4.1.57", subscription: "0" });
  delete other.bmIni;
  const text = renderConfigFile(draft({ user: "root", host: "bm-origin" }, {}, other));
  assert.match(
    text,
    /# {3}! the BlueMind versions differ \(4\.1\.56 on the origin, 4\.1\.57 on the target\)/,
  );
  assert.match(text, /! external-url differs \(mail\.example\.test on the origin, none on the target\)/);
  assert.match(text, /! the target has no subscription file/);
  assert.doesNotThrow(() => loadBack(text));
});
