// Judging one pair: K sampled verdicts (responses swapped for odd samples with order "alternate"),
// majority vote, early stop once the majority cannot change. Sample i uses seed + i: the fixed-order
// and swapped-order halves are two engine requests interleaving one seed sequence (stride 2).
// A judgement either completes or rejects with a typed error: the deadline passed
// (JudgeDeadlineError), the caller left (JudgeAbortedError), or the engine failed (EngineError).

import type { GenerationHandlers, ImageSetRef } from "../engine/client.js";
import type { GenerationRequest } from "../engine/protocol.js";
import { type Clock, systemClock } from "./clock.js";
import { judgeMessages } from "./prompt.js";
import type { Verdict, VerdictReader } from "./verdict.js";
import {
  type Aggregation,
  addVote,
  decided,
  emptyTally,
  type Order,
  outcome,
  sampleWeights,
  type Tally,
  unswap,
  type Weights,
} from "./voting.js";

/** What judging needs of the engine: EngineClient in production, a fake in unit tests. */
export interface GenerationPort {
  generate(request: GenerationRequest, handlers: GenerationHandlers): string;
  cancel(id: string, samples?: number[]): void;
  /** Hands a request's images to the engine once; generations refer to them. */
  putImages(bytes: readonly Uint8Array[]): ImageSetRef;
  releaseImages(ref: ImageSetRef): void;
}

export interface JudgeInput {
  question: string;
  responses: [string, string];
  /** The request's images (see GenerationPort.putImages); absent without images. */
  images?: ImageSetRef;
  samples: number;
  temperature: number;
  topP: number;
  topK: number;
  maxNewTokens: number;
  seed: number;
  order: Order;
  /**
   * How the samples' verdicts become the winner (and when early stop may end sampling). Required:
   * each route says which it uses (src/server/judge-inputs.ts), none is implied.
   */
  aggregation: Aggregation;
  earlyStop: boolean;
  returnReasoning: boolean;
  /** How a sample states its vote: the checkpoint's rule (ModelInfo.verdict). */
  verdict: VerdictReader;
  /** Epoch milliseconds. */
  deadline?: number;
  /** Aborting (the client went away) cancels every sample still running. */
  signal?: AbortSignal;
}

export interface JudgedSample {
  index: number;
  seed: number;
  order: "original" | "swapped";
  verdict: Verdict | null;
  /**
   * [p(1), p(2)] in the request's order, normalized over the two: the model's probabilities of the
   * checkpoint's two choices at the answer token. Absent when the sample stated no verdict where the
   * checkpoint's pattern says.
   */
  probabilities?: [number, number];
  finishReason: string;
  tokens: number;
  reasoning?: string;
}

export interface Judgement {
  winner: Verdict | null;
  preference: [number, number];
  votes: Tally;
  /** Summed sample probabilities for 1 and 2 (what "confidence" aggregation compares). */
  weights: Weights;
  samples: JudgedSample[];
  usage: { promptTokens: number; completionTokens: number; cachedPromptTokens: number };
  earlyStopped: number;
}

