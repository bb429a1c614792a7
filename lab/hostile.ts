/**
 * Hostile events for the invariant test (issue #25): things the world does to a migration, done to
 * the lab's hosts directly (shell and psql inside a host), never through bm-migrate. Each event
 * makes at least one real change that the target must end up holding (or that must make the swap
 * refused), and says what it did, for the failure message.
 *
 * The events and the hole of issue #25 each one aims at:
 * - journal-overflow (1, 2): the origin's `inotifywait` stopped (SIGSTOP, as a starved reader) while
 *   a burst of more events than the kernel's queue holds (`fs.inotify.max_queued_events`, 16,384 by
 *   default; inotify(7): "If this limit is reached, then an IN_Q_OVERFLOW event is generated and
 *   the event is discarded") is made in a data directory, then real changes, then resumed.
 * - clock-step-back (3): the target's clock, as bm-migrate's processes see it (libfaketime, see
 *   HOSTILE_CLOCK_ENV), steps 15 minutes back; then the origin changes files.
 * - target-write (5): a write on the target's data directory and database (its own Cyrus or
 *   BlueMind started by someone, a cron job) after the verification ahead.
 * - origin-ddl (8, 9): `ALTER TYPE ... RENAME VALUE` / `ADD VALUE`, composite `ADD ATTRIBUTE`,
 *   `ALTER SEQUENCE ... INCREMENT BY` on the origin's bj-data.
 * - bigint-keys (6): rows with bigint keys above 2^53 changed, added and deleted.
 * - open-transaction (7): a session holding an xid (a row written, not committed) across the stop,
 *   committed only after the commands are done (see Resolution).
 * - prepared-transaction (7): `PREPARE TRANSACTION` with a row written, committed at the end.
 * - hardlink-alias (4): a data file whose other name is outside the data directories, written
 *   through that other name (inotify(7): events are reported for the watched directory the path
 *   went through; a write through another parent raises none there).
 * - late-mount (4): a tmpfs mounted on a directory under a data directory after the watches were
 *   set, and written in (inotify watches the directory underneath the mount, not the mounted one).
 */
import type { Lab } from "./lab.js";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";

/** When, in a round, an event may happen. */
export const MOMENTS = ["between-hot", "before-run", "after-ahead", "in-downtime"] as const;
export type Moment = (typeof MOMENTS)[number];

/** What one event did, for the round's report. */
export interface EventRecord {
  event: string;
  moment: Moment;
  did: string;
}

/**
 * Something to do once the commands are over, before the comparison: a late commit as the world
 * would do it (the client that held a transaction open commits; a transaction manager commits a
 * prepared one). Returns what happened (e.g. "committed", or the fence's refusal).
 */
export type Resolution = () => string;

export interface EventContext {
  lab: Lab;
  /** A short tag unique in the round (names of rows, files, labels). */
  tag: string;
  /** The round's seeded generator, in [0, 1). */
  rng: () => number;
  /** Add a late resolution (run in order after the commands). */
  resolveLater: (r: Resolution) => void;
}

export interface HostileEvent {
  id: string;
  /** The items of issue #25 it aims at. */
  holes: string;
  moments: readonly Moment[];
  act(ctx: EventContext): string;
}

/** The database the events write in (BlueMind's bj-data; psql as postgres, objects owned by bj). */
const DB = "bj-data";
const SPOOL = "/var/spool/cyrus/data";
const OUTSIDE = "/var/hostile-outside";
const MOUNT_DIR = `${SPOOL}/hostile-mnt`;
/** The target's clock file read by libfaketime (a tmpfs of the target: /run). */
export const HOSTILE_CLOCK_FILE = "/run/bm-hostile-clock";
const FIFO = "/run/hostile-tx";

/**
 * The environment every bm-migrate run of a round gets on the target, so that a clock step can be
 * made while it runs: libfaketime (package faketime) reads the offset from HOSTILE_CLOCK_FILE at
 * most once a second ("+0" until a step); its children (ssh, rsync, psql, the change watcher)
 * inherit it. CLOCK_MONOTONIC is left alone: a real step of the wall clock does not move it either.
 *
 * libfaketime 0.9.10 keeps a semaphore and a shared memory segment (FAKETIME_SHARED) that every
 * process of the tree opens; made by the first process (root's, mode 0600), a child run as
 * postgres (runuser -u postgres -- psql) then fails ("sem_open failed ... Permission denied") and
 * every process left one pair in /dev/shm behind. So the pair is made here first, once per lab,
 * readable and writable by all (zeroed: only the offsets of the timestamp file are used), and named
 * in FAKETIME_SHARED: every process opens it, none makes its own. `releaseHostileClock` removes it.
 */
