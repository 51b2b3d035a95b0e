// The generation loop against a FAKE GenerationModel whose KV cache holds the tokens themselves and
// whose logits are a deterministic function of a row's cached tokens and position (so any KV mix-up
// changes the output). Checks: K samples share one prefill and decode as one batch, per-sample seeds,
// finish reasons (stop / length / stop string / invalid / cancelled / deadline), rows leaving and
// joining at step boundaries, capacity errors, and the prefix cache (exact and partial hits).

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CapacityError,
  Engine,
  type EngineSettings,
  type GenerateRequest,
  type GenerationModel,
  type RequestStats,
  type SampleOutput,
} from "../../src/engine/engine.js";
import { EngineError } from "../../src/engine/errors.js";
import { KvBatch, type KvCache, type KvShape, SPARE_COLUMNS } from "../../src/engine/kv.js";
import type { PromptTensors, StepResult } from "../../src/engine/model.js";
import type { GridThw } from "../../src/engine/positions.js";
import type { FloatData } from "../../src/engine/runtime/tensor.js";
import type { SamplingParams } from "../../src/engine/sampling/sampler.js";
import { ManualClock, turnsUntil } from "../support/clock.js";

const V = 32;
const SHAPE: KvShape = { layers: 1, heads: 2, headDim: 2, dtype: "float32" };
const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1 };
const WARM: SamplingParams = { temperature: 1, topK: 0, topP: 1 };

/**
 * Key slots hold token + 1, value slots −(token + 1), padding 0. A row's logits peak at
 * (5·Σtokens + 3·count) mod V and fall off linearly around it.
 */
class FakeModel implements GenerationModel {
  readonly kvShape = SHAPE;
  readonly vocabSize = V;
  readonly cacheNamespace = "fake";
  readonly imagePadTokenId = 999;
  readonly kvLocation = "host";
  /** Prompt work per step: unbounded unless a test sets it. */
  prefillChunkTokens = Number.POSITIVE_INFINITY;
  readonly prefills: { start: number; pastLength: number | undefined; promptTokens: number }[] = [];
  /** Grids of the images the vision encoder ran on. */
  readonly encodes: GridThw[] = [];
  /** The first feature value of each image given to each prefill (undefined: not given). */
  readonly prefillFeatures: (number | undefined)[][] = [];
  /** Rows of each step call. */
  readonly stepRows: number[] = [];
  /** "step:row" (step counted from 1) pairs whose logits are NaN. */
  readonly nanAt = new Set<string>();
  /** Called after each step with its 1-based number (to submit/cancel mid-run). */
  onStep: ((step: number) => void) | undefined;
  /** Prompts whose first token id is here fail their prefill. */
  readonly failPrefillOf = new Set<number>();
  /** Steps (1-based) that throw, as a broken session would. */
  readonly failSteps = new Set<number>();

  emptyKv(rows: number): KvBatch {
    return KvBatch.empty(SHAPE, rows);
  }

  async encodeImage(pixelValues: Float32Array, grid: GridThw): Promise<Float32Array> {
    this.encodes.push(grid);
    // One feature row per merged patch (merge 2), its values the image's first pixel value.
    const rows = (grid[0] * grid[1] * grid[2]) / 4;
    return new Float32Array(rows).fill(pixelValues[0] ?? 0);
  }

  async prefillRange(
    prompt: PromptTensors,
    cached: KvCache | undefined,
    start: number,
    end: number,
    features: readonly (FloatData | undefined)[],
  ): Promise<StepResult> {
    const past = cached as KvBatch | undefined;
    if (this.failPrefillOf.has(prompt.inputIds[0] as number))
      throw new Error("the session failed on this prompt");
    this.prefills.push({ start, pastLength: past?.length, promptTokens: prompt.inputIds.length });
    this.prefillFeatures.push(features.map((f) => f?.[0]));
    if ((start === 0) !== (past === undefined)) throw new Error(`start ${start} with past ${past?.length}`);
    if (past && (past.rows !== 1 || past.length !== start || past.pad[0] !== 0))
      throw new Error("past must be one unpadded row of `start` columns");
    const length = end;
    const tensors = [0, 1].map((t) => {
      const out = new Float32Array(SHAPE.heads * length * SHAPE.headDim);
      for (let h = 0; h < SHAPE.heads; h++)
        for (let c = 0; c < length; c++)
          for (let d = 0; d < SHAPE.headDim; d++) {
            const i = (h * length + c) * SHAPE.headDim + d;
            if (c < start && past)
              out[i] = (past.tensors[t] as Float32Array)[(h * start + c) * SHAPE.headDim + d] as number;
            else out[i] = (t === 0 ? 1 : -1) * ((prompt.inputIds[c] as number) + 1);
          }
      return out;
    });
    const kv = new KvBatch(SHAPE, tensors, 1, length, [0]);
    return { logits: rowLogits(kv, 0), kv };
  }

