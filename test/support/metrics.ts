// Reading the server's Prometheus gauges in tests: a test that needs the server in some state (work
// accepted, requests waiting in the engine) waits for the gauge saying so instead of sleeping.

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

/** One unlabelled sample's value from /metrics (NaN when absent). */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
}

/** Polls /metrics until the gauge satisfies `ok`: at most `tries` reads, 50 ms apart. */
export async function waitForMetric(
  url: string,
  name: string,
  ok: (value: number) => boolean,
  tries = 600,
): Promise<number> {
  let value = Number.NaN;
  for (let i = 0; i < tries; i++) {
    value = await metric(url, name);
    if (ok(value)) return value;
    await sleep(50);
  }
  assert.fail(`${name} is still ${value} after ${tries} reads`);
}