/** The name of a lab's libfaketime pair (one per lab, so labs run side by side). */
const clockPairName = (lab: Lab): string => `bm_hostile_${lab.name.replace(/[^A-Za-z0-9_]/g, "_")}`;

export function hostileClockEnv(lab: Lab): Record<string, string> {
  const name = clockPairName(lab);
  const made = spawnSync("python3", ["-c", SHARED_PAIR_PY, name], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`libfaketime's shared pair for ${name}: ${made.stderr}`);
  return {
    LD_PRELOAD: "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    FAKETIME_TIMESTAMP_FILE: HOSTILE_CLOCK_FILE,
    FAKETIME_CACHE_DURATION: "1",
    FAKETIME_DONT_FAKE_MONOTONIC: "1",
    FAKETIME_SHARED: made.stdout.trim(),
  };
}

export function releaseHostileClock(lab: Lab): void {
  const name = clockPairName(lab);
  for (const f of [`/dev/shm/sem.faketime_sem_${name}`, `/dev/shm/faketime_shm_${name}`])
    rmSync(f, { force: true });
}

/** Makes the semaphore (sem_open, through libc) and the segment, mode 0666; prints FAKETIME_SHARED. */
const SHARED_PAIR_PY = `
import ctypes, os, sys
name = sys.argv[1]
os.umask(0)
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.sem_open.restype = ctypes.c_void_p
libc.sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
sem = libc.sem_open(("/faketime_sem_" + name).encode(), os.O_CREAT, 0o666, 1)
if sem in (None, ctypes.c_void_p(-1).value):
    sys.exit("sem_open: " + os.strerror(ctypes.get_errno()))
fd = os.open("/dev/shm/faketime_shm_" + name, os.O_CREAT | os.O_RDWR, 0o666)
os.ftruncate(fd, 4096)
os.fchmod(fd, 0o666)
os.chmod("/dev/shm/sem.faketime_sem_" + name, 0o666)
print("/faketime_sem_%s /faketime_shm_%s" % (name, name))
`;