  async step(tokens: readonly number[], ropeDeltas: readonly number[], cache: KvCache): Promise<StepResult> {
    // As JudgeModel feeds a decoder without new_key_values: the cache compacted (no room columns).
    const kv = (cache as KvBatch).compact();
    this.stepRows.push(tokens.length);
    const stepNumber = this.stepRows.length;
    if (this.failSteps.has(stepNumber)) throw new Error(`step ${stepNumber} failed`);
    if (tokens.length !== kv.rows || ropeDeltas.length !== kv.rows) throw new Error("rows disagree");
    const length = kv.length + 1;
    const present = kv.tensors.map((src, t) => {
      const out = new Float32Array(kv.rows * SHAPE.heads * length * SHAPE.headDim);
      for (let r = 0; r < kv.rows; r++)
        for (let h = 0; h < SHAPE.heads; h++) {
          const rh = r * SHAPE.heads + h;
          out.set(
            src.subarray(rh * kv.length * SHAPE.headDim, (rh + 1) * kv.length * SHAPE.headDim),
            rh * length * SHAPE.headDim,
          );
          for (let d = 0; d < SHAPE.headDim; d++)
            out[(rh * length + kv.length) * SHAPE.headDim + d] =
              (t === 0 ? 1 : -1) * ((tokens[r] as number) + 1);
        }
      return out;
    });
    const next = kv.advance(present, 1);
    const logits = new Float32Array(kv.rows * V);
    for (let r = 0; r < kv.rows; r++) {
      logits.set(rowLogits(next, r), r * V);
      if (this.nanAt.has(`${stepNumber}:${r}`)) logits[r * V + 3] = Number.NaN;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.onStep?.(stepNumber);
    return { logits, kv: next };
  }
}

/** Reads row r's tokens back from the cache (checking key/value agree and padding is zero). */
function cachedTokens(kv: KvBatch, r: number): number[] {
  const tokens: number[] = [];
  const pad = kv.pad[r] as number;
  for (let h = 0; h < SHAPE.heads; h++)
    for (let c = 0; c < kv.length; c++)
      for (let d = 0; d < SHAPE.headDim; d++) {
        const i = ((r * SHAPE.heads + h) * kv.length + c) * SHAPE.headDim + d;
        const key = (kv.tensors[0] as Float32Array)[i] as number;
        const value = (kv.tensors[1] as Float32Array)[i] as number;
        if (c < pad) {
          if (key !== 0 || value !== 0) throw new Error(`row ${r} padding column ${c} is not zero`);
        } else {
          if (key < 1 || value !== -key) throw new Error(`row ${r} column ${c}: key ${key} value ${value}`);
          if (h === 0 && d === 0) tokens.push(key - 1);
          else if (tokens[c - pad] !== key - 1) throw new Error(`row ${r} column ${c}: heads disagree`);
        }
      }
  return tokens;
}

function rowLogits(kv: KvBatch, r: number): Float32Array {
  const tokens = cachedTokens(kv, r);
  const peak = (5 * tokens.reduce((a, b) => a + b, 0) + 3 * tokens.length) % V;
  const logits = new Float32Array(V);
  for (let j = 0; j < V; j++) {
    const dist = Math.min(Math.abs(j - peak), V - Math.abs(j - peak));
    logits[j] = -0.6 * dist;
  }
  return logits;
}

const prompt = (ids: number[]): PromptTensors => ({
  inputIds: ids,
  positions: new Int32Array(3 * ids.length),
  ropeDelta: 0,
});

const ids = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => (i * 7 + offset) % V);

function request(id: string, over: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    id,
    prompt: prompt(ids(10)),
    samples: 1,
    seed: 7,
    sampling: GREEDY,
    maxNewTokens: 6,
    ...over,
  };
}

interface Collector {
  samples: SampleOutput[];
  starts: RequestStats[];
  errors: Error[];
  done: number;
  listener: Parameters<Engine["submit"]>[1];
  bySample(): SampleOutput[];
}

function collector(): Collector {
  const c: Collector = {
    samples: [],
    starts: [],
    errors: [],
    done: 0,
    listener: {
      onStart: (s) => c.starts.push(s),
      onSample: (s) => c.samples.push(s),
      onDone: () => c.done++,
      onError: (e) => c.errors.push(e),
    },
    bySample: () => [...c.samples].sort((a, b) => a.index - b.index),
  };
  return c;
}

const SETTINGS: EngineSettings = { kvBudgetBytes: 1e9, maxRows: 64, prefixCacheBytes: 0 };

function engine(
  model: FakeModel,
  settings: Partial<EngineSettings> = {},
  stop: { eos?: number[]; stopStrings?: string[] } = {},
): Engine {
  return new Engine(
    model,
    { ...SETTINGS, ...settings },
    {
      eosIds: new Set(stop.eos ?? []),
      stopStrings: stop.stopStrings ?? [],
      decodeTail: (tokens) => tokens.map((t) => `<${t}>`).join(""),
    },
  );
}

async function drain(e: Engine, until: () => boolean, max = 500): Promise<void> {
  for (let i = 0; i < max && !until(); i++) await e.iterate();
  assert.ok(until(), "the engine did not finish in time");
}

/** Runs one request alone on a fresh engine and returns its samples by index. */
async function alone(over: Partial<GenerateRequest>, stop: Parameters<typeof engine>[2] = {}) {
  const model = new FakeModel();
  const e = engine(model, {}, stop);
  const c = collector();
  e.submit(request("alone", over), c.listener);
  await drain(e, () => c.done === 1);
  return c.bySample();
}

