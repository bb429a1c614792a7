/**
 * `bm-migrate post` against a fake BlueMind core. The CLI is driven from the sources as a user
 * would; it runs as a child process while the fake answers in this one (so the child is spawned
 * asynchronously: spawnSync would block the fake's event loop).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCliAsync } from "../../support/cli.js";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { FakeCore, sanitizeMynetworks, type FakeCoreOptions } from "../../fakes/fakeCore.js";
import {
  networkEntryProblem,
  originIpFromJournal,
  swapFromJournal,
} from "../../../src/phases/postSettings.js";
import { checkMynetworks, networkSet, planMynetworks } from "../../../src/bluemind/mynetworks.js";
import { FIREWALL_INTERNAL, FIREWALL_SECURITY, firewallEndpoint } from "../../../src/bluemind/api.js";
import { parseMapTimes, staleMaps } from "../../../src/bluemind/postfixMaps.js";
import { JsonClient } from "../../../src/adapters/http.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

interface Run {
  code: number | null;
  out: string;
  err: string;
  journal: string;
  log: string;
}

async function cli(args: string[], opts: { dir: string; stdin?: string }): Promise<Run> {
  const r = await runCliAsync([...args, "--state-dir", opts.dir, "--log-dir", opts.dir], {
    cwd: opts.dir,
    input: opts.stdin ?? "",
  });
  const read = (f: string): string =>
    existsSync(join(opts.dir, f)) ? readFileSync(join(opts.dir, f), "utf8") : "";
  return {
    code: r.code,
    out: r.stdout,
    err: r.stderr,
    journal: read("journal.jsonl"),
    log: read("bm-migrate.log"),
  };
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
  const dir = mkdtempSync(join(tmpdir(), "bm-post-"));
  const maps = join(dir, "postfix");
  mkdirSync(maps);
  const old = new Date(Date.now() - 3_600_000);
  for (const m of ["transport", "virtual_domains", "virtual_mailbox"]) {
    for (const f of [`${m}-flat`, `${m}.db`]) {
      writeFileSync(join(maps, f), `${m}\n`);
      utimesSync(join(maps, f), old, old);
    }
  }
  const core = await new FakeCore({
    coreToken: token,
    adminPassword: password,
    values: { mynetworks: "10.0.0.5/32, 127.0.0.0/8" },
    serverAddresses: ["10.0.0.9"],
    localAddresses: ["127.0.0.1", "10.0.0.9"],
    mapsDir: maps,
    mapRebuildMs: 100,
    mapThrottleMs: 1500,
    ...o,
  }).start();
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
    "--postfix-dir",
    maps,
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

const args = (s: Setup, ...extra: string[]): string[] => [...s.base, "--token-file", s.tokenFile, ...extra];

void test("the fake's sanitizer is MyNetworksSanitizor: a set, ', ', 127.0.0.0/8 and server and interface addresses added", () => {
  const saved = sanitizeMynetworks(
    "10.0.0.7 !10.1.0.0/24,10.0.0.7",
    ["10.0.0.9"],
    ["127.0.0.1", "10.0.0.9", "10.0.0.4"],
  );
  assert.match(saved, /^[^ ,]+(, [^ ,]+)*$/, "joined with ', '");
  assert.deepEqual(
    [...networkSet(saved)].sort(),
    ["10.0.0.4/32", "10.0.0.7/32", "10.0.0.9/32", "10.1.0.0/24", "127.0.0.0/8"].sort(),
  );
  // It keeps the bare address as sent (a set of strings): the comparison normalizes it.
  assert.ok(saved.split(", ").includes("10.0.0.7"));
});

void test("mynetworks plan: the old address replaced as a set; takeover, already done and absent change nothing", () => {
  const p = planMynetworks("10.0.0.5/32, 127.0.0.0/8, 10.0.0.50/32", "10.0.0.5", ["10.0.0.9"], false);
  assert.equal(p.kind, "replace");
  if (p.kind === "replace")
    assert.deepEqual([...networkSet(p.send)].sort(), ["10.0.0.50/32", "10.0.0.9/32", "127.0.0.0/8"]);
  assert.deepEqual(planMynetworks("10.0.0.5/32", "10.0.0.5", ["10.0.0.5"], true), {
    kind: "unchanged",
    reason: "takeover",
    current: "10.0.0.5/32",
  });
  const done = planMynetworks("10.0.0.9, 127.0.0.0/8", "10.0.0.5", ["10.0.0.9/32"], false);
  assert.equal(done.kind === "unchanged" && done.reason, "already-replaced");
  const absent = planMynetworks("127.0.0.0/8", "10.0.0.5", ["10.0.0.9"], false);
  assert.equal(absent.kind === "unchanged" && absent.reason, "old-absent");
});

void test("mynetworks check: the core's additions tolerated and listed; a missing new entry or the old one back fail", () => {
  const ok = checkMynetworks("10.0.0.9/32, 127.0.0.0/8, 10.0.0.4/32", "127.0.0.0/8 10.0.0.9", "10.0.0.5", [
    "10.0.0.9",
  ]);
  assert.deepEqual([ok.ok, ok.added], [true, ["10.0.0.4/32"]]);
  const back = checkMynetworks("10.0.0.9/32, 10.0.0.5/32", "10.0.0.9", "10.0.0.5", ["10.0.0.9"]);
  assert.deepEqual([back.ok, back.oldStillThere], [false, true]);
  const missing = checkMynetworks("127.0.0.0/8", "10.0.0.9", "10.0.0.5", ["10.0.0.9"]);
  assert.deepEqual([missing.ok, missing.missing], [false, ["10.0.0.9/32"]]);
});

void test("the firewall endpoint follows the version: public on 4.x, internal on every 5.x, none when unknown", () => {
  assert.equal(firewallEndpoint("4.1.56"), FIREWALL_SECURITY);
  assert.equal(firewallEndpoint("4.9.3"), FIREWALL_SECURITY);
  assert.equal(firewallEndpoint("5.0.2"), FIREWALL_INTERNAL);
  assert.equal(firewallEndpoint("5.1.3-2"), FIREWALL_INTERNAL);
  assert.equal(firewallEndpoint("5.2"), FIREWALL_INTERNAL);
  assert.equal(firewallEndpoint(undefined), undefined);
  assert.equal(firewallEndpoint("unknown"), undefined);
});

void test("map times: a -flat map older than the request is stale", () => {
  const t = parseMapTimes(
    "1000.500 /etc/postfix/transport-flat\n1002.000 /etc/postfix/virtual_domains-flat\n999.0 /etc/postfix/transport.db\n",
  );
  assert.deepEqual(staleMaps(t, 1_001_000), {
    flat: ["/etc/postfix/transport-flat", "/etc/postfix/virtual_domains-flat"],
    stale: ["/etc/postfix/transport-flat"],
  });
});

void test("network entries are checked (never a loopback); the journal's swap and originIp are found, newest first", () => {
  assert.equal(networkEntryProblem("10.0.0.9"), undefined);
  assert.equal(networkEntryProblem("10.0.0.0/24"), undefined);
  assert.match(networkEntryProblem("127.0.0.1") ?? "", /loopback/);
  assert.match(networkEntryProblem("[::1]/128") ?? "", /loopback/);
  assert.match(networkEntryProblem("10.0.0.0/33") ?? "", /bad prefix length/);
  assert.match(networkEntryProblem("bm-origin") ?? "", /not an address/);
  const recs = [
    { t: "1", type: "x", originIp: "10.0.0.1" },
    { t: "2", type: "swap", originIp: "10.0.0.5", targetIp: "10.0.0.9", mode: "keep-target-ip" },
    { t: "3", type: "z" },
  ];
  assert.equal(originIpFromJournal(recs), "10.0.0.5");
  assert.deepEqual(swapFromJournal(recs), {
    originIp: "10.0.0.5",
    targetIp: "10.0.0.9",
    mode: "keep-target-ip",
  });
  assert.equal(originIpFromJournal([]), undefined);
});

// --- the HTTP client against the fake -----------------------------------------------------

void test("client and fake: no key is a 500 FORBIDDEN, a bad key 401 with the key redacted, an unknown path 500 UNKNOWN", async () => {
  const core = await new FakeCore({ coreToken: "good-key-1234" }).start();
  try {
    const client = new JsonClient(core.url);
    const none = await client.send({ method: "GET", path: "/api/configuration" });
    assert.equal(none.ok ? 0 : none.failure.status, 500);
    if (!none.ok) assert.match(none.failure.excerpt, /"errorCode":"FORBIDDEN"/);
    client.setHeader("X-BM-ApiKey", "bad-key-5678");
    const bad = await client.send({ method: "GET", path: "/api/configuration" });
    assert.equal(bad.ok, false);
    if (!bad.ok) {
      assert.equal(bad.failure.status, 401);
      assert.match(bad.failure.excerpt, /AUTHENTICATION_FAIL.*session id \*\*\* is not valid/);
      assert.ok(!bad.failure.excerpt.includes("bad-key-5678"));
    }
    const unknown = await client.send({ method: "GET", path: "/api/nothing/here" });
    assert.equal(unknown.ok ? 0 : unknown.failure.status, 500);
    if (!unknown.ok)
      assert.match(
        unknown.failure.excerpt,
        /"errorCode":"UNKNOWN".*no service registered on GET \/api\/nothing\/here/,
      );
    const internal = await client.send({
      method: "POST",
      path: "/internal-api/system/firewall/_updatefirewallrules",
    });
    assert.equal(
      internal.ok ? 0 : internal.failure.status,
      500,
      "a 4.x core has no internal firewall endpoint",
    );
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

void test("happy path (4.1, token file): the core's version asked, three steps, mynetworks checked as a set, maps seen rebuilt", async () => {
  const s = await setup();
  try {
    const t0 = Date.now();
    const r = await cli(args(s), { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(s.core.writes(), [
      "POST /api/system/security/_updatefirewallrules",
      "POST /api/system/maildelivery/mgmt/_repair",
      "POST /api/configuration",
    ]);
    assert.ok(s.core.calls.some((c) => c.path === "/api/system/installation/version"));
    assert.ok(
      s.core.calls.every((c) => c.apiKey === s.token),
      "every call carries the key from the token file",
    );
    assert.deepEqual(s.core.calls.find((c) => c.method === "POST" && c.path === "/api/configuration")?.body, {
      mynetworks: "127.0.0.0/8 10.0.0.9/32",
    });
    // What the core holds: a set with the new address, its own additions, never the old one.
    assert.deepEqual([...networkSet(s.core.values["mynetworks"]!)].sort(), ["10.0.0.9/32", "127.0.0.0/8"]);
    assert.match(r.out, /mynetworks +mynetworks: 10\.0\.0\.5 replaced by 10\.0\.0\.9; the core holds '/);
    assert.match(
      r.out,
      /firewall +rules regenerated with POST \/api\/system\/security\/_updatefirewallrules \(task 1000: Success\); updated on 10\.0\.0\.9/,
    );
    assert.match(
      r.out,
      /mail-repair +postfix maps rebuilt: 5 maps in .* newer than the request, [\d.]+ s after it \(task 1001: Success\)/,
    );
    // The maps really are newer than the request.
    assert.ok(statSync(join(s.dir, "postfix", "transport-flat")).mtimeMs >= t0);
    assert.equal(s.core.mapsRebuiltAt.length, 1);
    const steps = r.journal
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; step?: string; phase?: string })
      .filter((j) => j.type === "step-done" && j.phase === "post")
      .map((j) => j.step);
    assert.deepEqual(steps, ["connect", "firewall", "mail-repair", "mynetworks"]);
    assertNoSecret(r, s.token);
  } finally {
    await s.core.stop();
  }
});

void test("a second run within BlueMind's 10 s throttle waits for the delayed rebuild, and changes nothing", async () => {
  const throttle = 6000;
  const s = await setup({ mapThrottleMs: throttle });
  try {
    const first = await cli(args(s), { dir: s.dir });
    assert.equal(first.code, 0, first.err);
    const n = s.core.calls.length;
    const second = await cli(args(s), { dir: s.dir });
    assert.equal(second.code, 0, second.err);
    assert.ok(!s.core.calls.slice(n).some((c) => c.method === "POST" && c.path === "/api/configuration"));
    assert.match(second.out, /mynetworks unchanged: .*already has 10\.0\.0\.9 and not 10\.0\.0\.5/);
    assert.equal(s.core.mapsRebuiltAt.length, 2, "the second repair's rebuild came when the window closed");
    const [a = 0, b = 0] = s.core.mapsRebuiltAt;
    assert.ok(b - a >= throttle - 200, `the second rebuild waited for the throttle (${b - a} ms)`);
    const repairAt = s.core.calls
      .slice(n)
      .find((c) => c.path === "/api/system/maildelivery/mgmt/_repair")!.at;
    assert.ok(b >= repairAt, "post saw the maps only after the delayed rebuild");
    assert.ok(repairAt < a + throttle, "the second repair came inside the first rebuild's window");
    const secs = Number(/newer than the request, ([\d.]+) s after it/.exec(second.out)?.[1]);
    assert.ok(
      secs * 1000 >= a + throttle - repairAt - 300,
      `post waited for the window to close (${secs} s)`,
    );
  } finally {
    await s.core.stop();
  }
});

void test("maps that are never rebuilt fail the step after the bounded wait, naming them", async () => {
  const s = await setup({ mapsDir: mkdtempSync(join(tmpdir(), "bm-maps-elsewhere-")) });
  try {
    const r = await cli(args(s, "--maps-timeout", "1"), { dir: s.dir });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /ended Success, but 1 s later .*transport-flat.* still older than the request: the maps were not rebuilt/,
    );
    assert.match(r.err, /Fail to update postfix maps/);
    assert.ok(!s.core.writes().includes("POST /api/configuration"), "mynetworks not touched after a failure");
  } finally {
    await s.core.stop();
  }
});

void test("login with the password from a file: login query and JSON-string body, then the session key", async () => {
  const s = await setup();
  try {
    const pwFile = join(s.dir, "pw");
    writeFileSync(pwFile, `${s.password}\n`, { mode: 0o600 });
    const r = await cli([...s.base, "--password-file", pwFile], { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    const login = s.core.calls[0];
    assert.equal(login?.path, "/api/auth/login");
    assert.deepEqual(login?.query, { login: "admin0@global.virt", origin: "bm-migrate" });
    assert.equal(login?.body, s.password, "the body is the password as a JSON string, newline removed");
    const keys = new Set(s.core.calls.slice(1).map((c) => c.apiKey));
    assert.equal(keys.size, 1);
    assert.notEqual([...keys][0], s.token, "the session key from the login is used, not the token");
    assert.equal(s.core.calls.at(-1)?.path, "/api/auth/logout", "the session is closed");
    assert.equal(s.core.calls.at(-1)?.status, 200, "a void method answers 200");
    assertNoSecret(r, s.password, [...keys][0]!);
  } finally {
    await s.core.stop();
  }
});

void test("a refused password is exit 1 naming the login endpoint and BlueMind's status", async () => {
  const s = await setup();
  try {
    const r = await cli([...s.base, "--password-file", "-"], { dir: s.dir, stdin: "wrong-password-123\n" });
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

void test("a stale key is exit 1 with HTTP 401 and the stale-key hint, nothing written, the key not echoed", async () => {
  const s = await setup();
  try {
    const bad = secret("stale");
    writeFileSync(s.tokenFile, bad);
    const r = await cli(args(s), { dir: s.dir });
    assert.equal(r.code, 1);
    assert.match(r.err, /answered HTTP 401: .*AUTHENTICATION_FAIL.*session id \*\*\* is not valid/);
    assert.match(r.err, /the admin0 key in .*bm-core\.tok was refused \(HTTP 401\): it may be stale/);
    assert.deepEqual(s.core.writes(), [], "nothing was written");
    assert.match(r.journal, /"type":"step-failed","step":"connect"/);
    assertNoSecret(r, bad);
  } finally {
    await s.core.stop();
  }
});

void test("a task ending InError is exit 1 with the task's last log entry; later steps do not run", async () => {
  const s = await setup({
    failTask: "repair",
    errorLog: "Fail to update postfix maps: cannot open /etc/postfix/transport",
  });
  try {
    const r = await cli(args(s), { dir: s.dir });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /task 1001 started by POST \/api\/system\/maildelivery\/mgmt\/_repair ended InError: Fail to update/,
    );
    assert.ok(!s.core.writes().includes("POST /api/configuration"), "mynetworks not touched after a failure");
    assert.equal(s.core.values["mynetworks"], "10.0.0.5/32, 127.0.0.0/8");
  } finally {
    await s.core.stop();
  }
});

void test("5.1 and 5.2 use the internal firewall endpoint, chosen from the core's own version", async () => {
  for (const version of ["5.1.3", "5.2.1"]) {
    const s = await setup({ version });
    try {
      const r = await cli(args(s), { dir: s.dir });
      assert.equal(r.code, 0, r.err);
      assert.equal(s.core.writes()[0], "POST /internal-api/system/firewall/_updatefirewallrules");
      assert.ok(!s.core.calls.some((c) => c.path === "/api/system/security/_updatefirewallrules"));
      assert.match(r.out, new RegExp(`BlueMind ${version.replace(/\./g, "\\.")}, from the core`));
    } finally {
      await s.core.stop();
    }
  }
});

void test("a forced wrong version meets the core's 500 and says so, without trying the other endpoint", async () => {
  const s = await setup({ version: "5.1.3" });
  try {
    const r = await cli(args(s, "--bm-version", "4.1.56"), { dir: s.dir });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /does not serve POST \/api\/system\/security\/_updatefirewallrules \(HTTP 500 "no service registered"\)/,
    );
    assert.match(r.err, /check the version \(--bm-version\)/);
    assert.deepEqual(s.core.writes(), ["POST /api/system/security/_updatefirewallrules"]);
  } finally {
    await s.core.stop();
  }
});

void test("a server the firewall task could not update fails the step, though the task said Success", async () => {
  const s = await setup({ serverAddresses: ["10.0.0.9", "10.0.0.20"], firewallFailsOn: ["10.0.0.20"] });
  try {
    const r = await cli(args(s), { dir: s.dir });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /ended Success, but its log says the rules were not written on 10\.0\.0\.20 \(updated on 10\.0\.0\.9; FAILED on 10\.0\.0\.20\)/,
    );
  } finally {
    await s.core.stop();
  }
});

void test("after an address takeover (from the swap's journal) mynetworks is read and left as it is", async () => {
  const s = await setup({ values: { mynetworks: "10.0.0.5/32, 127.0.0.0/8" } });
  try {
    writeFileSync(
      join(s.dir, "journal.jsonl"),
      JSON.stringify({
        t: "x",
        type: "swap",
        phase: "swap",
        originIp: "10.0.0.5",
        targetIp: "10.0.0.9",
        mode: "takeover",
      }) + "\n",
    );
    const base = s.base.filter(
      (a, i) =>
        !["--old-ip", "--new-ip"].includes(a) && !["--old-ip", "--new-ip"].includes(s.base[i - 1] ?? ""),
    );
    const r = await cli([...base, "--token-file", s.tokenFile], { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    assert.ok(!s.core.writes().includes("POST /api/configuration"));
    assert.match(
      r.out,
      /mynetworks unchanged: '10\.0\.0\.5\/32, 127\.0\.0\.0\/8' \(address takeover: the server kept 10\.0\.0\.5/,
    );
    assert.match(r.out, /addresses +address takeover: the server kept 10\.0\.0\.5 \(the swap's journal\)/);
  } finally {
    await s.core.stop();
  }
});

void test("--json writes events only, one JSON object per line", async () => {
  const s = await setup();
  try {
    const r = await cli(args(s, "--json"), { dir: s.dir });
    assert.equal(r.code, 0, r.err);
    const events = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; summary?: string });
    const done = events.filter((e) => e.type === "step-finished").map((e) => e.summary ?? "");
    assert.equal(done.length, 4);
    assert.match(done[3]!, /^mynetworks: 10\.0\.0\.5 replaced by 10\.0\.0\.9; the core holds/);
  } finally {
    await s.core.stop();
  }
});

void test("a missing token file is a usage error; an unreachable core is exit 1 naming the endpoint, without retrying", async () => {
  const s = await setup();
  const missing = await cli([...s.base, "--token-file", join(s.dir, "nope.tok")], { dir: s.dir });
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read the admin0 key: .*nope\.tok does not exist/);
  await s.core.stop(); // the port is free again: connection refused
  const r = await cli(args(s), { dir: s.dir });
  assert.equal(r.code, 1);
  assert.match(r.err, /GET \/api\/system\/installation\/version failed: .*ECONNREFUSED/);
  assert.match(r.err, /next: does bm-core run on this server/);
  assert.equal(
    r.log.match(/"command":"GET [^"]*\/api\/system\/installation\/version"/g)?.length,
    1,
    "one attempt only",
  );
});