const sqlText = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** psql on a host as postgres, acting as bj (objects it creates are bj's, as BlueMind's are). */
export function psql(lab: Lab, role: "origin" | "target", sql: string, db = DB): string {
  const script = `runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 -d ${shq(db)} <<'HOSTILE_SQL'
SET ROLE bj;
${sql}
HOSTILE_SQL`;
  return lab.must(role, script).trim();
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Some existing single-link message files of the origin's spool, chosen by the generator. */
function someMessages(ctx: EventContext, n: number): string[] {
  const all = ctx.lab
    .must("origin", `find ${SPOOL} -xdev -type f -name '*.' -links 1 | LC_ALL=C sort`)
    .split("\n")
    .filter(Boolean);
  if (all.length === 0) throw new Error("hostile: the origin's spool holds no message file");
  const out = new Set<string>();
  for (let i = 0; i < n * 4 && out.size < n; i++) out.add(all[Math.floor(ctx.rng() * all.length)]!);
  return [...out];
}

/** Change those files on the origin the way a delivery or an expunge would: new bytes appended. */
function appendTo(lab: Lab, role: "origin" | "target", files: readonly string[], tag: string): void {
  lab.must(role, files.map((f) => `printf '%s\\n' ${shq(`hostile ${tag}`)} >> ${shq(f)}`).join("\n"));
}

/**
 * Before the first hot sync, every round: what the events act on later, so that it is copied like
 * the rest (and so that a round without events migrates exactly the same lab). Prepared
 * transactions are enabled on the origin (PostgreSQL's default max_prepared_transactions is 0), with
 * BlueMind stopped around PostgreSQL's restart as an administrator would.
 */
export function prepareHostileLab(lab: Lab): void {
  lab.must(
    "origin",
    `bmctl stop >/dev/null
runuser -u postgres -- psql -X -q -c 'ALTER SYSTEM SET max_prepared_transactions = 8'
service postgresql restart
bmctl start >/dev/null
mkdir -p ${MOUNT_DIR} ${OUTSIDE}
f=$(find ${SPOOL} -xdev -type f -name '*.' -links 1 | LC_ALL=C sort | head -1)
ln "$f" ${OUTSIDE}/alias && printf '%s\\n' "$f" > ${OUTSIDE}/alias.name`,
  );
  const big = (e: bigint, d: bigint): string => `(${(e + d).toString()}, 'big ${(e + d).toString()}')`;
  const keys = [2n ** 53n, 2n ** 62n, 2n ** 63n - 4096n].flatMap((e) =>
    [0n, 1n, 511n, 512n, 1025n].map((d) => big(e, d)),
  );
  keys.push(big(-(2n ** 63n), 0n), big(-(2n ** 53n), -1n));
  psql(
    lab,
    "origin",
    `CREATE TYPE hostile_mood AS ENUM ('calm', 'angry', 'tired');
CREATE TYPE hostile_pair AS (a int, b text);
CREATE TABLE hostile_typed (id int PRIMARY KEY, mood hostile_mood NOT NULL, pair hostile_pair);
INSERT INTO hostile_typed SELECT i, (ARRAY['calm','angry','tired']::hostile_mood[])[1 + i % 3], ROW(i, 'p' || i)::hostile_pair FROM generate_series(1, 60) i;
CREATE SEQUENCE hostile_seq;
SELECT nextval('hostile_seq') FROM generate_series(1, 3);
CREATE TABLE hostile_big (id bigint PRIMARY KEY, v text NOT NULL);
INSERT INTO hostile_big VALUES ${keys.join(", ")};
CREATE TABLE hostile_tx (id text PRIMARY KEY, v text NOT NULL);
INSERT INTO hostile_tx VALUES ('seed', 'prepared by the lab');`,
  );
}

/** The origin's inotifywait processes of this lab (no pid namespace: matched by network namespace). */
function originWatchers(lab: Lab): string[] {
  return lab
    .must(
      "origin",
      `ns=$(readlink /proc/self/ns/net)
for p in $(pgrep -x inotifywait); do [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$ns" ] && echo $p; done; true`,
    )
    .split("\n")
    .filter(Boolean);
}

const journalOverflow: HostileEvent = {
  id: "journal-overflow",
  holes: "1, 2",
  moments: ["between-hot", "before-run", "after-ahead"],
  act(ctx) {
    const pids = originWatchers(ctx.lab);
    const files = someMessages(ctx, 3);
    const dir = files[0]!.replace(/\/[^/]*$/, "");
    const queue = Number(ctx.lab.must("origin", "cat /proc/sys/fs/inotify/max_queued_events").trim());
    // Three events a file (create, close_write, delete): enough to pass the queue by a third.
    const n = Math.ceil((queue * 4) / 3 / 3);
    if (pids.length) ctx.lab.must("origin", `kill -STOP ${pids.join(" ")}`);
    try {
      ctx.lab.must(
        "origin",
        `cd ${shq(dir)} && for i in $(seq 1 ${n}); do : > .hostile-burst-$i; done && rm -f .hostile-burst-*`,
      );
      appendTo(ctx.lab, "origin", files, ctx.tag);
    } finally {
      if (pids.length) ctx.lab.sh("origin", `kill -CONT ${pids.join(" ")}`);
    }
    return `${pids.length ? `inotifywait ${pids.join(",")} stopped` : "no inotifywait running"}; ${n * 3} events in ${dir} (queue ${queue}); then appended to ${files.join(", ")}; resumed`;
  },
};

const clockStepBack: HostileEvent = {
  id: "clock-step-back",
  holes: "3",
  moments: ["before-run", "after-ahead"],
  act(ctx) {
    const before = ctx.lab.must("target", `cat ${HOSTILE_CLOCK_FILE} 2>/dev/null || echo +0`).trim();
    const offset = (Number(before) || 0) - 900;
    ctx.lab.must("target", `echo ${offset} > ${HOSTILE_CLOCK_FILE}`);
    // A second of margin: libfaketime re-reads the file at most once a second.
    ctx.lab.must("target", "sleep 1.2");
    const files = someMessages(ctx, 2);
    appendTo(ctx.lab, "origin", files, ctx.tag);
    ctx.lab.must(
      "origin",
      `echo ${shq(`new ${ctx.tag}`)} > ${shq(files[0]!.replace(/[^/]*$/, `hostile-${ctx.tag}.`))}`,
    );
    return `the target's clock (bm-migrate's processes) stepped to ${offset} s; then appended to ${files.join(", ")} and a new message beside the first`;
  },
};

const targetWrite: HostileEvent = {
  id: "target-write",
  holes: "5",
  moments: ["after-ahead", "in-downtime"],
  act(ctx) {
    const files = someMessages(ctx, 1).filter((f) => ctx.lab.sh("target", `test -f ${shq(f)}`).code === 0);
    appendTo(ctx.lab, "target", files, ctx.tag);
    ctx.lab.must(
      "target",
      `mkdir -p ${SPOOL} && echo ${shq(`target ${ctx.tag}`)} > ${SPOOL}/hostile-target-${ctx.tag}.`,
    );
    // The staging copy until the cold sync has put it in place, bj-data after (the rename may
    // happen between the look and the write: then bj-data).
    const change = `UPDATE hostile_typed SET pair = ROW(-1, ${sqlText(ctx.tag)})::hostile_pair WHERE id = 7;`;
    const tryIn = (db: string): boolean =>
      ctx.lab.sh(
        "target",
        `runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d ${shq(db)} <<'HOSTILE_SQL'
SET ROLE bj;
${change}
HOSTILE_SQL`,
      ).code === 0;
    const db = tryIn("bj-data.bm-migrate-new") ? "bj-data.bm-migrate-new" : tryIn(DB) ? DB : undefined;
    return `on the target: appended to ${files.join(", ") || "(no common file)"}, new file ${SPOOL}/hostile-target-${ctx.tag}.; ${db ? `row 7 of hostile_typed changed in ${db}` : "no hostile_typed on the target yet"}`;
  },
};

const originDdl: HostileEvent = {
  id: "origin-ddl",
  holes: "8, 9",
  moments: ["before-run", "after-ahead"],
  act(ctx) {
    const done: string[] = [];
    const labels = psql(
      ctx.lab,
      "origin",
      "SELECT enumlabel FROM pg_enum WHERE enumtypid = 'hostile_mood'::regtype ORDER BY enumsortorder;",
    )
      .split("\n")
      .filter(Boolean);
    const pick = ctx.rng();
    if (pick < 0.5 && labels[1]) {
      const to = `${labels[1]}_${ctx.tag}`.slice(0, 60);
      psql(
        ctx.lab,
        "origin",
        `ALTER TYPE hostile_mood RENAME VALUE ${sqlText(labels[1])} TO ${sqlText(to)};`,
      );
      done.push(`enum label ${labels[1]} renamed ${to}`);
    } else {
      psql(ctx.lab, "origin", `ALTER TYPE hostile_mood ADD VALUE ${sqlText(`v_${ctx.tag}`)};`);
      done.push(`enum label v_${ctx.tag} added`);
    }
    if (ctx.rng() < 0.5) {
      psql(ctx.lab, "origin", `ALTER TYPE hostile_pair ADD ATTRIBUTE c_${ctx.tag.replace(/\W/g, "_")} int;`);
      done.push(`composite hostile_pair gained c_${ctx.tag}`);
    }
    const step = 2 + Math.floor(ctx.rng() * 50);
    psql(ctx.lab, "origin", `ALTER SEQUENCE hostile_seq INCREMENT BY ${step};`);
    done.push(`hostile_seq increments by ${step}`);
    return `on the origin's ${DB}: ${done.join("; ")}`;
  },
};

const bigintKeys: HostileEvent = {
  id: "bigint-keys",
  holes: "6",
  moments: ["before-run", "after-ahead", "in-downtime"],
  act(ctx) {
    const base = [2n ** 53n, 2n ** 62n, 2n ** 63n - 4096n][Math.floor(ctx.rng() * 3)]!;
    const fresh = base + 2048n + BigInt(Math.floor(ctx.rng() * 1000));
    psql(
      ctx.lab,
      "origin",
      `UPDATE hostile_big SET v = ${sqlText(`changed ${ctx.tag}`)} WHERE id = ${(base + 1n).toString()};
INSERT INTO hostile_big VALUES (${fresh.toString()}, ${sqlText(`new ${ctx.tag}`)}) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;
DELETE FROM hostile_big WHERE id = ${(base + 511n).toString()};`,
    );
    return `on the origin's hostile_big: row ${base + 1n} changed, row ${fresh} added, row ${base + 511n} deleted`;
  },
};

const openTransaction: HostileEvent = {
  id: "open-transaction",
  holes: "7",
  moments: ["before-run", "after-ahead"],
  act(ctx) {
    const fifo = `${FIFO}-${ctx.tag}`;
    // psql reads its commands from a FIFO kept open by a sleeper: the transaction stays open,
    // holding its xid, until the resolution writes COMMIT and ends the sleeper.
    ctx.lab.must(
      "origin",
      `rm -f ${fifo} ${fifo}.*; mkfifo ${fifo}
setsid sleep infinity > ${fifo} < /dev/null 2>&1 & echo $! > ${fifo}.holder
setsid bash -c 'runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -d ${DB} < ${fifo} > ${fifo}.out 2>&1; echo $? > ${fifo}.rc' < /dev/null > /dev/null 2>&1 &
printf '%s\\n' 'SET ROLE bj;' 'BEGIN;' ${shq(`INSERT INTO hostile_tx VALUES ('open ${ctx.tag}', 'committed late');`)} 'SELECT txid_current();' > ${fifo}
for i in $(seq 1 50); do grep -q '^ *[0-9]' ${fifo}.out 2>/dev/null && break; sleep 0.1; done
grep -q '^ *[0-9]' ${fifo}.out`,
    );
    ctx.resolveLater(() => {
      const r = ctx.lab.sh(
        "origin",
        `printf '%s\\n' 'COMMIT;' > ${fifo} 2>/dev/null; kill $(cat ${fifo}.holder) 2>/dev/null
for i in $(seq 1 100); do [ -s ${fifo}.rc ] && break; sleep 0.1; done
echo "psql exit $(cat ${fifo}.rc 2>/dev/null || echo '?')"; tail -3 ${fifo}.out`,
      );
      return `the open transaction was told to commit: ${r.stdout.replace(/\s+/g, " ").trim()}`;
    });
    return `on the origin: a session holds a transaction that inserted hostile_tx 'open ${ctx.tag}', uncommitted (committed after the commands)`;
  },
};

const preparedTransaction: HostileEvent = {
  id: "prepared-transaction",
  holes: "7",
  moments: ["before-run", "after-ahead"],
  act(ctx) {
    const gid = `hostile-${ctx.tag}`;
    psql(
      ctx.lab,
      "origin",
      `BEGIN;
INSERT INTO hostile_tx VALUES (${sqlText(`prepared ${ctx.tag}`)}, 'committed late');
PREPARE TRANSACTION ${sqlText(gid)};`,
    );
    ctx.resolveLater(() => {
      const r = ctx.lab.sh(
        "origin",
        `runuser -u postgres -- psql -X -A -t -d ${DB} -c "SELECT count(*) FROM pg_prepared_xacts WHERE gid = '${gid}'"`,
      );
      if (r.stdout.trim() !== "1")
        return `prepared transaction ${gid} no longer pending (${r.stdout.trim() || r.stderr.trim()})`;
      const c = ctx.lab.sh("origin", `runuser -u postgres -- psql -X -d ${DB} -c "COMMIT PREPARED '${gid}'"`);
      return `prepared transaction ${gid} committed by the world: ${(c.stdout + c.stderr).trim()}`;
    });
    return `on the origin: prepared transaction ${gid} inserting hostile_tx 'prepared ${ctx.tag}'`;
  },
};

const hardlinkAlias: HostileEvent = {
  id: "hardlink-alias",
  holes: "4",
  moments: ["before-run", "after-ahead"],
  act(ctx) {
    ctx.lab.must("origin", `printf '%s\\n' ${shq(`via alias ${ctx.tag}`)} >> ${OUTSIDE}/alias`);
    const name = ctx.lab.must("origin", `cat ${OUTSIDE}/alias.name`).trim();
    return `on the origin: appended through ${OUTSIDE}/alias, whose other name is ${name}`;
  },
};

const lateMount: HostileEvent = {
  id: "late-mount",
  holes: "4",
  moments: ["before-run", "after-ahead"],
  act(ctx) {
    ctx.lab.must(
      "origin",
      `mountpoint -q ${MOUNT_DIR} || mount -t tmpfs -o size=8m,mode=0755 hostile ${MOUNT_DIR}
echo ${shq(`in the mount ${ctx.tag}`)} > ${MOUNT_DIR}/hostile-${ctx.tag}.`,
    );
    return `on the origin: a tmpfs on ${MOUNT_DIR} (after the watches were set), file hostile-${ctx.tag}. written in it`;
  },
};

/** Every hostile event, in a fixed order (the seeded scheduler indexes it). */
export const HOSTILE_EVENTS: readonly HostileEvent[] = [
  journalOverflow,
  clockStepBack,
  targetWrite,
  originDdl,
  bigintKeys,
  openTransaction,
  preparedTransaction,
  hardlinkAlias,
  lateMount,
];