test("K samples of one prompt prefill once and decode as one batch", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const c = collector();
  e.submit(request("k", { samples: 4, sampling: WARM, maxNewTokens: 6, seed: 100 }), c.listener);
  await drain(e, () => c.done === 1);
  assert.equal(model.prefills.length, 1);
  assert.deepEqual(model.stepRows, [4, 4, 4, 4, 4], "one step per new token after the first, 4 rows each");
  const samples = c.bySample();
  assert.deepEqual(
    samples.map((s) => [s.index, s.seed, s.finishReason, s.tokens.length]),
    [0, 1, 2, 3].map((i) => [i, 100 + i, "length", 6]),
  );
  assert.equal(new Set(samples.map((s) => s.tokens.join(","))).size > 1, true, "samples differ");
  assert.deepEqual(c.starts, [{ promptTokens: 10, cachedPromptTokens: 0 }]);
  assert.equal(c.errors.length, 0);
  // Sample i is exactly what a lone request seeded seed+i produces.
  for (const s of samples) {
    const [lone] = await alone({ samples: 1, sampling: WARM, maxNewTokens: 6, seed: 100 + s.index });
    assert.deepEqual(lone?.tokens, s.tokens, `sample ${s.index}`);
  }
  const stats = e.stats();
  assert.equal(stats.runningRows, 0);
  assert.equal(stats.kvBytes, 0);
  assert.equal(stats.tokensGenerated, 24);
  assert.equal(stats.steps, 5);
});

test("greedy samples are identical and the same seed gives the same tokens again", async () => {
  const [a] = await alone({ sampling: WARM, seed: 3, maxNewTokens: 8 });
  const [b] = await alone({ sampling: WARM, seed: 3, maxNewTokens: 8 });
  assert.deepEqual(a?.tokens, b?.tokens);
  const greedy = await alone({ samples: 3, sampling: GREEDY, maxNewTokens: 8 });
  assert.equal(new Set(greedy.map((s) => s.tokens.join(","))).size, 1);
});

test("finished rows leave the batch; the others continue unchanged", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const a = collector();
  const b = collector();
  e.submit(request("a", { maxNewTokens: 3 }), a.listener);
  e.submit(request("b", { maxNewTokens: 6, prompt: prompt(ids(14, 3)) }), b.listener);
  await drain(e, () => a.done + b.done === 2);
  assert.deepEqual(model.stepRows, [2, 2, 1, 1, 1]);
  assert.equal(a.samples[0]?.tokens.length, 3);
  assert.equal(b.samples[0]?.tokens.length, 6);
  const [bAlone] = await alone({ maxNewTokens: 6, prompt: prompt(ids(14, 3)) });
  assert.deepEqual(b.samples[0]?.tokens, bAlone?.tokens);
  assert.equal(e.stats().kvBytes, 0, "the cache is empty once every row has left");
});

test("eos ends a row with 'stop', max_new_tokens with 'length'", async () => {
  const [free] = await alone({ maxNewTokens: 10 });
  assert.equal(free?.finishReason, "length");
  assert.equal(free?.tokens.length, 10);
  const tokens = free?.tokens ?? [];
  const at = tokens.findIndex((t, i) => i >= 2 && !tokens.slice(0, i).includes(t));
  assert.ok(at >= 2, `no fresh token in ${tokens}`);
  const eos = tokens[at] as number;
  const [stopped] = await alone({ maxNewTokens: 10 }, { eos: [eos] });
  assert.equal(stopped?.finishReason, "stop");
  assert.deepEqual(
    stopped?.tokens,
    tokens.slice(0, at + 1),
    "the eos token ends (and is the last of) the sample",
  );
  // eos as the very first token: the row never reaches a decode step.
  const model = new FakeModel();
  const e = engine(model, {}, { eos: [tokens[0] as number] });
  const c = collector();
  e.submit(request("first", { maxNewTokens: 10 }), c.listener);
  await drain(e, () => c.done === 1);
  assert.equal(c.samples[0]?.finishReason, "stop");
  assert.equal(c.samples[0]?.tokens.length, 1);
  assert.deepEqual(model.stepRows, []);
});

test("a stop string found by decodeTail ends a row with 'stop'", async () => {
  const [free] = await alone({ maxNewTokens: 10 });
  const tokens = free?.tokens ?? [];
  const at = tokens.findIndex((t, i) => i >= 3 && !tokens.slice(0, i).includes(t));
  assert.ok(at >= 3, `no fresh token in ${tokens}`);
  const [stopped] = await alone({ maxNewTokens: 10 }, { stopStrings: ["never", `<${tokens[at]}>`] });
  assert.equal(stopped?.finishReason, "stop");
  assert.deepEqual(stopped?.tokens, tokens.slice(0, at + 1));
  // A stop string spanning two tokens.
  const pair = `${tokens[at - 1]}><${tokens[at]}`;
  const [spanning] = await alone({ maxNewTokens: 10 }, { stopStrings: [pair] });
  assert.equal(spanning?.finishReason, "stop");
  assert.ok((spanning?.tokens.length ?? 99) <= at + 1);
});

