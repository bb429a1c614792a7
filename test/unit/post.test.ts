/**
 * `bm-migrate post` against a fake BlueMind core. The CLI is driven through bin/bm-migrate as a
 * user would; it runs as a child process while the fake answers in this one (so the child is
 * spawned asynchronously: spawnSync would block the fake's event loop).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { FakeCore, type FakeCoreOptions } from "../fakes/fakeCore.js";
import { networkEntryProblem, originIpFromJournal, replaceInMynetworks } from "../../src/commands/post.js";
import { FIREWALL_INTERNAL, FIREWALL_SECURITY, firewallEndpoints } from "../../src/bluemind/api.js";
import { JsonClient } from "../../src/adapters/http.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const BIN = new URL("../../bin/bm-migrate", import.meta.url).pathname;

interface Run {
  code: number | null;
  out: string;
  err: string;
  journal: string;
  log: string;
}

function cli(args: string[], opts: { dir: string; stdin?: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, [...args, "--state-dir", opts.dir, "--log-dir", opts.dir], {
      env: { ...process.env, NO_COLOR: "1" },
      cwd: opts.dir,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const read = (f: string): string =>
        existsSync(join(opts.dir, f)) ? readFileSync(join(opts.dir, f), "utf8") : "";
      resolve({ code, out, err, journal: read("journal.jsonl"), log: read("bm-migrate.log") });
    });
    child.stdin.end(opts.stdin ?? "");
  });
}

const secret = (label: string): string => `${label}-${randomBytes(12).toString("hex")}`;

interface Setup {
  core: FakeCore;
  dir: string;
  token: string;
  password: string;
  tokenFile: string;
  base: string[];
}

async function setup(o: FakeCoreOptions = {}): Promise<Setup> {
  const token = secret("tok");
  const password = secret("pw");
  const core = await new FakeCore({
    coreToken: token,
    adminPassword: password,
    values: { mynetworks: "10.0.0.5/32, 127.0.0.0/8" },
    ...o,
  }).start();
  const dir = mkdtempSync(join(tmpdir(), "bm-post-"));
  const tokenFile = join(dir, "bm-core.tok");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const base = [
    "post",
    "--api-url",
    core.url,
    "--old-ip",
    "10.0.0.5",
    "--new-ip",
    "10.0.0.9",
    "--task-poll-ms",
    "20",
  ];
  return { core, dir, token, password, tokenFile, base };
}

function assertNoSecret(r: Run, ...secrets: string[]): void {
  for (const s of secrets) {
    for (const [where, text] of Object.entries({
      stdout: r.out,
      stderr: r.err,
      journal: r.journal,
      log: r.log,
    })) {
      assert.ok(!text.includes(s), `${where} must not contain the secret ${s.slice(0, 4)}…`);
    }
  }
}

// --- pure parts ----------------------------------------------------------------------------

void test("mynetworks: the old address is replaced in comma, space and mixed lists, keeping /32 and the separator", () => {
  assert.equal(
    replaceInMynetworks("10.0.0.5/32, 127.0.0.0/8", "10.0.0.5", ["10.0.0.9"]).after,
    "10.0.0.9/32, 127.0.0.0/8",
  );
  assert.equal(
    replaceInMynetworks("127.0.0.0/8 10.0.0.5", "10.0.0.5", ["10.0.0.9"]).after,
    "127.0.0.0/8 10.0.0.9",
  );
  assert.equal(
    replaceInMynetworks("127.0.0.0/8,10.0.0.5", "10.0.0.5", ["10.0.0.9"]).after,
    "127.0.0.0/8,10.0.0.9",
  );
  assert.equal(
    replaceInMynetworks("127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 10.0.0.5/32", "10.0.0.5", [
      "10.1.0.0/24",
    ]).after,
    "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 10.1.0.0/24",
  );
  const mixed = replaceInMynetworks("127.0.0.0/8,  10.0.0.5 ,192.168.1.0/24", "10.0.0.5/32", [
    "10.0.0.9",
    "10.0.1.0/24",
  ]);
  assert.equal(mixed.after, "127.0.0.0/8, 10.0.0.9, 10.0.1.0/24, 192.168.1.0/24");
  assert.equal(mixed.changed, true);
});

void test("mynetworks: a prefix of the old address is not the old address", () => {
  const r = replaceInMynetworks("10.0.0.50/32, 10.0.0.5/32", "10.0.0.5", ["10.0.0.9"]);
  assert.equal(r.after, "10.0.0.50/32, 10.0.0.9/32");
});

void test("mynetworks: nothing changes, and the reason is given, when already replaced, equal or absent", () => {
  const done = replaceInMynetworks("10.0.0.9/32, 127.0.0.0/8", "10.0.0.5", ["10.0.0.9"]);
  assert.deepEqual(
    [done.changed, done.reason, done.after],
    [false, "already-replaced", "10.0.0.9/32, 127.0.0.0/8"],
  );
  const same = replaceInMynetworks("10.0.0.5, 127.0.0.0/8", "10.0.0.5", ["10.0.0.5"]);
  assert.deepEqual([same.changed, same.reason], [false, "same-value"]);
  const absent = replaceInMynetworks("127.0.0.0/8", "10.0.0.5", ["10.0.0.9"]);
  assert.deepEqual([absent.changed, absent.reason], [false, "old-absent"]);
  const dup = replaceInMynetworks("10.0.0.5 10.0.0.9", "10.0.0.5", ["10.0.0.9"]);
  assert.equal(dup.after, "10.0.0.9", "the new entry is not added twice");
});

void test("the firewall endpoint follows the version, with the other one as the 404 fallback", () => {
  assert.deepEqual(firewallEndpoints("4.1.56"), { first: FIREWALL_SECURITY, fallback: FIREWALL_INTERNAL });
  assert.deepEqual(firewallEndpoints("5.1.3-2"), { first: FIREWALL_SECURITY, fallback: FIREWALL_INTERNAL });
  assert.deepEqual(firewallEndpoints("5.2"), { first: FIREWALL_INTERNAL, fallback: FIREWALL_SECURITY });
  assert.deepEqual(firewallEndpoints("5.3.10"), { first: FIREWALL_INTERNAL, fallback: FIREWALL_SECURITY });
  assert.equal(firewallEndpoints(undefined).first, FIREWALL_SECURITY);
});

void test("network entries are checked; the journal's originIp is found, newest first", () => {
  assert.equal(networkEntryProblem("10.0.0.9"), undefined);
  assert.equal(networkEntryProblem("10.0.0.0/24"), undefined);
  assert.equal(networkEntryProblem("[::1]/128"), undefined);
  assert.match(networkEntryProblem("10.0.0.0/33") ?? "", /bad prefix length/);
  assert.match(networkEntryProblem("bm-origin") ?? "", /not an address/);
  const recs = [
    { t: "1", type: "x", originIp: "10.0.0.1" },
    { t: "2", type: "y", originIp: "10.0.0.5/32" },
    { t: "3", type: "z" },
  ];
  assert.equal(originIpFromJournal(recs), "10.0.0.5");
  assert.equal(originIpFromJournal([]), undefined);
});

// --- the HTTP client against the fake -----------------------------------------------------

void test("client and fake: no key is BlueMind's FORBIDDEN (500), a bad key 403 with the key redacted", async () => {
  const core = await new FakeCore({ coreToken: "good-key-1234" }).start();
  try {
    const client = new JsonClient(core.url);
    const none = await client.send({ method: "GET", path: "/api/configuration" });
    assert.equal(none.ok, false);
    if (!none.ok) {
      assert.deepEqual(
        [none.failure.kind, none.failure.status, none.failure.path],
        ["status", 500, "/api/configuration"],
      );
      assert.match(none.failure.excerpt, /"errorCode":"FORBIDDEN"/);
    }
    client.setHeader("X-BM-ApiKey", "bad-key-5678");
    const bad = await client.send({ method: "GET", path: "/api/configuration" });
    assert.equal(bad.ok, false);
    if (!bad.ok) {
      assert.equal(bad.failure.status, 403);
      assert.match(bad.failure.excerpt, /session id \*\*\* is not valid/);
      assert.ok(!bad.failure.excerpt.includes("bad-key-5678"));
    }
    assert.equal(core.calls[1]?.apiKey, "bad-key-5678");
    const unknown = await client.send({ method: "GET", path: "/api/nothing/here" });
    assert.equal(unknown.ok ? 0 : unknown.failure.status, 404);
  } finally {
    await core.stop();
  }
});

void test("client: a server that never answers is a timeout naming the request", async () => {
  const server = createServer(() => undefined); // never replies
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const { port } = server.address() as AddressInfo;
    const client = new JsonClient(`http://127.0.0.1:${port}`, { timeoutMs: 200 });
    const t0 = Date.now();
    const r = await client.send({ method: "POST", path: "/api/system/maildelivery/mgmt/_repair" });
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(r.ok, false);
    if (!r.ok)
      assert.deepEqual(
        [r.failure.kind, r.failure.method, r.failure.path],
        ["timeout", "POST", "/api/system/maildelivery/mgmt/_repair"],
      );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

// --- through the CLI -----------------------------------------------------------------------

void test("happy path with the token file: three steps, key in X-BM-ApiKey, mynetworks before and after", async () => {
  const s = await setup();
  try {
    const r = await cli([...s.base, "--token-file", s.tokenFile, "--bm-version", "4.1.56"], { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(s.core.writes(), [
      "POST /api/system/security/_updatefirewallrules",
      "POST /api/system/maildelivery/mgmt/_repair",
      "POST /api/configuration",
    ]);
    assert.ok(
      s.core.calls.every((c) => c.apiKey === s.token),
      "every call carries the key from the token file",
    );
    assert.ok(!s.core.calls.some((c) => c.path === "/api/auth/login"), "no login with a key");
    // Each task was followed until it ended.
    assert.equal(s.core.calls.filter((c) => c.path === "/api/tasks/1000").length, 3);
    assert.equal(s.core.calls.filter((c) => c.path === "/api/tasks/1001").length, 3);
    assert.deepEqual(s.core.calls.find((c) => c.method === "POST" && c.path === "/api/configuration")?.body, {
      mynetworks: "10.0.0.9/32, 127.0.0.0/8",
    });
    assert.equal(s.core.values["mynetworks"], "10.0.0.9/32, 127.0.0.0/8");
    assert.match(
      r.out,
      /mynetworks: '10\.0\.0\.5\/32, 127\.0\.0\.0\/8' -> '10\.0\.0\.9\/32, 127\.0\.0\.0\/8'/,
    );
    assert.match(
      r.out,
      /postfix maps rebuilt \(task 1001: Success; result: \{"ops":\["mailboxPostfixMaps"\],"repaired":3\}/,
    );
    assert.match(r.out, /Done: the three steps are complete/);
    const steps = r.journal
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; step?: string; status?: string })
      .filter((j) => j.type === "post-step" && j.status === "done")
      .map((j) => j.step);
    assert.deepEqual(steps, ["connect", "firewall", "mail-repair", "mynetworks"]);
    assertNoSecret(r, s.token);
  } finally {
    await s.core.stop();
  }
});

void test("login with the password from a file: login query and JSON-string body, then the session key", async () => {
  const s = await setup();
  try {
    const pwFile = join(s.dir, "pw");
    writeFileSync(pwFile, `${s.password}\n`, { mode: 0o600 });
    const r = await cli([...s.base, "--password-file", pwFile, "--bm-version", "4.1.56"], { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    const login = s.core.calls[0];
    assert.equal(login?.path, "/api/auth/login");
    assert.deepEqual(login?.query, { login: "admin0@global.virt", origin: "bm-migrate" });
    assert.equal(login?.body, s.password, "the body is the password as a JSON string, newline removed");
    const keys = new Set(s.core.calls.slice(1).map((c) => c.apiKey));
    assert.equal(keys.size, 1);
    assert.notEqual([...keys][0], s.token, "the session key from the login is used, not the token");
    assert.equal(s.core.calls.at(-1)?.path, "/api/auth/logout", "the session is closed");
    assertNoSecret(r, s.password, [...keys][0]!);
  } finally {
    await s.core.stop();
  }
});

void test("login with the password from stdin (--password-file -)", async () => {
  const s = await setup();
  try {
    const r = await cli([...s.base, "--password-file", "-", "--bm-version", "4.1.56"], {
      dir: s.dir,
      stdin: `${s.password}\n`,
    });
    assert.equal(r.code, 0, r.err);
    assert.equal(s.core.calls[0]?.body, s.password);
    assert.match(r.out, /password from stdin/);
    assertNoSecret(r, s.password);
  } finally {
    await s.core.stop();
  }
});

void test("a refused password is exit 1 naming the login endpoint and BlueMind's status", async () => {
  const s = await setup();
  try {
    const r = await cli([...s.base, "--password-file", "-", "--bm-version", "4.1.56"], {
      dir: s.dir,
      stdin: "wrong-password-123\n",
    });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /login refused for admin0@global\.virt: POST \/api\/auth\/login answered HTTP 200 with status Bad/,
    );
    assert.deepEqual(s.core.writes(), ["POST /api/auth/login"], "nothing else was attempted");
    assertNoSecret(r, "wrong-password-123");
  } finally {
    await s.core.stop();
  }
});

void test("running it twice changes nothing the second time and says so", async () => {
  const s = await setup();
  try {
    const args = [...s.base, "--token-file", s.tokenFile, "--bm-version", "4.1.56"];
    const first = await cli(args, { dir: s.dir });
    assert.equal(first.code, 0, first.err);
    const callsAfterFirst = s.core.calls.length;
    const second = await cli(args, { dir: s.dir });
    assert.equal(second.code, 0, second.err);
    const secondWrites = s.core.calls
      .slice(callsAfterFirst)
      .filter((c) => c.method === "POST")
      .map((c) => c.path);
    assert.ok(!secondWrites.includes("/api/configuration"), "mynetworks is not posted again");
    assert.equal(s.core.values["mynetworks"], "10.0.0.9/32, 127.0.0.0/8");
    assert.match(
      second.out,
      /mynetworks unchanged: '10\.0\.0\.9\/32, 127\.0\.0\.0\/8' \(already has 10\.0\.0\.9 and not 10\.0\.0\.5\)/,
    );
    assert.match(second.out, /nothing changed \(already done on \d{4}-/);
    assert.match(second.out, /Done: nothing changed/);
  } finally {
    await s.core.stop();
  }
});

void test("a bad key is exit 1 naming the endpoint and HTTP 403, with nothing written and the key not echoed", async () => {
  const s = await setup();
  try {
    const bad = secret("stale");
    writeFileSync(s.tokenFile, bad);
    const r = await cli([...s.base, "--token-file", s.tokenFile, "--bm-version", "4.1.56"], { dir: s.dir });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /GET \/api\/configuration answered HTTP 403: .*PERMISSION_DENIED.*session id \*\*\* is not valid/,
    );
    assert.match(r.err, /next: the admin0 key in .*bm-core\.tok was refused/);
    assert.deepEqual(s.core.writes(), [], "nothing was written");
    assert.equal(s.core.calls[0]?.apiKey, bad, "the fake did receive the bad key (and echoed it)");
    assert.match(r.journal, /"step":"connect","status":"failed"/);
    assertNoSecret(r, bad);
  } finally {
    await s.core.stop();
  }
});

void test("a task ending InError is exit 1 with the task's last log entry; later steps do not run", async () => {
  const s = await setup({
    failTask: "repair",
    errorLog: "postmap: fatal: cannot open /etc/postfix/transport",
  });
  try {
    const r = await cli([...s.base, "--token-file", s.tokenFile, "--bm-version", "4.1.56"], { dir: s.dir });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /task 1001 started by POST \/api\/system\/maildelivery\/mgmt\/_repair ended InError: postmap: fatal: cannot open \/etc\/postfix\/transport/,
    );
    assert.ok(!s.core.writes().includes("POST /api/configuration"), "mynetworks not touched after a failure");
    assert.equal(s.core.values["mynetworks"], "10.0.0.5/32, 127.0.0.0/8");
    assert.match(r.journal, /"step":"mail-repair","status":"failed"/);
  } finally {
    await s.core.stop();
  }
});

void test("5.2 and later use the internal firewall endpoint", async () => {
  const s = await setup({ firewall: "internal" });
  try {
    const r = await cli([...s.base, "--token-file", s.tokenFile, "--bm-version", "5.2.1"], { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    assert.equal(s.core.writes()[0], "POST /internal-api/system/firewall/_updatefirewallrules");
    assert.ok(!s.core.calls.some((c) => c.path === "/api/system/security/_updatefirewallrules"));
    assert.doesNotMatch(r.err + r.out, /warning/);
  } finally {
    await s.core.stop();
  }
});

void test("a 404 on the version's firewall endpoint falls back once to the other, with a warning", async () => {
  const s = await setup({ firewall: "security" });
  try {
    const r = await cli([...s.base, "--token-file", s.tokenFile, "--bm-version", "5.2"], { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(s.core.writes().slice(0, 2), [
      "POST /internal-api/system/firewall/_updatefirewallrules",
      "POST /api/system/security/_updatefirewallrules",
    ]);
    assert.match(
      r.out,
      /warning: POST \/internal-api\/system\/firewall\/_updatefirewallrules does not exist on this core \(HTTP 404\)/,
    );
  } finally {
    await s.core.stop();
  }
});

void test("--json writes events only, one JSON object per line", async () => {
  const s = await setup();
  try {
    const r = await cli([...s.base, "--token-file", s.tokenFile, "--bm-version", "4.1.56", "--json"], {
      dir: s.dir,
    });
    assert.equal(r.code, 0, r.err);
    const events = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; summary?: string });
    assert.ok(events.length > 5);
    const done = events.filter((e) => e.type === "step-finished").map((e) => e.summary ?? "");
    assert.equal(done.length, 4);
    assert.match(
      done[3]!,
      /^mynetworks: '10\.0\.0\.5\/32, 127\.0\.0\.0\/8' -> '10\.0\.0\.9\/32, 127\.0\.0\.0\/8'$/,
    );
  } finally {
    await s.core.stop();
  }
});

void test("the old address defaults to the journal's originIp; a missing token file is a usage error", async () => {
  const s = await setup();
  try {
    writeFileSync(
      join(s.dir, "journal.jsonl"),
      JSON.stringify({ t: "x", type: "swap-done", originIp: "10.0.0.5" }) + "\n",
    );
    const noOld = s.base.filter((a, i) => a !== "--old-ip" && s.base[i - 1] !== "--old-ip");
    const r = await cli([...noOld, "--token-file", s.tokenFile, "--bm-version", "4.1.56"], { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /old address 10\.0\.0\.5 \(journal\)/);

    const missing = await cli(
      [...s.base, "--token-file", join(s.dir, "nope.tok"), "--bm-version", "4.1.56"],
      { dir: s.dir },
    );
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot read the admin0 key: .*nope\.tok does not exist/);
  } finally {
    await s.core.stop();
  }
});

void test("an unreachable core is exit 1 naming the endpoint, without retrying", async () => {
  const s = await setup();
  await s.core.stop(); // the port is free again: connection refused
  const r = await cli([...s.base, "--token-file", s.tokenFile, "--bm-version", "4.1.56"], { dir: s.dir });
  assert.equal(r.code, 1);
  assert.match(r.err, /GET \/api\/configuration failed: .*ECONNREFUSED/);
  assert.match(r.err, /next: is bm-core running/);
  assert.equal(r.log.match(/"command":"GET [^"]*\/api\/configuration"/g)?.length, 1, "one attempt only");
});
