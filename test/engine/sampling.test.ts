// Sampling: the seeded PRNG (reproducible streams, range, seed validation) and sampleToken (greedy,
// top-k, top-p, plain temperature sampling matching softmax, and InvalidLogitsError on bad logits).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Prng } from "../../src/engine/sampling/prng.js";
import {
  argmax,
  InvalidLogitsError,
  type SamplingParams,
  sampleToken,
} from "../../src/engine/sampling/sampler.js";

const draw = (prng: Prng, n: number) => Array.from({ length: n }, () => prng.next());

function counts(
  logits: number[],
  params: SamplingParams,
  draws: number,
  seed = 1234,
): { counts: number[]; rng: Prng } {
  const rng = new Prng(seed);
  const out = new Array(logits.length).fill(0) as number[];
  const data = Float32Array.from(logits);
  for (let i = 0; i < draws; i++) {
    const token = sampleToken(data, params, rng);
    out[token] = (out[token] as number) + 1;
  }
  return { counts: out, rng };
}

function softmax(logits: number[], t = 1): number[] {
  const best = Math.max(...logits);
  const w = logits.map((l) => Math.exp((l - best) / t));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

test("Prng: the same seed gives the same stream, different seeds differ", () => {
  assert.deepEqual(draw(new Prng(42), 100), draw(new Prng(42), 100));
  assert.notDeepEqual(draw(new Prng(42), 100), draw(new Prng(43), 100));
  // Seeds that differ only above 32 bits still give different streams.
  assert.notDeepEqual(draw(new Prng(7), 20), draw(new Prng(7 + 2 ** 32), 20));
  assert.notDeepEqual(draw(new Prng(0), 20), draw(new Prng(1), 20));
});

test("Prng: next() is in [0, 1) and roughly uniform", () => {
  const values = draw(new Prng(9), 20_000);
  for (const v of values) assert.ok(v >= 0 && v < 1, `${v}`);
  const buckets = new Array(10).fill(0) as number[];
  for (const v of values) {
    const b = Math.floor(v * 10);
    buckets[b] = (buckets[b] as number) + 1;
  }
  for (const b of buckets) assert.ok(Math.abs(b - 2000) < 200, `bucket count ${b}`);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
});

test("Prng: rejects negative, non-integer and unsafe seeds", () => {
  assert.throws(() => new Prng(-1), /seed/);
  assert.throws(() => new Prng(1.5), /seed/);
  assert.throws(() => new Prng(Number.NaN), /seed/);
  assert.throws(() => new Prng(2 ** 53), /seed/);
  assert.doesNotThrow(() => new Prng(2 ** 53 - 1));
});

test("temperature 0 is argmax, ties go to the lowest index", () => {
  const rng = new Prng(1);
  const greedy = { temperature: 0, topK: 0, topP: 1 };
  assert.equal(sampleToken(Float32Array.from([0.1, 3, -2, 2.9]), greedy, rng), 1);
  assert.equal(sampleToken(Float32Array.from([1, 5, 2, 5, 5]), greedy, rng), 1);
  assert.equal(sampleToken(Float32Array.from([-1, -1, -1]), greedy, rng), 0);
  // -Infinity entries are fine as long as one logit is finite.
  const minusInf = Number.NEGATIVE_INFINITY;
  assert.equal(sampleToken(Float32Array.from([minusInf, minusInf, -3]), greedy, rng), 2);
  // Greedy ignores top-k / top-p and does not draw from the PRNG.
  const a = new Prng(5);
  sampleToken(Float32Array.from([1, 2]), { temperature: 0, topK: 1, topP: 0.5 }, a);
  assert.equal(a.next(), new Prng(5).next());
});

test("top-k 1 is argmax even at temperature 1", () => {
  const logits = [0.5, 1.9, 2, 1.95, -1];
  const { counts: c } = counts(logits, { temperature: 1, topK: 1, topP: 1 }, 500);
  assert.deepEqual(c, [0, 0, 500, 0, 0]);
  // Ties: the lowest index wins.
  const tie = counts([1, 3, 3, 0], { temperature: 2, topK: 1, topP: 1 }, 200).counts;
  assert.deepEqual(tie, [0, 200, 0, 0]);
});

test("top-k restricts draws to the k best tokens, in softmax proportion among them", () => {
  const logits = [0, 1.2, 0.9, 1.1, 0.8, 1.0, 0.2];
  const { counts: c } = counts(logits, { temperature: 1, topK: 3, topP: 1 }, 6000);
  // The three best: 1 (1.2), 3 (1.1), 5 (1.0).
  const allowed = new Set([1, 3, 5]);
  c.forEach((n, i) => {
    if (!allowed.has(i)) assert.equal(n, 0, `token ${i} drawn ${n} times outside top-3`);
    else assert.ok(n > 0, `token ${i} never drawn`);
  });
  const p = softmax([1.2, 1.1, 1.0]);
  [1, 3, 5].forEach((token, j) => {
    const freq = (c[token] as number) / 6000;
    assert.ok(Math.abs(freq - (p[j] as number)) < 0.03, `token ${token}: ${freq} vs ${p[j]}`);
  });
  // topK larger than the vocabulary is the whole vocabulary.
  const all = counts([0, 0, 0], { temperature: 1, topK: 10, topP: 1 }, 3000).counts;
  for (const n of all) assert.ok(n > 800, `${all}`);
});

test("top-p restricts draws to the nucleus", () => {
  // Probabilities ≈ 0.5, 0.25, 0.125, 0.0625, 0.0625: top-p 0.7 keeps the first two (0.75 ≥ 0.7).
  const logits = [Math.log(8), Math.log(4), Math.log(2), 0, 0];
  const { counts: c } = counts(logits, { temperature: 1, topK: 0, topP: 0.7 }, 6000);
  assert.equal((c[2] as number) + (c[3] as number) + (c[4] as number), 0, `${c}`);
  const freq0 = (c[0] as number) / 6000;
  assert.ok(Math.abs(freq0 - 2 / 3) < 0.03, `renormalised nucleus: ${freq0} vs 0.667`);
  // A top-p below the best token's probability keeps just it.
  const one = counts(logits, { temperature: 1, topK: 0, topP: 0.3 }, 300).counts;
  assert.deepEqual(one, [300, 0, 0, 0, 0]);
  // top-k then top-p: top-k 4 keeps 0..3 (renormalised 8/15, 4/15, 2/15, 1/15); top-p 0.9 keeps 0..2.
  const both = counts(logits, { temperature: 1, topK: 4, topP: 0.9 }, 3000).counts;
  assert.ok((both[2] as number) > 0, `${both}`);
  assert.equal((both[3] as number) + (both[4] as number), 0, `${both}`);
});

test("top-p and top-k keep exactly what a full descending sort keeps, ties broken by index", () => {
  // 60 tokens on 7 logit levels: many ties, so the nucleus often ends inside a tie group.
  const rng = new Prng(5);
  for (const topP of [0.35, 0.6, 0.9]) {
    const logits = Array.from({ length: 60 }, () => Math.floor(rng.next() * 7) * 0.5);
    const order = logits
      .map((_, i) => i)
      .sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
    const p = softmax(logits);
    const nucleus = new Set<number>();
    let cumulative = 0;
    for (const i of order) {
      nucleus.add(i);
      cumulative += p[i] as number;
      if (cumulative >= topP) break;
    }
    const n = 30_000;
    const { counts: c } = counts(logits, { temperature: 1, topK: 0, topP }, n, 99);
    const mass = [...nucleus].reduce((sum, i) => sum + (p[i] as number), 0);
    c.forEach((count, i) => {
      if (!nucleus.has(i)) assert.equal(count, 0, `top-p ${topP}: token ${i} is outside the nucleus`);
      else assert.ok(Math.abs(count / n - (p[i] as number) / mass) < 0.01, `top-p ${topP}: token ${i}`);
    });
    const k = 7;
    const best = new Set(order.slice(0, k));
    const { counts: kc } = counts(logits, { temperature: 1, topK: k, topP: 1 }, 5000, 3);
    kc.forEach((count, i) => {
      assert.equal(count > 0, best.has(i), `top-k ${k}: token ${i} drawn ${count}`);
    });
  }
});

test("temperature 1 with no filters matches softmax over 20k draws (fixed seed)", () => {
  const logits = [2, 1, 0.5, 0, -1, -3, 1.5, 0.2];
  const n = 20_000;
  const first = counts(logits, { temperature: 1, topK: 0, topP: 1 }, n, 77).counts;
  const again = counts(logits, { temperature: 1, topK: 0, topP: 1 }, n, 77).counts;
  assert.deepEqual(first, again, "the same seed gives the same draws");
  const p = softmax(logits);
  first.forEach((c, i) => {
    const freq = c / n;
    assert.ok(Math.abs(freq - (p[i] as number)) < 0.015, `token ${i}: ${freq} vs ${p[i]}`);
  });
});

test("temperature 1 matches softmax on a vocabulary of many 64-token chunks, a short last one included", () => {
  // Mass in several chunks, spread within them, and in the short last chunk (1,000 = 15 · 64 + 40).
  const logits: number[] = Array.from({ length: 1000 }, (_, i) => (i % 97 === 0 ? 4 : i % 13 === 0 ? 2 : -2));
  logits[999] = 4.5;
  logits[970] = 4;
  const n = 60_000;
  const drawn = counts(logits, { temperature: 1, topK: 0, topP: 1 }, n, 11).counts;
  const p = softmax(logits);
  const groups = new Map<number, { observed: number; expected: number }>();
  drawn.forEach((c, i) => {
    const g = groups.get(logits[i] as number) ?? { observed: 0, expected: 0 };
    g.observed += c / n;
    g.expected += p[i] as number;
    groups.set(logits[i] as number, g);
  });
  for (const [logit, g] of groups) {
    assert.ok(Math.abs(g.observed - g.expected) < 0.01, `logit ${logit}: ${g.observed} vs ${g.expected}`);
  }
  const last = (drawn[999] as number) / n;
  assert.ok(Math.abs(last - (p[999] as number)) < 0.01, `token 999: ${last} vs ${p[999]}`);
});

test("temperature flattens or sharpens the distribution", () => {
  const logits = [1, 0];
  const n = 10_000;
  const hot = counts(logits, { temperature: 4, topK: 0, topP: 1 }, n).counts;
  const cold = counts(logits, { temperature: 0.25, topK: 0, topP: 1 }, n).counts;
  const pHot = softmax(logits, 4)[0] as number;
  const pCold = softmax(logits, 0.25)[0] as number;
  assert.ok(Math.abs((hot[0] as number) / n - pHot) < 0.02, `hot ${hot} vs ${pHot}`);
  assert.ok(Math.abs((cold[0] as number) / n - pCold) < 0.02, `cold ${cold} vs ${pCold}`);
});

test("NaN or +Infinity logits throw InvalidLogitsError, in every sampling mode", () => {
  const modes: SamplingParams[] = [
    { temperature: 0, topK: 0, topP: 1 },
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 1, topK: 2, topP: 1 },
    { temperature: 1, topK: 0, topP: 0.9 },
  ];
  for (const mode of modes) {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      for (const at of [0, 2]) {
        const logits = Float32Array.from([0.5, 1, 0.2]);
        logits[at] = bad;
        assert.throws(
          () => sampleToken(logits, mode, new Prng(1)),
          InvalidLogitsError,
          `${JSON.stringify(mode)} with ${bad} at ${at}`,
        );
      }
    }
  }
});

