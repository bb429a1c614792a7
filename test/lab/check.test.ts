// bm-migrate check in the two-host lab: a ready pair passes; each blocker, provoked on the real
// hosts, is reported with its id and both sides' values, exit 3; several at once all appear.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { bmJson, labForTests } from "./support.js";

interface JsonFinding {
  type: string;
  id: string;
  severity: string;
  title: string;
  origin?: string;
  target?: string;
  remedy?: string;
  skipped?: boolean;
}

let lab: Lab;
labForTests("h4a", { scale: 1 }, (l) => (lab = l));

function check(...extra: string[]): { code: number | null; findings: JsonFinding[]; stderr: string } {
  const r = bmJson(lab, ["check", "--origin", "root@bm-origin", ...extra], { timeoutMs: 120_000 });
  const findings = (r.lines as unknown as JsonFinding[]).filter((o) => o.type === "finding");
  return { code: r.code, findings, stderr: r.stderr };
}

function blocker(findings: JsonFinding[], id: string): JsonFinding {
  const b = findings.find((f) => f.id === id && f.severity === "blocker");
  assert.ok(b, `blocker ${id} expected in ${JSON.stringify(findings.filter((f) => f.severity !== "info"))}`);
  return b;
}

/** Provoke, check, and restore even when an assertion fails. */
function provoked(role: "origin" | "target", provoke: string, restore: string, assertions: () => void): void {
  lab.must(role, provoke);
  try {
    assertions();
  } finally {
    lab.must(role, restore);
  }
}

test("a ready pair passes with exit 0, the report is kept and the check journaled", () => {
  const started = Date.now();
  const r = lab.bm(["check", "--origin", "root@bm-origin"], { env: { NO_COLOR: "1" } });
  const seconds = (Date.now() - started) / 1000;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /0 blocker\(s\), 0 warning\(s\)/);
  assert.match(r.stdout, /\[bm-version\] bm-core 4\.1\.56 on both/);
  assert.match(r.stdout, /\[owner-ids\].*\n\s+origin: cyrus uid 9901\n\s+target: cyrus uid 9952/);
  assert.match(r.stdout, /\[volume\] to move: .* first hot sync about/);
  assert.ok(seconds < 30, `check took ${seconds} s`);
  const kept = lab.must("target", "ls /var/lib/bm-migrate/reports/");
  assert.match(kept, /check-.*\.txt/);
  assert.match(kept, /check-.*\.json/);
  const journal = lab.must("target", 'grep \'"type":"check"\' /var/lib/bm-migrate/journal.jsonl | tail -1');
  assert.match(journal, /"blockers":0/);
});

test("different bm-core versions: blocker with both versions", () => {
  provoked(
    "target",
    "sed -i '/^Package: bm-core$/,/^$/ s/^Version: 4.1.56$/Version: 4.1.57/' /var/lib/dpkg/status",
    "sed -i '/^Package: bm-core$/,/^$/ s/^Version: 4.1.57$/Version: 4.1.56/' /var/lib/dpkg/status",
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "bm-version");
      assert.equal(b.origin, "4.1.56");
      assert.equal(b.target, "4.1.57");
    },
  );
});

test("different external-url: blocker with both", () => {
  provoked(
    "target",
    "sed -i 's/^external-url = .*/external-url = mail.elsewhere.test/' /etc/bm/bm.ini",
    "sed -i 's/^external-url = .*/external-url = bluemind.lab.test/' /etc/bm/bm.ini",
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "external-url");
      assert.equal(b.origin, "bluemind.lab.test");
      assert.equal(b.target, "mail.elsewhere.test");
    },
  );
});

test("no subscription on the target: blocker; --skip-check subscription lets it pass, journaled", () => {
  provoked(
    "target",
    "mv /etc/bm/subscription.bmz /root/subscription.off",
    "mv /root/subscription.off /etc/bm/subscription.bmz",
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "subscription");
      assert.match(b.target ?? "", /no \/etc\/bm\/subscription\.bmz/);
      assert.match(b.origin ?? "", /present/);
      const skipped = check("--skip-check", "subscription");
      assert.equal(skipped.code, 0);
      assert.equal(skipped.findings.find((f) => f.id === "subscription")?.skipped, true);
      const journal = lab.must(
        "target",
        'grep \'"type":"check"\' /var/lib/bm-migrate/journal.jsonl | tail -1',
      );
      assert.match(journal, /"skipped":\["subscription"\]/);
    },
  );
});

test("rsync missing on the origin: blocker naming the origin", () => {
  provoked("origin", "mv /usr/bin/rsync /usr/bin/rsync.off", "mv /usr/bin/rsync.off /usr/bin/rsync", () => {
    const r = check();
    assert.equal(r.code, 3);
    const b = blocker(r.findings, "rsync");
    assert.equal(b.origin, "rsync not installed");
    assert.match(b.target ?? "", /^rsync \d/);
  });
});

test("the origin's sshd refuses the key: ssh blocker, and the target's checks still reported", () => {
  provoked(
    "origin",
    "mv /root/.ssh/authorized_keys /root/.ssh/authorized_keys.off",
    "mv /root/.ssh/authorized_keys.off /root/.ssh/authorized_keys",
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "ssh");
      assert.match(b.title, /refused root's SSH key \(auth-refused\)/);
      assert.match(b.origin ?? "", /Permission denied/);
      assert.match(b.remedy ?? "", /authorized_keys/);
      assert.ok(
        r.findings.some((f) => f.id === "pg-target"),
        "the target's own checks ran",
      );
      assert.ok(r.findings.some((f) => f.id === "subscription"));
    },
  );
});

