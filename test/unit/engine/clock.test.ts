import assert from "node:assert/strict";
import test from "node:test";
import {
  clockMark,
  isClockMark,
  markInTodaysClock,
  systemClock,
  type ClockSource,
} from "../../../src/engine/clock.js";

function fakeClock(
  wallMs: number,
  uptimeMs: number,
  bootId = "boot-1",
): ClockSource & { step(ms: number): void; pass(ms: number): void } {
  return {
    wallMs: () => wallMs,
    uptimeMs: () => uptimeMs,
    bootId: () => bootId,
    step(ms: number) {
      wallMs += ms;
    },
    pass(ms: number) {
      wallMs += ms;
      uptimeMs += ms;
    },
  };
}

void test("the marked moment in today's clock: unchanged when the clock ran straight", () => {
  const c = fakeClock(1_000_000_000, 50_000);
  const mark = clockMark(c);
  c.pass(60_000);
  assert.equal(markInTodaysClock(mark, c), 1_000_000_000);
});

void test("a clock stepped back an hour after the mark moves the moment back by the hour (changes since stay after it)", () => {
  const c = fakeClock(1_000_000_000, 50_000);
  const mark = clockMark(c);
  c.pass(10_000);
  c.step(-3_600_000);
  c.pass(5_000);
  const at = markInTodaysClock(mark, c)!;
  assert.equal(at, 1_000_000_000 - 3_600_000);
  // A file changed now is stamped with today's clock: it is found (its ctime is after the moment).
  assert.ok(c.wallMs() > at);
});

void test("a clock stepped forwards keeps the moment the clock said then (never later)", () => {
  const c = fakeClock(1_000_000_000, 50_000);
  const mark = clockMark(c);
  c.step(7_200_000);
  assert.equal(markInTodaysClock(mark, c), 1_000_000_000);
});

void test("after a reboot nothing can be told", () => {
  const c = fakeClock(1_000_000_000, 50_000);
  const mark = clockMark(c);
  assert.equal(markInTodaysClock(mark, fakeClock(1_000_100_000, 3_000, "boot-2")), undefined);
});

void test("the system clock reads this machine's boot id and boot-time clock", () => {
  const mark = clockMark(systemClock);
  assert.ok(isClockMark(mark));
  assert.match(mark.bootId, /^[0-9a-f-]{36}$/);
  assert.ok(mark.uptimeMs > 0);
  assert.ok(Math.abs(markInTodaysClock(mark)! - mark.wallMs) < 1000);
  assert.equal(isClockMark({ wallMs: 1 }), false);
});
