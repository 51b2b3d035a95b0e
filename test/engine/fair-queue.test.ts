// The engine's waiting requests in fair order across clients (src/engine/fair-queue.ts): a single
// request is not queued behind another client's batch, weights divide the order, one client's own
// requests stay first come first served, and one client alone keeps arrival order.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type FairShare, fairOrder } from "../../src/engine/fair-queue.js";

const req = (id: string, client?: string, rows = 1, weight?: number) => ({ id, client, rows, weight });
const ids = (claims: readonly { id: string }[]) => claims.map((c) => c.id);

test("one client (or none) keeps arrival order", () => {
  const waiting = [req("a", "t"), req("b", "t"), req("c", "t")];
  assert.deepEqual(ids(fairOrder(waiting, [])), ["a", "b", "c"]);
  assert.deepEqual(ids(fairOrder([req("x"), req("y")], [])), ["x", "y"]);
});

test("a single request is not queued behind another client's batch", () => {
  const batch = Array.from({ length: 50 }, (_, k) => req(`t${k}`, "trainer", 2));
  const waiting = [...batch, req("single", "eval", 2)];
  const running: FairShare[] = Array.from({ length: 16 }, () => ({ client: "trainer" }));
  assert.equal(fairOrder(waiting, running)[0]?.id, "single");
});

test("clients alternate by rows held, each in its own arrival order", () => {
  const waiting = [req("a1", "a"), req("a2", "a"), req("a3", "a"), req("b1", "b"), req("b2", "b")];
  assert.deepEqual(ids(fairOrder(waiting, [])), ["a1", "b1", "a2", "b2", "a3"]);
});

test("weights divide the order: a client of weight 2 goes twice as often", () => {
  const waiting = [
    ...Array.from({ length: 6 }, (_, k) => req(`h${k}`, "heavy", 1, 2)),
    ...Array.from({ length: 6 }, (_, k) => req(`l${k}`, "light", 1, 1)),
  ];
  const first6 = fairOrder(waiting, []).slice(0, 6);
  assert.equal(first6.filter((c) => c.client === "heavy").length, 4);
  assert.equal(first6.filter((c) => c.client === "light").length, 2);
});

test("the same objects come back, each once", () => {
  const waiting = [req("a", "x", 3), req("b", "y"), req("c", "x")];
  const order = fairOrder(waiting, Array(4).fill({ client: "y" }));
  assert.equal(order.length, 3);
  assert.ok(order.every((c) => waiting.includes(c)));
  assert.deepEqual(ids(order), ["a", "c", "b"]);
});