test("a request's own stop strings end its rows too, even one longer than the usual tail; empty is refused", async () => {
  const spec = { maxNewTokens: 30, sampling: WARM, seed: 7 };
  const [free] = await alone(spec);
  const tokens = free?.tokens ?? [];
  assert.equal(tokens.length, 30);
  const text = (upTo: number) =>
    tokens
      .slice(0, upTo)
      .map((t) => `<${t}>`)
      .join("");
  /** The tokens a sample keeps when `stop` ends it: up to the first whose text completes it. */
  const until = (stop: string) => tokens.slice(0, tokens.findIndex((_, i) => text(i + 1).includes(stop)) + 1);
  const one = `<${tokens[5]}>`;
  const [own] = await alone({ ...spec, stopStrings: [one] });
  assert.equal(own?.finishReason, "stop");
  assert.deepEqual(own?.tokens, until(one));
  // 20 tokens' text: more than the 16 tokens decoded for the checkpoint's stop strings.
  const long = text(25).slice(text(5).length);
  const [spanning] = await alone({ ...spec, stopStrings: [long] });
  assert.equal(spanning?.finishReason, "stop");
  assert.deepEqual(spanning?.tokens, until(long));
  assert.equal(spanning?.tokens.length, 25);
  assert.throws(
    () => engine(new FakeModel()).submit(request("empty", { stopStrings: [""] }), collector().listener),
    /stop string must not be empty/,
  );
});

test("a choice probe reports the choice tokens' probabilities at the step after its marker text", async () => {
  const [free] = await alone({ maxNewTokens: 10, sampling: GREEDY });
  const tokens = free?.tokens ?? [];
  // The marker is the text of a token not seen before it: the next token is "the choice".
  const at = tokens.findIndex((t, i) => i >= 2 && i < 9 && !tokens.slice(0, i).includes(t));
  assert.ok(at >= 2, `no fresh token in ${tokens}`);
  const chosen = tokens[at + 1] as number;
  const ids = [chosen, (chosen + 1) % V];
  const [probed] = await alone({
    maxNewTokens: 10,
    sampling: GREEDY,
    probe: { after: `<${tokens[at]}>`, tokenIds: ids },
  });
  assert.deepEqual(probed?.tokens, tokens, "probing changes no token");
  const [p1, p2] = probed?.choiceProbabilities ?? [];
  assert.ok(p1 !== undefined && p2 !== undefined && p1 > 0 && p1 < 1);
  // Greedy picked the peak; the fake's logits fall off 0.6 per id: the neighbour is e^-0.6 as likely.
  assert.ok(Math.abs(p1 / p2 - Math.exp(0.6)) < 1e-5, `${p1} / ${p2}`); // float32 logits
  const [unprobed] = await alone({
    maxNewTokens: 10,
    sampling: GREEDY,
    probe: { after: "never", tokenIds: ids },
  });
  assert.equal(unprobed?.choiceProbabilities, undefined, "no marker, no probabilities");
});

test("NaN logits make only that sample 'invalid'; the rest finish and the engine keeps serving", async () => {
  const model = new FakeModel();
  model.nanAt.add("2:1");
  const e = engine(model);
  const c = collector();
  const over = { samples: 3, sampling: WARM, seed: 11, maxNewTokens: 5 };
  e.submit(request("nan", over), c.listener);
  await drain(e, () => c.done === 1);
  const samples = c.bySample();
  assert.deepEqual(
    samples.map((s) => s.finishReason),
    ["length", "invalid", "length"],
  );
  assert.match(samples[1]?.error ?? "", /NaN/);
  assert.equal(samples[1]?.tokens.length, 2, "tokens before the bad step are kept");
  assert.deepEqual(model.stepRows, [3, 3, 2, 2]);
  const clean = await alone(over);
  assert.deepEqual(samples[0]?.tokens, clean[0]?.tokens);
  assert.deepEqual(samples[2]?.tokens, clean[2]?.tokens);
  assert.equal(c.errors.length, 0);
  const next = collector();
  e.submit(request("after"), next.listener);
  await drain(e, () => next.done === 1);
  assert.equal(next.samples[0]?.finishReason, "length");
});

test("cancel(id) ends every row of that request at the next boundary; others continue", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const a = collector();
  const b = collector();
  e.submit(request("a", { samples: 2, maxNewTokens: 20 }), a.listener);
  e.submit(request("b", { maxNewTokens: 20, prompt: prompt(ids(12, 5)) }), b.listener);
  for (let i = 0; i < 3; i++) await e.iterate();
  e.cancel("a");
  assert.equal(a.samples.length, 0, "cancellation takes effect at the next step boundary");
  await e.iterate();
  assert.deepEqual(
    a.bySample().map((s) => [s.finishReason, s.tokens.length]),
    [
      ["cancelled", 4],
      ["cancelled", 4],
    ],
  );
  assert.equal(a.done, 1);
  assert.equal(model.stepRows.at(-1), 1, "only b is decoded after the cancel");
  await drain(e, () => b.done === 1);
  assert.equal(b.samples[0]?.finishReason, "length");
  assert.equal(b.samples[0]?.tokens.length, 20);
  e.cancel("a"); // cancelling a finished request is harmless
  e.cancel("unknown");
});

test("cancel of a waiting request finishes it without a prefill", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const c = collector();
  e.submit(request("w", { samples: 2 }), c.listener);
  e.cancel("w");
  assert.deepEqual(
    c.bySample().map((s) => [s.finishReason, s.tokens.length]),
    [
      ["cancelled", 0],
      ["cancelled", 0],
    ],
  );
  assert.equal(c.done, 1);
  await e.iterate();
  assert.equal(model.prefills.length, 0);
});

