/**
 * A moment of this machine's wall clock that survives the clock being stepped.
 *
 * The wall clock (what file ctimes are stamped with) can be stepped backwards or forwards by an
 * administrator or by time synchronisation; the boot-time clock (`/proc/uptime`, CLOCK_BOOTTIME) only
 * ever moves forwards, and counts while the machine is suspended. A mark holds both, with the
 * boot's identity, so that later the wall-clock time "of that moment, in today's clock" can be told
 * even if the clock was stepped in between: never later than it was, never later than now minus
 * the time that really passed. Across a reboot nothing can be told (the boot-time clock restarted).
 */
import { readFileSync } from "node:fs";

export interface ClockMark {
  /** Wall clock, ms since the epoch. */
  wallMs: number;
  /** `/proc/sys/kernel/random/boot_id`: a new value at each boot. */
  bootId: string;
  /** Time since boot (CLOCK_BOOTTIME), ms. */
  uptimeMs: number;
}

export interface ClockSource {
  wallMs(): number;
  bootId(): string;
  uptimeMs(): number;
}

export const systemClock: ClockSource = {
  wallMs: () => Date.now(),
  bootId: () => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(),
  uptimeMs: () => Math.round(Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000),
};

export function clockMark(clock: ClockSource = systemClock): ClockMark {
  return { wallMs: clock.wallMs(), bootId: clock.bootId(), uptimeMs: clock.uptimeMs() };
}

export function isClockMark(v: unknown): v is ClockMark {
  const m = v as ClockMark | undefined;
  return (
    typeof m === "object" &&
    m !== null &&
    typeof m.wallMs === "number" &&
    typeof m.bootId === "string" &&
    typeof m.uptimeMs === "number"
  );
}

/**
 * The wall-clock time, in today's clock, at or before the marked moment: the earlier of what the
 * clock said then and now minus the boot-time clock's elapsed time (a step backwards since the
 * mark moves it back by the step). Undefined when the machine was rebooted since.
 */
export function markInTodaysClock(mark: ClockMark, clock: ClockSource = systemClock): number | undefined {
  if (clock.bootId() !== mark.bootId) return undefined;
  const elapsed = clock.uptimeMs() - mark.uptimeMs;
  return Math.min(mark.wallMs, clock.wallMs() - elapsed);
}
