// Time and progress in tests without the machine's speed in them: a clock that moves only when the
// test says (its timers fire as it passes them), and a wait bounded by event-loop turns, not
// milliseconds (the engine's run() and the fakes advance one step per turn).

import assert from "node:assert/strict";
import type { Clock } from "../../src/judge/clock.js";

export class ManualClock implements Clock {
  time: number;
  private timers: { at: number; fire: () => void }[] = [];

  constructor(start = 1_000_000) {
    this.time = start;
  }

  // Arrow properties: `clock.now` is passed on its own (EngineSettings.now).
  now = (): number => this.time;

  after = (ms: number, fire: () => void): (() => void) => {
    const timer = { at: this.time + ms, fire };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  };

  advance(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const t of due) t.fire();
  }
}

/** Yields event-loop turns until `done()` holds, at most `maxTurns` of them. */
export async function turnsUntil(done: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns && !done(); i++) await new Promise<void>((resolve) => setImmediate(resolve));
  assert.ok(done(), `not reached within ${maxTurns} event-loop turns`);
}
