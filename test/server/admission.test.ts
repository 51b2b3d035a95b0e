// Fair shares of the queue (src/server/admission.ts): a batch cannot take another client's share; a
// single call under its share is admitted while a batch holds the rest; weights are honoured; a
// client alone may use every slot; a batch that filled the queue before another client came gives
// its slots back to that client's share as its judgements finish. Judgements here are promises the
// test settles by hand; time moves only on a hand-moved clock.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError } from "../../src/errors.js";
import { Admission, type RefusalReason, type Slots } from "../../src/server/admission.js";
import { ManualClock, turnsUntil } from "../support/clock.js";

/** Judgements that end when the test says. */
class Work {
  private readonly ends: (() => void)[] = [];
  started = 0;
  finished = 0;

  /** Queues `n` judgements through `slots`; each runs until `finishOne` ends it. */
  submit(slots: Slots, n: number): Promise<unknown> {
    return Promise.all(
      Array.from({ length: n }, () =>
        slots.run(
          () =>
            new Promise<void>((resolve) => {
              this.started++;
              this.ends.push(() => {
                this.finished++;
                resolve();
              });
            }),
        ),
      ),
    );
  }

  get running(): number {
    return this.ends.length;
  }

  /** Ends the oldest running judgement and lets the slots hand on. */
  async finishOne(): Promise<void> {
    const end = this.ends.shift();
    assert.ok(end, "no judgement is running");
    const before = this.finished;
    end();
    await turnsUntil(() => this.finished > before);
    await turnsUntil(() => true, 5);
  }
}

function setup(limit: number, weights: Record<string, number> = {}, idleMs = 60_000) {
  const clock = new ManualClock();
  const refused: RefusalReason[] = [];
  const admission = new Admission({
    limit,
    weightOf: (c) => weights[c] ?? 1,
    idleMs,
    now: clock.now,
    onRefuse: (r) => refused.push(r),
  });
  return { admission, clock, refused };
}

const is429 = (err: unknown) => err instanceof ApiError && err.status === 429;

test("a client alone may use every slot (work-conserving)", () => {
  const { admission } = setup(8);
  const slots = admission.admit("trainer", 100);
  assert.equal(slots.count, 8);
  assert.equal(admission.depth, 8);
  assert.throws(() => admission.admit("trainer", 1), is429);
  slots.release();
  assert.equal(admission.depth, 0);
});

test("a batch cannot take the share of a client seen recently", () => {
  const { admission, refused } = setup(8);
  admission.admit("eval", 1).release(); // eval was here a moment ago
  const batch = admission.admit("trainer", 100);
  assert.equal(batch.count, 4, "half of 8: eval's share stays free");
  // eval's single calls are admitted, up to its share, while the batch holds the rest.
  const singles = Array.from({ length: 4 }, () => admission.admit("eval", 1));
  assert.equal(admission.heldBy("eval"), 4);
  assert.throws(() => admission.admit("eval", 1), is429, "eval at its share, queue full");
  assert.throws(() => admission.admit("trainer", 1), is429);
  assert.deepEqual(refused, ["queue_full", "queue_full"]);
  for (const s of singles) s.release();
  batch.release();
});

test("a single call under its share is admitted while a batch runs, however many judgements it has", async () => {
  const { admission } = setup(8);
  admission.admit("eval", 1).release();
  const work = new Work();
  const batch = admission.admit("trainer", 40);
  const done = work.submit(batch, 40);
  await turnsUntil(() => work.running === 4);
  for (let round = 0; round < 36; round++) {
    // Between every two of the batch's judgements, eval asks for its whole share: never refused.
    const singles = Array.from({ length: 4 }, () => admission.admit("eval", 1));
    assert.ok(
      admission.heldBy("trainer") <= 4,
      `round ${round}: trainer holds ${admission.heldBy("trainer")}`,
    );
    for (const s of singles) s.release();
    await work.finishOne();
  }
  while (work.running > 0) await work.finishOne();
  await done;
  batch.release();
  assert.equal(admission.depth, 0);
});

test("a batch that filled the queue before another client came shrinks to its share as it runs", async () => {
  const { admission, refused } = setup(8);
  const work = new Work();
  const batch = admission.admit("trainer", 40);
  const done = work.submit(batch, 40);
  await turnsUntil(() => work.running === 8);
  // The newcomer finds no slot free: one 429, and from then on its share is reserved.
  assert.throws(() => admission.admit("eval", 1), is429);
  assert.deepEqual(refused, ["queue_full"]);
  for (let i = 0; i < 4; i++) await work.finishOne();
  assert.equal(admission.heldBy("trainer"), 4, "the finished judgements' slots were not taken again");
  const singles = Array.from({ length: 4 }, () => admission.admit("eval", 1));
  assert.equal(admission.depth, 8);
  for (const s of singles) s.release();
  while (work.running > 0) await work.finishOne();
  await done;
  assert.equal(work.finished, 40, "the batch still ran every judgement");
  batch.release();
});

test("free slots reserved for another client's share refuse with reason share_exceeded", () => {
  const { admission, refused } = setup(8);
  admission.admit("eval", 1).release();
  const batch = admission.admit("trainer", 100);
  assert.equal(batch.count, 4);
  assert.throws(() => admission.admit("trainer", 1), is429);
  assert.deepEqual(refused, ["share_exceeded"]);
  batch.release();
});

test("weights split the queue in proportion", () => {
  const { admission } = setup(12, { big: 3, small: 1 });
  admission.admit("small", 1).release();
  const big = admission.admit("big", 100);
  assert.equal(big.count, 9, "3/4 of 12");
  assert.equal(admission.shareOf("small"), 3);
  const small = admission.admit("small", 100);
  assert.equal(small.count, 3);
  big.release();
  small.release();
});

test("an idle client's reservation lapses after idleMs and a batch may use its slots again", async () => {
  const { admission, clock } = setup(8, {}, 1000);
  admission.admit("eval", 1).release();
  const work = new Work();
  const batch = admission.admit("trainer", 40);
  const done = work.submit(batch, 40);
  await turnsUntil(() => work.running === 4);
  clock.advance(1001);
  // The next finished judgement lets the batch grow into the slots eval no longer reserves.
  await work.finishOne();
  assert.equal(admission.heldBy("trainer"), 8);
  while (work.running > 0) await work.finishOne();
  await done;
  batch.release();
});