test("the origin's host key changed: ssh blocker host-key-changed", () => {
  provoked(
    "origin",
    "mkdir -p /root/hostkeys && mv /etc/ssh/ssh_host_* /root/hostkeys/ && ssh-keygen -A >/dev/null && service ssh restart",
    "rm -f /etc/ssh/ssh_host_* && mv /root/hostkeys/* /etc/ssh/ && service ssh restart",
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "ssh");
      assert.match(b.title, /host key has changed \(host-key-changed\)/);
      assert.match(b.remedy ?? "", /ssh-keygen -R bm-origin/);
    },
  );
});

test("PostgreSQL stopped on the origin: pg-origin blocker", () => {
  provoked("origin", "service postgresql stop", "service postgresql start", () => {
    const r = check();
    assert.equal(r.code, 3);
    const b = blocker(r.findings, "pg-origin");
    assert.match(b.title, /PostgreSQL is not running on the origin/);
    assert.match(b.origin ?? "", /postgresql stopped/);
  });
});

test("a wrong bj password: pg-origin blocker, and the password appears nowhere", () => {
  const psql = (sql: string) => `runuser -u postgres -- psql -q -c "${sql}"`;
  provoked(
    "origin",
    psql("ALTER ROLE bj PASSWORD 'Zq-not-in-bm-ini'"),
    psql("ALTER ROLE bj PASSWORD 'bj'"),
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "pg-origin");
      assert.match(b.title, /refuses bj's password from \/etc\/bm\/bm\.ini/);
      assert.match(b.origin ?? "", /password authentication failed/);
      const kept = lab.sh(
        "target",
        "grep -rl -e 'PGPASSWORD=' -e 'password\": *\"bj' /var/lib/bm-migrate /var/log/bm-migrate",
      );
      assert.equal(kept.stdout.trim(), "", "no password in the journal, reports or logs");
    },
  );
});

test("a target filesystem too small for one destination: disk-space blocker naming it", () => {
  provoked(
    "target",
    "mount -t tmpfs -o size=1M tmpfs /var/spool/bm-docs",
    "umount /var/spool/bm-docs",
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "disk-space");
      assert.match(b.title, /\/var\/spool\/bm-docs/);
      assert.match(b.origin ?? "", /to hold \(\/var\/spool\/bm-docs\)/);
      assert.match(b.target ?? "", /free on \/var\/spool\/bm-docs/);
    },
  );
});

test("an owner of the origin's data missing on the target: owners blocker", () => {
  provoked(
    "target",
    "userdel cyrus",
    "useradd --system --uid 9952 --gid mail --home-dir /var/spool/cyrus --no-create-home --shell /usr/sbin/nologin cyrus",
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "owners");
      assert.match(b.origin ?? "", /user cyrus \(uid 9901\)/);
      assert.match(b.target ?? "", /missing: user cyrus/);
    },
  );
});

test("a target in use: fresh-target blocker, a warning with --force-overwrite-target", () => {
  const sql = (s: string) => `runuser -u postgres -- psql -q -d bj -v ON_ERROR_STOP=1 -c "${s}"`;
  provoked(
    "target",
    sql(
      "INSERT INTO t_directory_entry(entry_uid, kind, displayname) SELECT 'inuse' || g, 'USER', 'user ' || g FROM generate_series(1, 60) g",
    ),
    sql("DELETE FROM t_directory_entry WHERE entry_uid LIKE 'inuse%'"),
    () => {
      const r = check();
      assert.equal(r.code, 3);
      const b = blocker(r.findings, "fresh-target");
      assert.match(b.target ?? "", /6\d directory users/);
      assert.match(b.origin ?? "", /\d+ directory users/);
      const forced = check("--force-overwrite-target");
      assert.equal(forced.code, 0);
      assert.equal(forced.findings.find((f) => f.id === "fresh-target")?.severity, "warning");
    },
  );
});

test("several blockers at once are all reported in one run", () => {
  lab.must(
    "target",
    "sed -i '/^Package: bm-core$/,/^$/ s/^Version: 4.1.56$/Version: 4.1.57/' /var/lib/dpkg/status && mv /etc/bm/subscription.bmz /root/subscription.off && userdel cyrus",
  );
  lab.must("origin", "mv /usr/bin/rsync /usr/bin/rsync.off && service postgresql stop");
  try {
    const r = lab.bm(["check", "--origin", "root@bm-origin"], { env: { NO_COLOR: "1" } });
    assert.equal(r.code, 3);
    for (const id of ["bm-version", "subscription", "rsync", "pg-origin", "owners"])
      assert.match(r.stdout, new RegExp(`BLOCKERS[\\s\\S]*\\[${id}\\][\\s\\S]*INFORMATION`), id);
    assert.match(r.stdout, /5 blocker\(s\)/);
    assert.match(r.stdout, /RESULT: 5 blocker\(s\) stand/);
  } finally {
    lab.must(
      "target",
      "sed -i '/^Package: bm-core$/,/^$/ s/^Version: 4.1.57$/Version: 4.1.56/' /var/lib/dpkg/status; mv /root/subscription.off /etc/bm/subscription.bmz; useradd --system --uid 9952 --gid mail --home-dir /var/spool/cyrus --no-create-home --shell /usr/sbin/nologin cyrus",
    );
    lab.must("origin", "mv /usr/bin/rsync.off /usr/bin/rsync; service postgresql start");
  }
  assert.equal(check().code, 0, "restored: the pair is ready again");
});