test("cancel(id, [i]) cancels just sample i", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const c = collector();
  e.submit(request("s", { samples: 3, sampling: WARM, maxNewTokens: 8 }), c.listener);
  await e.iterate();
  await e.iterate();
  e.cancel("s", [1]);
  await drain(e, () => c.done === 1);
  assert.deepEqual(
    c.bySample().map((s) => [s.finishReason, s.tokens.length]),
    [
      ["length", 8],
      ["cancelled", 3],
      ["length", 8],
    ],
  );
  assert.deepEqual(model.stepRows, [3, 3, 2, 2, 2, 2, 2]);
});

test("a deadline in the past gives 'deadline' without a prefill; one passing mid-run stops the rows", async () => {
  const model = new FakeModel();
  const clock = new ManualClock();
  const e = engine(model, { now: clock.now });
  const late = collector();
  e.submit(request("late", { samples: 2, deadline: clock.now() - 1 }), late.listener);
  await e.iterate();
  assert.deepEqual(
    late.bySample().map((s) => [s.finishReason, s.tokens.length]),
    [
      ["deadline", 0],
      ["deadline", 0],
    ],
  );
  assert.equal(late.done, 1);
  assert.equal(model.prefills.length, 0);

  const soon = collector();
  const other = collector();
  e.submit(request("soon", { maxNewTokens: 50, deadline: clock.now() + 40 }), soon.listener);
  e.submit(request("other", { maxNewTokens: 8 }), other.listener);
  await e.iterate();
  clock.advance(40); // at the deadline, not past it: the rows go on
  await e.iterate();
  assert.equal(soon.samples.length, 0);
  clock.advance(1);
  await e.iterate();
  assert.equal(soon.samples[0]?.finishReason, "deadline");
  assert.equal(soon.samples[0]?.tokens.length, 3);
  await drain(e, () => other.done === 1);
  assert.equal(other.samples[0]?.finishReason, "length");
});

test("a request over the KV budget or row limit gets onError(CapacityError); the engine keeps serving", async () => {
  const model = new FakeModel();
  const perToken = KvBatch.bytesPerToken(SHAPE); // 32
  // 2 samples × (10 prompt + 10 new + 64 spare) columns × 32 bytes = 5376 bytes; the budget is 5000.
  assert.equal(SPARE_COLUMNS, 64);
  const e = engine(model, { kvBudgetBytes: 5000, maxRows: 2 });
  assert.equal(perToken, 32);
  const big = collector();
  const wide = collector();
  const ok = collector();
  e.submit(request("big", { samples: 2, maxNewTokens: 10 }), big.listener);
  e.submit(request("wide", { samples: 3, maxNewTokens: 1 }), wide.listener);
  e.submit(request("ok", { samples: 1, maxNewTokens: 10 }), ok.listener);
  await drain(e, () => ok.done === 1);
  assert.ok(big.errors[0] instanceof CapacityError);
  assert.match(big.errors[0]?.message ?? "", /5376.*5000/);
  assert.ok(wide.errors[0] instanceof CapacityError);
  assert.match(wide.errors[0]?.message ?? "", /3 samples/);
  assert.equal(big.samples.length + wide.samples.length + big.done + wide.done, 0);
  assert.equal(model.prefills.length, 1, "rejected requests are never prefilled");
  assert.equal(ok.samples[0]?.finishReason, "length");
});

test("requests that do not fit yet wait for running rows to finish", async () => {
  const model = new FakeModel();
  // One row of 20 tokens + 64 spare columns (2688 bytes) fits; two do not.
  const e = engine(model, { kvBudgetBytes: 3000 });
  const a = collector();
  const b = collector();
  e.submit(request("a", { maxNewTokens: 10 }), a.listener);
  e.submit(request("b", { maxNewTokens: 10, prompt: prompt(ids(10, 1)) }), b.listener);
  await drain(e, () => a.done + b.done === 2);
  assert.ok(
    model.stepRows.every((rows) => rows === 1),
    `${model.stepRows}`,
  );
  assert.equal(a.errors.length + b.errors.length, 0);
  assert.equal(b.samples[0]?.tokens.length, 10);
});

test("requests submitted mid-run join at a step boundary (continuous batching)", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const a = collector();
  const b = collector();
  e.submit(request("a", { maxNewTokens: 10 }), a.listener);
  await e.iterate();
  await e.iterate();
  e.submit(
    request("b", { samples: 2, sampling: WARM, maxNewTokens: 5, prompt: prompt(ids(17, 2)) }),
    b.listener,
  );
  await drain(e, () => a.done + b.done === 2);
  assert.deepEqual(model.stepRows, [1, 1, 3, 3, 3, 3, 1, 1, 1]);
  // Joining a running batch does not change anyone's tokens.
  const [aAlone] = await alone({ maxNewTokens: 10 });
  assert.deepEqual(a.samples[0]?.tokens, aAlone?.tokens);
  const bAlone = await alone({ samples: 2, sampling: WARM, maxNewTokens: 5, prompt: prompt(ids(17, 2)) });
  assert.deepEqual(
    b.bySample().map((s) => s.tokens),
    bAlone.map((s) => s.tokens),
  );
});

test("run() serves requests as they arrive and joins them into the running batch", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const running = e.run();
  const a = collector();
  const b = collector();
  model.onStep = (step) => {
    if (step === 2) e.submit(request("b", { maxNewTokens: 4, prompt: prompt(ids(11, 4)) }), b.listener);
  };
  e.submit(request("a", { maxNewTokens: 8 }), a.listener);
  await turnsUntil(() => a.done + b.done === 2);
  e.stop();
  await running;
  assert.equal(a.done + b.done, 2);
  assert.ok(Math.max(...model.stepRows) === 2, `rows per step: ${model.stepRows}`);
  assert.equal(model.stepRows[0], 1);
});

