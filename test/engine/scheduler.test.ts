// Admission planning for continuous batching: first come first served under a KV byte budget and a
// row limit, no overtaking, requests that can never fit rejected with a reason, running demand counted.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Demand, demandBytes, planAdmission } from "../../src/engine/scheduler.js";

const BPT = 10; // KV bytes per token
const req = (id: string, rows: number, tokensPerRow: number): Demand => ({ id, rows, tokensPerRow });

test("demandBytes is rows × tokens per row × bytes per token", () => {
  assert.equal(demandBytes(req("a", 3, 7), BPT), 210);
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
  // Once the running request is gone the big one goes first, then the small ones that still fit.
  const later = planAdmission([], waiting, { kvBudgetBytes: 800, maxRows: 100 }, BPT);
  assert.deepEqual(later.admit, ["big", "small", "tiny"]);
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
  // 250 bytes running: only one more 100-byte request fits.
  assert.deepEqual(planAdmission([req("r", 1, 25)], waiting, limits, BPT).admit, ["a"]);
  // Multi-row running demand: 2 rows × 15 tokens = 300 bytes.
  assert.deepEqual(planAdmission([req("r", 2, 15)], waiting, limits, BPT).admit, ["a"]);
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
