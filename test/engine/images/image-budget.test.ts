// The image memory budget: what does not fit waits, first come first served; shrinking and releasing
// give bytes back (once); a request larger than the whole budget takes all of it alone, never waiting
// forever.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type BudgetGrant, ImageBudget } from "../../../src/engine/images/image-budget.js";

const turn = () => new Promise((r) => setImmediate(r));

test("what does not fit waits, first come first served, until given back", async () => {
  const budget = new ImageBudget(100);
  const order: string[] = [];
  const a = await budget.acquire(60);
  const mark = (name: string) => (g: BudgetGrant) => {
    order.push(name);
    return g;
  };
  const b = budget.acquire(50).then(mark("b"));
  const c = budget.acquire(10).then(mark("c"));
  await turn();
  assert.deepEqual(order, [], "b does not fit; c fits but does not overtake b");
  assert.equal(budget.waiting, 2);
  a.release();
  a.release(); // giving back twice gives back once
  const [gb, gc] = await Promise.all([b, c]);
  assert.deepEqual(order, ["b", "c"]);
  assert.equal(budget.inUse, 60);
  gb.release();
  gc.release();
  assert.equal(budget.inUse, 0);
});

test("shrinking gives back the difference and lets waiters in; it never grows", async () => {
  const budget = new ImageBudget(100);
  const decode = await budget.acquire(90);
  let next: BudgetGrant | undefined;
  const waiting = budget.acquire(50).then((g) => {
    next = g;
  });
  await turn();
  assert.equal(next, undefined);
  decode.shrink(40); // the decode is done; only the patches stay
  decode.shrink(80); // no growth
  await waiting;
  assert.equal(decode.bytes, 40);
  assert.equal(budget.inUse, 90);
  decode.release();
  (next as BudgetGrant | undefined)?.release();
  assert.equal(budget.inUse, 0);
});

test("more than the whole budget waits until it is alone, then takes all of it; nothing deadlocks", async () => {
  const budget = new ImageBudget(100);
  const small = await budget.acquire(30);
  let hugeGranted = false;
  const huge = budget.acquire(1000).then((g) => {
    hugeGranted = true;
    return g;
  });
  const after = budget.acquire(1);
  await turn();
  assert.equal(hugeGranted, false, "waits for the budget to be empty");
  small.release();
  const g = await huge;
  assert.equal(g.bytes, 100);
  assert.equal(budget.inUse, 100);
  assert.equal(budget.waiting, 1, "the next waits behind it");
  g.release();
  (await after).release();
  assert.equal(budget.inUse, 0);
});

test("many grants of mixed sizes, given back in any order, all get served and leave nothing held", async () => {
  const budget = new ImageBudget(100);
  const sizes = [70, 20, 150, 5, 99, 100, 1, 60, 60, 60, 0];
  const served: number[] = [];
  await Promise.all(
    sizes.map(async (size, k) => {
      const g = await budget.acquire(size);
      served.push(k);
      assert.ok(budget.inUse <= budget.capacity);
      await turn();
      g.release();
    }),
  );
  assert.deepEqual(
    served,
    sizes.map((_, k) => k),
    "granted in the order asked",
  );
  assert.equal(budget.inUse, 0);
  assert.equal(budget.waiting, 0);
});