test("an identical request is served from the prefix cache without a second prefill", async () => {
  const model = new FakeModel();
  const e = engine(model, { prefixCacheBytes: 1e6 });
  const first = collector();
  const second = collector();
  const over = { prompt: prompt(ids(20)), maxNewTokens: 6, samples: 2, sampling: WARM };
  e.submit(request("x1", over), first.listener);
  await drain(e, () => first.done === 1);
  e.submit(request("x2", over), second.listener);
  await drain(e, () => second.done === 1);
  assert.equal(model.prefills.length, 1);
  assert.deepEqual(first.starts, [{ promptTokens: 20, cachedPromptTokens: 0 }]);
  assert.deepEqual(second.starts, [{ promptTokens: 20, cachedPromptTokens: 20 }]);
  assert.deepEqual(
    second.bySample().map((s) => s.tokens),
    first.bySample().map((s) => s.tokens),
  );
  assert.equal(e.stats().prefixHits, 1);
});

test("a request sharing a prefix of 16+ tokens prefills only the rest (partial hit)", async () => {
  const model = new FakeModel();
  const e = engine(model, { prefixCacheBytes: 1e6 });
  const base = ids(40);
  const shared = [...base.slice(0, 35), 1, 2, 3, 4, 5, 6];
  const first = collector();
  const second = collector();
  e.submit(request("p1", { prompt: prompt(base) }), first.listener);
  await drain(e, () => first.done === 1);
  e.submit(request("p2", { prompt: prompt(shared) }), second.listener);
  await drain(e, () => second.done === 1);
  assert.deepEqual(
    model.prefills.map((p) => [p.start, p.pastLength, p.promptTokens]),
    [
      [0, undefined, 40],
      [32, 32, 41],
    ],
  );
  assert.deepEqual(second.starts, [{ promptTokens: 41, cachedPromptTokens: 32 }]);
  assert.equal(e.stats().prefixPartialHits, 1);
  const [fresh] = await alone({ prompt: prompt(shared) });
  assert.deepEqual(second.samples[0]?.tokens, fresh?.tokens, "the cached prefix gives the same tokens");
  // Sharing fewer than 16 tokens is a miss.
  const third = collector();
  e.submit(request("p3", { prompt: prompt([...base.slice(0, 12), 9, 9, 9, 9, 9, 9]) }), third.listener);
  await drain(e, () => third.done === 1);
  assert.equal(model.prefills.at(-1)?.start, 0);
  assert.deepEqual(third.starts, [{ promptTokens: 18, cachedPromptTokens: 0 }]);
});

test("submit rejects requests whose seeds are unusable instead of failing the loop", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const c = collector();
  assert.throws(() => e.submit(request("neg", { seed: -1 }), c.listener), /seed/);
  assert.throws(() => e.submit(request("frac", { seed: 0.5 }), c.listener), /seed/);
  assert.throws(
    () => e.submit(request("over", { seed: Number.MAX_SAFE_INTEGER, samples: 2 }), c.listener),
    /seed/,
  );
  assert.throws(() => e.submit(request("none", { samples: 0 }), c.listener), /samples/);
  e.submit(request("fine"), c.listener);
  await drain(e, () => c.done === 1);
  assert.equal(c.samples[0]?.finishReason, "length");
});

test("a listener that throws fails its own request; the batch and the loop go on", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const good = collector();
  const bad = collector();
  let calls = 0;
  const throwing = {
    ...bad.listener,
    onSample: (s: SampleOutput) => {
      calls++;
      bad.listener.onSample(s);
      throw new Error("a bug on the other side");
    },
  };
  e.submit(request("good", { samples: 3, sampling: WARM, maxNewTokens: 8 }), good.listener);
  e.submit(request("bad", { samples: 3, sampling: WARM, maxNewTokens: 4 }), throwing);
  await drain(e, () => good.done === 1);
  assert.equal(good.samples.length, 3);
  assert.deepEqual(good.errors, []);
  assert.equal(calls, 1, "a failed request reports nothing more");
  assert.equal(bad.errors.length, 1);
  assert.match(bad.errors[0]?.message ?? "", /a bug on the other side/);
  assert.equal(bad.done, 0);
  assert.equal(e.stats().runningRows, 0);
});

test("a prefill that throws fails that request only", async () => {
  const model = new FakeModel();
  model.failPrefillOf.add(99 % V);
  const e = engine(model);
  const failing = collector();
  const fine = collector();
  e.submit(request("failing", { prompt: prompt([99 % V, ...ids(9)]) }), failing.listener);
  e.submit(request("fine"), fine.listener);
  await drain(e, () => fine.done === 1);
  assert.equal(failing.errors.length, 1);
  assert.equal(fine.samples.length, 1);
});