test("all -Infinity logits throw InvalidLogitsError", () => {
  const logits = new Float32Array(4).fill(Number.NEGATIVE_INFINITY);
  for (const mode of [
    { temperature: 0, topK: 0, topP: 1 },
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 1, topK: 3, topP: 1 },
    { temperature: 1, topK: 0, topP: 0.5 },
  ]) {
    assert.throws(() => sampleToken(logits, mode, new Prng(1)), InvalidLogitsError);
  }
});

test("-Infinity logits are never drawn", () => {
  const minusInf = Number.NEGATIVE_INFINITY;
  const logits = [minusInf, 0, minusInf, 0];
  for (const params of [
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 1, topK: 4, topP: 1 },
    { temperature: 1, topK: 0, topP: 0.99 },
  ]) {
    const c = counts(logits, params, 2000).counts;
    assert.equal((c[0] as number) + (c[2] as number), 0, `${JSON.stringify(params)}: ${c}`);
  }
});

test("tiny temperatures are exact (the best token, or a tie among the best) and always finish", () => {
  const logits = new Float32Array(152_000).map((_, i) => Math.sin(i) * 10);
  const best = argmax(logits);
  for (const temperature of [5e-324, 1e-320, 1e-310, 1e-307, 1e-300, 1e-200, 1e-12]) {
    for (const params of [
      { temperature, topK: 0, topP: 1 },
      { temperature, topK: 40, topP: 1 },
      { temperature, topK: 0, topP: 0.9 },
    ]) {
      const token = sampleToken(logits, params, new Prng(1));
      assert.equal(logits[token], logits[best], JSON.stringify(params));
    }
  }
  const tie = new Float32Array([1, 5, 3, 5, 2]);
  const drawn = new Set<number>();
  const rng = new Prng(3);
  for (let i = 0; i < 200; i++) drawn.add(sampleToken(tie, { temperature: 5e-324, topK: 0, topP: 1 }, rng));
  assert.deepEqual([...drawn].sort(), [1, 3], "a tie at the top is drawn evenly, nothing else");
});

test("huge temperatures flatten to uniform and finish", () => {
  const logits = new Float32Array([0, 10, 20, 30]);
  const counts = [0, 0, 0, 0];
  const rng = new Prng(5);
  for (let i = 0; i < 4000; i++) {
    const token = sampleToken(logits, { temperature: 1e300, topK: 0, topP: 1 }, rng);
    counts[token] = (counts[token] ?? 0) + 1;
  }
  for (const c of counts) assert.ok(c > 800 && c < 1200, String(counts));
});