/** Generates and tallies the votes of one pair. */
export function judgePair(
  port: GenerationPort,
  input: JudgeInput,
  clock: Clock = systemClock,
): Promise<Judgement> {
  return new Promise((resolve, rejectWith) => {
    const tally = emptyTally();
    const weights: Weights = { 1: 0, 2: 0 };
    const byConfidence = input.aggregation === "confidence";
    const samples: JudgedSample[] = [];
    const usage = { promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0 };
    const alternate = input.order === "alternate" && input.samples > 1;
    const halves = alternate
      ? [
          { swapped: false, count: Math.ceil(input.samples / 2), offset: 0 },
          { swapped: true, count: Math.floor(input.samples / 2), offset: 1 },
        ]
      : [{ swapped: false, count: input.samples, offset: 0 }];
    const stride = alternate ? 2 : 1;
    const ids: string[] = [];
    let outstanding = input.samples;
    let openRequests = halves.length;
    let failed = false;
    let stopped = false;
    const imageCount = input.images?.count ?? 0;

    // A signal aborted with an Error (a failed sibling item, a server shutting down) says why.
    const onAbort = () =>
      reject(input.signal?.reason instanceof Error ? input.signal.reason : new JudgeAbortedError());
    // The engine ends rows at its next step boundary; this answers at the deadline itself.
    const cancelTimer =
      input.deadline === undefined
        ? undefined
        : clock.after(Math.max(0, input.deadline - clock.now()), () => reject(new JudgeDeadlineError()));
    const settle = () => {
      cancelTimer?.();
      input.signal?.removeEventListener("abort", onAbort);
    };
    function reject(error: Error) {
      if (failed) return;
      failed = true;
      settle();
      for (const id of ids) port.cancel(id);
      rejectWith(error);
    }
    const finish = () => {
      settle();
      samples.sort((a, b) => a.index - b.index);
      const { winner, preference } = outcome(tally, byConfidence ? weights : undefined);
      const earlyStopped = samples.filter((s) => s.finishReason === "cancelled").length;
      resolve({ winner, preference, votes: tally, weights, samples, usage, earlyStopped });
    };

    for (const half of halves) {
      const [first, second] = half.swapped ? [input.responses[1], input.responses[0]] : input.responses;
      const id = port.generate(
        {
          messages: judgeMessages(input.question, first, second, imageCount),
          ...(input.images ? { images: input.images.id } : {}),
          samples: half.count,
          seed: input.seed + half.offset,
          seedStride: stride,
          sampling: { temperature: input.temperature, topK: input.topK, topP: input.topP },
          maxNewTokens: input.maxNewTokens,
          ...(input.deadline !== undefined ? { deadline: input.deadline } : {}),
          choiceProbabilities: true,
        },
        {
          onStarted: (info) => {
            usage.promptTokens += info.promptTokens;
            usage.cachedPromptTokens += info.cachedPromptTokens;
          },
          onSample: (sample) => {
            if (failed) return;
            if (sample.finishReason === "deadline") return reject(new JudgeDeadlineError());
            outstanding--;
            usage.completionTokens += sample.tokens;
            const index = half.offset + sample.index * stride;
            const counted =
              sample.finishReason === "stop" ||
              sample.finishReason === "length" ||
              sample.finishReason === "invalid";
            const verdict = counted ? unswap(input.verdict.parse(sample.text), half.swapped) : null;
            const probabilities =
              verdict === null ? undefined : choiceShares(sample.choiceProbabilities, half.swapped);
            if (counted) {
              addVote(tally, verdict);
              const w = sampleWeights(verdict, probabilities);
              weights[1] += w[1];
              weights[2] += w[2];
            }
            samples.push({
              index,
              seed: sample.seed,
              order: half.swapped ? "swapped" : "original",
              verdict,
              ...(probabilities ? { probabilities } : {}),
              finishReason: sample.finishReason,
              tokens: sample.tokens,
              ...(input.returnReasoning ? { reasoning: input.verdict.reasoning(sample.text) } : {}),
            });
            const side = byConfidence ? weights : tally;
            if (input.earlyStop && !stopped && outstanding > 0 && decided(side, outstanding)) {
              stopped = true;
              for (const other of ids) port.cancel(other);
            }
          },
          onDone: () => {
            if (--openRequests === 0 && !failed) finish();
          },
          onError: reject,
        },
      );
      ids.push(id);
    }
    if (input.signal?.aborted) onAbort();
    else input.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A sample's [p(1), p(2)] in the request's order, normalized over the two; undefined if unusable. */
function choiceShares(raw: readonly number[] | undefined, swapped: boolean): [number, number] | undefined {
  const [a, b] = raw ?? [];
  if (a === undefined || b === undefined || !(a + b > 0)) return undefined;
  const shares: [number, number] = [a / (a + b), b / (a + b)];
  return swapped ? [shares[1], shares[0]] : shares;
}

export class JudgeAbortedError extends Error {
  constructor() {
    super("the judgement was abandoned (client gone)");
    this.name = "JudgeAbortedError";
  }
}

export class JudgeDeadlineError extends Error {
  constructor() {
    super("the deadline passed before every vote was in");
    this.name = "JudgeDeadlineError";
  }
}
