/**
 * Every path of the tool's own directories, named in one place. The state directory
 * (`--state-dir`, default /var/lib/bm-migrate) holds what a migration needs to resume and to be
 * proven; the log directory (`--log-dir`, default /var/log/bm-migrate) what it said. Nothing else
 * spells out a file or folder below them.
 *
 * ```
 * <state-dir>/journal.jsonl                the journal: every pass, step and result
 * <state-dir>/lock, lock.children          the run holding the lock, and its children
 * <state-dir>/changes/watcher.json, ID.log the change journal's watcher and its event logs
 * <state-dir>/dumps/PASS/                  the cold sync's database dumps
 * <state-dir>/set-aside/DIR/               what the fresh target had in each data directory
 * <state-dir>/set-aside/leftovers/PASS/    the target's own bm-core queues (5.x)
 * <state-dir>/config-before/PASS/          configuration files the cold sync replaced or set aside
 * <state-dir>/swap-before/FILE             network configuration before the swap changed it
 * <state-dir>/verify/counts-*.json         the verification ahead's row-group counts
 * <state-dir>/reports/                     check reports and the HTML migration report
 * <log-dir>/bm-migrate.log                 every event of every command, time-stamped
 * ```
 */
import { join } from "node:path";

export const statePaths = (stateDir: string) => ({
  journal: join(stateDir, "journal.jsonl"),
  lock: join(stateDir, "lock"),
  lockChildren: join(stateDir, "lock.children"),
  changes: join(stateDir, "changes"),
  watcherMeta: join(stateDir, "changes", "watcher.json"),
  changeLog: (id: string): string => join(stateDir, "changes", `${id}.log`),
  dumps: (pass: string): string => join(stateDir, "dumps", pass),
  setAsideRoot: join(stateDir, "set-aside"),
  /** Where the fresh target's content of data directory `dir` is set aside. */
  setAside: (dir: string): string => join(stateDir, "set-aside", dir.replace(/^\/+/, "")),
  leftovers: (pass: string): string => join(stateDir, "set-aside", "leftovers", pass),
  configBeforeRoot: join(stateDir, "config-before"),
  configBefore: (pass: string): string => join(stateDir, "config-before", pass),
  swapBefore: (file: string): string => join(stateDir, "swap-before", file),
  verify: join(stateDir, "verify"),
  reports: join(stateDir, "reports"),
});

export const logPaths = (logDir: string) => ({
  log: join(logDir, "bm-migrate.log"),
});