test("a failed step fails the running batch; three in a row stop run() (the engine is broken)", async () => {
  const model = new FakeModel();
  model.failSteps.add(2);
  const e = engine(model);
  const loop = e.run();
  const first = collector();
  e.submit(request("first", { samples: 2, maxNewTokens: 8 }), first.listener);
  await turnsUntil(() => first.errors.length > 0);
  assert.equal((first.errors[0] as EngineError).code, "engine_failed");
  assert.equal(e.stats().runningRows, 0);
  const second = collector();
  e.submit(request("second", { maxNewTokens: 4 }), second.listener);
  await turnsUntil(() => second.done > 0);
  assert.equal(second.samples.length, 1, "the next request is served");
  e.stop();
  await loop;

  const broken = new FakeModel();
  for (let step = 1; step <= 10; step++) broken.failSteps.add(step);
  const b = engine(broken);
  const errors: Error[] = [];
  // Each failed request brings the next, as clients keep retrying: the steps keep failing.
  const submitNext = (i: number): void =>
    b.submit(request(`r${i}`, { maxNewTokens: 8 }), {
      onSample: () => {},
      onDone: () => {},
      onError: (err) => {
        errors.push(err);
        if (i < 6) submitNext(i + 1);
      },
    });
  submitNext(0);
  await assert.rejects(b.run(), /step \d+ failed/);
  assert.equal(broken.stepRows.length, 3, "three failed steps, then no more");
  assert.ok(errors.length >= 3 && errors.every((err) => (err as EngineError).code === "engine_failed"));
  assert.throws(
    () => b.submit(request("late"), collector().listener),
    (err: EngineError) => err.code === "engine_failed",
  );
});

test("stop(reason) ends run() at a step boundary and fails what is held with the reason", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const running = collector();
  const waiting = collector();
  e.submit(request("running", { maxNewTokens: 50, sampling: WARM }), running.listener);
  model.onStep = (step) => {
    if (step === 3) {
      e.submit(request("waiting", { samples: 100 }), waiting.listener); // over maxRows: never admitted
      e.stop(new EngineError("engine_failed", "being replaced"));
    }
  };
  await e.run();
  assert.equal(running.errors[0]?.message, "being replaced");
  assert.ok(running.samples.length === 0);
  assert.ok(model.stepRows.length === 3, "no step after the stop");
});

test("a waiting request past its deadline finishes at the next boundary, not when it would be admitted", async () => {
  const model = new FakeModel();
  const clock = new ManualClock();
  const e = engine(model, { maxRows: 1, now: clock.now });
  const long = collector();
  const short = collector();
  e.submit(request("long", { maxNewTokens: 40 }), long.listener);
  await e.iterate();
  e.submit(request("short", { deadline: clock.now() + 5 }), short.listener);
  await e.iterate();
  assert.equal(short.done, 0, "still waiting before its deadline");
  clock.advance(6);
  await e.iterate();
  assert.equal(short.done, 1);
  assert.deepEqual(
    short.samples.map((s) => s.finishReason),
    ["deadline"],
  );
  assert.equal(long.done, 0, "the long one is still running");
});

test("sampling settings the sampler cannot use are refused at submit", () => {
  const e = engine(new FakeModel());
  const c = collector();
  for (const sampling of [
    { temperature: Number.NaN, topK: 0, topP: 1 },
    { temperature: -1, topK: 0, topP: 1 },
    { temperature: Number.POSITIVE_INFINITY, topK: 0, topP: 1 },
    { temperature: 1, topK: 1.5, topP: 1 },
    { temperature: 1, topK: 0, topP: 0 },
    { temperature: 1, topK: 0, topP: Number.NaN },
  ]) {
    assert.throws(
      () => e.submit(request("x", { sampling }), c.listener),
      (err: EngineError) => err.code === "invalid_parameters",
    );
  }
  assert.throws(() => e.submit(request("x", { maxNewTokens: 0 }), c.listener), /max_new_tokens/);
});

/** An image whose patches arrive when the test says so; counts how often they were asked for and given back. */
class HeldImage {
  asked = 0;
  released = 0;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  constructor(
    readonly digest: string,
    /** The first patch value: the fake encoder's features carry it, so a prefill shows which image it got. */
    readonly value: number,
  ) {}
  prompted(): NonNullable<PromptTensors["images"]>[number] {
    return {
      digest: this.digest,
      grid: [1, 4, 4],
      tokens: 4,
      patches: () => {
        this.asked++;
        return new Promise((resolve, reject) => {
          this.settle = {
            resolve: () =>
              resolve({
                pixelValues: new Float32Array(16 * 1176).fill(this.value),
                release: () => this.released++,
              }),
            reject,
          };
        });
      },
    };
  }
  /** Lets the pixels arrive (after the engine asked for them). */
  async deliver(): Promise<void> {
    await turnsUntil(() => this.settle !== undefined);
    this.settle?.resolve();
  }
  async fail(error: Error): Promise<void> {
    await turnsUntil(() => this.settle !== undefined);
    this.settle?.reject(error);
  }
}

const PAD = 999;
/** Ten text tokens, an image's four pads, `tail` more text tokens. */
function imagePrompt(image: HeldImage, tail = 3, offset = 0): PromptTensors {
  const inputIds = [...ids(10, offset), PAD, PAD, PAD, PAD, ...ids(tail, offset + 1)];
  return { ...prompt(inputIds), images: [image.prompted()] };
}

