// Admission planning for continuous batching: first come first served under a KV byte budget and a
// row limit, no overtaking, requests that can never fit rejected with a reason, running demand counted.

import assert from "node:assert/strict";
import { test } from "node:test";
import { batchBytes, type Demand, planAdmission } from "../../src/engine/scheduler.js";

const BPT = 10; // KV bytes per token
const req = (id: string, rows: number, tokensPerRow: number): Demand => ({ id, rows, tokensPerRow });

test("batchBytes counts every row as long as the longest (rows are left-padded together)", () => {
  assert.equal(batchBytes([req("a", 3, 7)], BPT), 210);
  assert.equal(batchBytes([req("a", 3, 7), req("b", 1, 20)], BPT), 4 * 20 * BPT);
  assert.equal(batchBytes([], BPT), 0);
});

test("short requests joining a long one are counted at the long one's length", () => {
  // Alone, each 1-row request of 10 tokens needs 100 bytes; beside a 50-token row each costs 500.
  const waiting = [req("a", 1, 10), req("b", 1, 10)];
  const limits = { kvBudgetBytes: 1200, maxRows: 100 };
  assert.deepEqual(planAdmission([], waiting, limits, BPT).admit, ["a", "b"]);
  assert.deepEqual(planAdmission([req("long", 1, 50)], waiting, limits, BPT).admit, ["a"]);
});

test("admits in arrival order while the byte budget holds", () => {
  // Each request needs 1 × 10 × 10 = 100 bytes; 350 bytes fit three.
  const waiting = ["a", "b", "c", "d", "e"].map((id) => req(id, 1, 10));
  const plan = planAdmission([], waiting, { kvBudgetBytes: 350, maxRows: 100 }, BPT);
  assert.deepEqual(plan.admit, ["a", "b", "c"]);
  assert.deepEqual(plan.reject, []);
  // Exactly at the budget is allowed.
  const exact = planAdmission([], waiting, { kvBudgetBytes: 300, maxRows: 100 }, BPT);
  assert.deepEqual(exact.admit, ["a", "b", "c"]);
});

test("admits in arrival order while the row limit holds", () => {
  const waiting = [req("a", 2, 1), req("b", 3, 1), req("c", 1, 1), req("d", 1, 1)];
  const plan = planAdmission([], waiting, { kvBudgetBytes: 1e9, maxRows: 6 }, BPT);
  assert.deepEqual(plan.admit, ["a", "b", "c"]);
});

test("no overtaking: a big request at the head blocks later small ones", () => {
  const running = [req("r", 1, 50)]; // 500 bytes
  const waiting = [req("big", 1, 40), req("small", 1, 1), req("tiny", 1, 1)];
  const plan = planAdmission(running, waiting, { kvBudgetBytes: 800, maxRows: 100 }, BPT);
  assert.deepEqual(plan.admit, [], "small requests must not overtake the big one that would fit later");
  assert.deepEqual(plan.reject, []);
  // Once the running request is gone the big one goes first, then the small ones that still fit
  // (padded to its 40 tokens: two rows are 800 bytes, three would be 1200).
  const later = planAdmission([], waiting, { kvBudgetBytes: 800, maxRows: 100 }, BPT);
  assert.deepEqual(later.admit, ["big", "small"]);
  // Same for rows: a 4-row request blocks 1-row requests behind it.
  const rows = planAdmission(
    [req("r", 3, 1)],
    [req("wide", 4, 1), req("narrow", 1, 1)],
    { kvBudgetBytes: 1e9, maxRows: 6 },
    BPT,
  );
  assert.deepEqual(rows.admit, []);
});

test("requests that can never fit are rejected with a reason and do not block the queue", () => {
  const waiting = [req("huge", 1, 1000), req("wide", 9, 1), req("ok", 2, 10)];
  const plan = planAdmission([], waiting, { kvBudgetBytes: 500, maxRows: 8 }, BPT);
  assert.deepEqual(plan.admit, ["ok"]);
  assert.deepEqual(
    plan.reject.map((r) => r.id),
    ["huge", "wide"],
  );
  const huge = plan.reject.find((r) => r.id === "huge")?.reason ?? "";
  assert.match(huge, /10000/);
  assert.match(huge, /500/);
  const wide = plan.reject.find((r) => r.id === "wide")?.reason ?? "";
  assert.match(wide, /9 samples/);
  assert.match(wide, /8 rows/);
  // Rejection does not depend on what is running: it could not fit even into an empty batch.
  const busy = planAdmission(
    [req("r", 8, 1)],
    [req("huge", 1, 1000)],
    { kvBudgetBytes: 500, maxRows: 8 },
    BPT,
  );
  assert.deepEqual(
    busy.reject.map((r) => r.id),
    ["huge"],
  );
});

test("running demand counts against both limits", () => {
  const waiting = [req("a", 1, 10), req("b", 1, 10)];
  const limits = { kvBudgetBytes: 400, maxRows: 4 };
  assert.deepEqual(planAdmission([], waiting, limits, BPT).admit, ["a", "b"]);
  // A 15-token row running: with one more row 2 × 15 × 10 = 300 bytes fit, with two 450 do not.
  assert.deepEqual(planAdmission([req("r", 1, 15)], waiting, limits, BPT).admit, ["a"]);
  // Multi-row running demand: 2 rows × 12 tokens; one more row makes 360 bytes, two 480.
  assert.deepEqual(planAdmission([req("r", 2, 12)], waiting, limits, BPT).admit, ["a"]);
  // 3 rows running of 4: one more row.
  assert.deepEqual(planAdmission([req("r", 3, 1)], waiting, limits, BPT).admit, ["a"]);
  // A full batch admits nothing.
  assert.deepEqual(planAdmission([req("r", 4, 1)], waiting, limits, BPT).admit, []);
});

test("an empty queue plans nothing", () => {
  assert.deepEqual(planAdmission([req("r", 1, 1)], [], { kvBudgetBytes: 10, maxRows: 1 }, BPT), {
    admit: [],
    reject: [],
  });
});
