// Issue 17, end to end in the lab, for a 4.x and a 5.x origin: everything a BlueMind server holds
// arrives (hollow directory, per-domain certificates, /etc/bm* and /etc/postfix whole, 5.x Keycloak's
// database), what the target had is set aside and does not get in the way of verify, a plugin the
// target lacks blocks the preflight, and mail queued on the origin at the stop (Debian's real
// postfix, its relay unreachable) is delivered by the target's postfix after the swap.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Lab, REPO } from "../../lab/lab.js";
import { LAB_RELAY_PORT, TARGET_EXTRA_CONFIG } from "../../lab/generate.js";
import { differences, labForTests, manifest, ORIGIN } from "./support.js";

const QUEUED = 5;
const PLUGIN = "bm-plugin-core-ldap-import";

// BM_TEST_VERSIONS=5.1.42 runs one of them.
for (const version of (process.env["BM_TEST_VERSIONS"] ?? "4.1.56,5.1.42").split(",")) {
  const five = version.startsWith("5");
  const dbs = five ? "bj,bj-data,keycloak" : "bj,bj-data";
  describe(`BlueMind ${version}: every part of the server arrives`, () => {
    let lab: Lab;
    let relay: ChildProcess | undefined;
    const relayLog = join("/tmp", `bm-relay-${process.pid}-${five ? 5 : 4}.jsonl`);
    labForTests(
      five ? "t-all5" : "t-all4",
      { scale: 1, version },
      (l) => (lab = l),
      () => {
        relay?.kill();
        rmSync(relayLog, { force: true });
      },
    );

    test("mail for an unreachable relay waits in the origin's real postfix queue", async () => {
      assert.match(lab.must("origin", "service postfix status"), /running/);
      lab.must(
        "origin",
        `for i in $(seq 1 ${QUEUED}); do printf 'Subject: queued %s\\n\\nbody %s\\n' $i $i | sendmail -f admin@bluemind.lab "rcpt$i@example.org"; done`,
      );
      let deferred = 0;
      for (let i = 0; i < 60 && deferred < QUEUED; i++) {
        await sleep(500);
        deferred = Number(lab.must("origin", "find /var/spool/postfix/deferred -type f | wc -l").trim());
      }
      assert.equal(deferred, QUEUED, "every message deferred (connection refused by the relay's address)");
    });

    test("a plugin of the origin missing on the target blocks check with exit 3, naming the package", () => {
      lab.must(
        "target",
        `cp /var/lib/dpkg/status /root/dpkg-status.bak && perl -0 -i -pe 's/\\n\\nPackage: ${PLUGIN}\\n.*?(?=\\n\\n|\\z)//s' /var/lib/dpkg/status && ! dpkg-query -W ${PLUGIN} 2>/dev/null`,
      );
      const r = lab.bm(["check", ...ORIGIN]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`missing on the target: ${PLUGIN}`));
      assert.match(r.stdout, new RegExp(`apt-get install ${PLUGIN}`));
      lab.must("target", "cp /root/dpkg-status.bak /var/lib/dpkg/status");
      const ok = lab.bm(["check", ...ORIGIN]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /the same \d+ BlueMind packages on both/);
    });

    test("hot and cold sync carry every part; verify passes although the target started with extra configuration files", async () => {
      for (const f of TARGET_EXTRA_CONFIG) lab.must("target", `test -f ${f}`);
      const hot = lab.bm(["hot-sync", ...ORIGIN]);
      assert.equal(hot.code, 0, hot.stdout + hot.stderr);
      const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes"]);
      assert.equal(cold.code, 0, cold.stdout + cold.stderr);
      assert.match(
        cold.stdout,
        new RegExp(`Postfix queue on the origin flushed while it serves: ${QUEUED} message`),
      );
      assert.match(cold.stdout, new RegExp(`${QUEUED} message\\(s\\) queued on the origin at the stop`));
      assert.match(
        cold.stdout,
        /Set aside \(only the target had them; kept in \/var\/lib\/bm-migrate\/config-before\//,
      );
      for (const f of TARGET_EXTRA_CONFIG) {
        assert.match(cold.stdout, new RegExp(f.replace(/[.]/g, "\\.")));
        lab.must("target", `test ! -e ${f} && ls /var/lib/bm-migrate/config-before/*${f}`);
      }
      if (five) {
        assert.match(cold.stdout, /Set aside .*\/var\/cache\/bm-core\/tasks-queues/);
        lab.must("target", "test ! -e /var/cache/bm-core/tasks-queues");
      }
      const v = lab.bm(["verify", ...ORIGIN]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /Verified: the target holds what the origin holds/);

      // The lab's own comparison: files (hollow directory, certificates, queue, /etc/bm*, /etc/postfix...) and databases.
      const diffs = await differences(manifest(lab, "origin", dbs), manifest(lab, "target", dbs));
      assert.deepEqual(
        diffs.map((d) => d.message),
        [],
        "target identical to origin",
      );
      for (const p of [
        "/var/spool/bm-hollowed/bluemind.lab/version",
        "/etc/bm/certs/bm_cert-bluemind.lab.pem",
        "/etc/ssl/certs/bm_cert-bluemind.lab.pem",
        "/etc/nginx/sw.htpasswd",
        ...(five ? ["/etc/bm-keycloak/keycloak.conf", "/var/spool/bm-hollowed/tokens"] : []),
      ])
        assert.equal(
          lab.must("target", `md5sum < ${p} 2>/dev/null || ls ${p}`),
          lab.must("origin", `md5sum < ${p} 2>/dev/null || ls ${p}`),
          p,
        );
      if (five)
        assert.equal(
          lab
            .must(
              "target",
              `runuser -u postgres -- psql -Atc "select count(*) from component_config where name='bmCoreToken'" keycloak`,
            )
            .trim(),
          "1",
        );
    });

    test("after the swap, BlueMind repairs every domain and the target's postfix delivers every message queued on the origin", async () => {
      rmSync(relayLog, { force: true });
      relay = spawn(
        "ip",
        [
          "netns",
          "exec",
          lab.env.LAB_LAN_NS,
          process.execPath,
          "--import",
          join(REPO, "node_modules", "tsx", "dist", "loader.mjs"),
          join(REPO, "lab", "relay.ts"),
          "--port",
          String(LAB_RELAY_PORT),
          "--out",
          relayLog,
        ],
        { stdio: "ignore" },
      );
      await sleep(1500);
      const s = lab.bm(["swap", ...ORIGIN, "--apply"]);
      assert.equal(s.code, 0, s.stdout + s.stderr);
      assert.match(s.stdout, new RegExp(`${QUEUED} carried message\\(s\\) requeued on the target`));
      assert.match(
        s.stdout,
        new RegExp(
          `${five ? "hollow.directory, domain.keycloak" : "hollow.directory"} repaired on 1 domain\\(s\\): bluemind.lab`,
        ),
      );
      let delivered: { subject: string }[] = [];
      for (let i = 0; i < 120 && delivered.length < QUEUED; i++) {
        await sleep(500);
        delivered = existsSync(relayLog)
          ? readFileSync(relayLog, "utf8")
              .split("\n")
              .filter(Boolean)
              .map((l) => JSON.parse(l) as { subject: string })
          : [];
      }
      assert.deepEqual(
        delivered.map((d) => d.subject).sort(),
        Array.from({ length: QUEUED }, (_, i) => `queued ${i + 1}`).sort(),
        "every message queued on the origin at the stop was delivered by the target",
      );
      assert.equal(
        lab
          .must("target", "find /var/spool/postfix/deferred /var/spool/postfix/active -type f | wc -l")
          .trim(),
        "0",
      );
      const calls = lab.must("target", "cat /var/log/bm-lab-core.calls.jsonl");
      const repair = calls
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { method: string; path: string; body?: { opIdentifiers?: string[] } })
        .find(
          (c) =>
            c.method === "POST" &&
            c.path === "/api/directory/bluemind.lab/bluemind.lab/mgmt/_maintenance/repair",
        );
      assert.deepEqual(
        repair?.body?.opIdentifiers,
        five ? ["hollow.directory", "domain.keycloak"] : ["hollow.directory"],
      );
      console.log(
        `[${version}] queued on the origin at the stop: ${QUEUED}; delivered by the target: ${delivered.length}`,
      );
    });
  });
}