test("decode steps go on while another request's images are being decoded", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const text = collector();
  const pictured = collector();
  const image = new HeldImage("img-a", 0.5);
  e.submit(request("text", { maxNewTokens: 8 }), text.listener);
  e.submit(request("pictured", { prompt: imagePrompt(image), maxNewTokens: 3 }), pictured.listener);
  await drain(e, () => text.done === 1);
  assert.equal(image.asked, 1, "the image's pixels were asked for once");
  assert.equal(
    model.stepRows.length,
    7,
    "every decode step of the text request ran while the pixels were out",
  );
  assert.equal(pictured.starts.length, 0, "the pictured request has not started without its pixels");
  const delivered = image.deliver();
  await drain(e, () => pictured.done === 1);
  await delivered;
  assert.deepEqual(model.encodes, [[1, 4, 4]]);
  assert.equal(model.prefillFeatures.at(-1)?.[0], 0.5, "the prefill got the image's features");
  assert.equal(image.released, 1, "the patches went back once the encoder had run");
  assert.equal(pictured.samples[0]?.finishReason, "length");
});

test("a second request with the same image does not run the vision encoder (encoder cache)", async () => {
  const model = new FakeModel();
  const e = engine(model, { encoderCacheBytes: 1e6 });
  const first = new HeldImage("same", 0.25);
  const a = collector();
  e.submit(request("a", { prompt: imagePrompt(first, 3, 0) }), a.listener);
  const delivered = first.deliver();
  await drain(e, () => a.done === 1);
  await delivered;
  // Another question about the same image (its own bytes: a fresh image set with the same digest).
  const again = new HeldImage("same", 0.25);
  const b = collector();
  e.submit(request("b", { prompt: imagePrompt(again, 5, 3) }), b.listener);
  await drain(e, () => b.done === 1);
  assert.equal(model.encodes.length, 1, "one encoder run for two requests");
  assert.equal(again.asked, 0, "the second request's pixels were never decoded");
  assert.equal(model.prefillFeatures.at(-1)?.[0], 0.25);
  const stats = e.stats();
  assert.deepEqual([stats.encoderHits, stats.encoderMisses], [1, 1]);
  assert.ok(stats.encoderCacheBytes > 0);
});

test("requests needing one image at once decode and encode it once", async () => {
  const model = new FakeModel();
  const e = engine(model, { encoderCacheBytes: 1e6 });
  const shared = new HeldImage("group", 0.75);
  const group = [0, 1, 2, 3].map((i) => {
    const c = collector();
    e.submit(request(`g${i}`, { prompt: imagePrompt(shared, 2 + i, i) }), c.listener);
    return c;
  });
  const delivered = shared.deliver();
  await drain(e, () => group.every((c) => c.done === 1));
  await delivered;
  assert.equal(shared.asked, 1);
  assert.equal(model.encodes.length, 1);
  assert.equal(e.stats().encoderHits, 3);
});

test("a long prompt is prefilled a chunk per step while the running rows keep decoding", async () => {
  const model = new FakeModel();
  model.prefillChunkTokens = 16;
  const e = engine(model);
  const running = collector();
  e.submit(request("running", { maxNewTokens: 12 }), running.listener);
  await e.iterate();
  const long = collector();
  e.submit(request("long", { prompt: prompt(ids(64, 3)), maxNewTokens: 2 }), long.listener);
  const stepsBefore = model.stepRows.length;
  await drain(e, () => long.starts.length === 1);
  assert.deepEqual(
    model.prefills.slice(1).map((p) => p.start),
    [0, 16, 32, 48],
    "four chunks of 16 tokens",
  );
  assert.ok(
    model.stepRows.length - stepsBefore >= 3,
    "a decode step of the running request between every two chunks",
  );
  await drain(e, () => long.done === 1 && running.done === 1);
  assert.equal(running.samples[0]?.tokens.length, 12);
});

test("an image that cannot be decoded fails its request alone; pixels of a cancelled one go back", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const broken = new HeldImage("broken", 0.1);
  const dropped = new HeldImage("dropped", 0.2);
  const bad = collector();
  const cancelled = collector();
  const text = collector();
  e.submit(request("bad", { prompt: imagePrompt(broken) }), bad.listener);
  e.submit(request("cancelled", { prompt: imagePrompt(dropped, 4, 2) }), cancelled.listener);
  e.submit(request("text", { maxNewTokens: 4 }), text.listener);
  await e.iterate();
  const failed = broken.fail(new EngineError("invalid_image", "images[0] is not an image"));
  e.cancel("cancelled");
  const delivered = dropped.deliver();
  await drain(e, () => bad.errors.length === 1 && cancelled.done === 1 && text.done === 1);
  await Promise.all([failed, delivered]);
  assert.match(bad.errors[0]?.message ?? "", /images\[0\] is not an image/);
  assert.equal(cancelled.samples[0]?.finishReason, "cancelled");
  await turnsUntil(() => dropped.released === 1);
  assert.equal(model.encodes.length, 0, "neither image reached the encoder");
  assert.equal(text.samples[0]?.finishReason, "length");
});

test("a prompt whose own images were released ends instead of asking for them again", async () => {
  const model = new FakeModel();
  const e = engine(model);
  const gone = new HeldImage("gone", 0.3);
  const c = collector();
  e.submit(request("gone", { prompt: imagePrompt(gone) }), c.listener);
  const failed = gone.fail(new EngineError("cancelled", "the request's images were released"));
  await drain(e, () => c.errors.length === 1);
  await failed;
  assert.equal(gone.asked, 1, "asked once, not again and again");
  assert.equal((c.errors[0] as EngineError).code, "cancelled");
});
