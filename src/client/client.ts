// A typed client for the r1-judge server: the request and answer types generated from openapi.yaml
// (src/api/api.ts) and a thin fetch wrapper. Retries follow the server's contract: 429 and 503 (queue
// full, not ready, draining, engine restarting) after Retry-After, else exponential backoff with
// jitter; network errors too; any other 4xx throws ProblemError at once, naming the fields at fault.
// /judge/batch past its item limit is sent in chunks, a few at a time.

import type { components } from "../api/api.js";

type Schemas = components["schemas"];
export type JudgeRequest = Schemas["JudgeRequest"];
export type Judgement = Schemas["Judgement"];
export type Problem = Schemas["Problem"];
export type RankRequest = Schemas["RankRequest"];
export type RankResult = Schemas["RankResult"];
export type RewardRequest = Schemas["RewardRequest"];
export type RewardResponse = Schemas["RewardResponse"];

/** /judge/batch items per request (openapi.yaml). */
export const BATCH_LIMIT = 256;

export class ProblemError extends Error {
  readonly fields: string[];

  constructor(
    readonly status: number,
    readonly problem: Partial<Problem> & Record<string, unknown>,
  ) {
    super(`${status} ${problem.title ?? ""}: ${problem.detail ?? ""}`.trim());
    this.name = "ProblemError";
    this.fields = (problem.errors ?? []).map((e) => e.field);
  }
}

export interface ClientOptions {
  apiKey?: string;
  /** Per attempt, ms (default 180 s: OpenRLHF's own limit). */
  timeoutMs?: number;
  /** Attempts for a 429/503 or a network error (default 8). */
  attempts?: number;
  /** Longest wait between attempts, ms (default 30 s). */
  maxDelayMs?: number;
  /** Batch chunks in flight at once (default 4). */
  concurrency?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

const RETRIED = new Set([429, 503]);

/** Milliseconds to wait before attempt `attempt + 1`: Retry-After (seconds or a date), else backoff. */
export function retryDelay(attempt: number, retryAfter: string | null, maxMs: number): number {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.min(maxMs, Math.max(0, seconds * 1000));
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at)) return Math.min(maxMs, Math.max(0, at - Date.now()));
  }
  return Math.min(maxMs, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

export class R1JudgeClient {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    baseUrl: string,
    private readonly options: ClientOptions = {},
  ) {
    this.base = baseUrl.replace(/\/+$/, "");
    this.fetchFn = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** One call with the retry rules above; the parsed JSON (or text) answer. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const attempts = this.options.attempts ?? 8;
    const maxDelay = this.options.maxDelayMs ?? 30_000;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchFn(`${this.base}${path}`, {
          method,
          headers: {
            accept: "application/json",
            ...(body === undefined ? {} : { "content-type": "application/json" }),
            ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 180_000),
        });
      } catch (err) {
        if (attempt + 1 >= attempts) throw err;
        await this.sleep(retryDelay(attempt, null, maxDelay));
        continue;
      }
      const text = await res.text();
      const json = (res.headers.get("content-type") ?? "").includes("json") ? safeJson(text) : undefined;
      if (res.ok) return (json ?? text) as T;
      if (RETRIED.has(res.status) && attempt + 1 < attempts) {
        await this.sleep(retryDelay(attempt, res.headers.get("retry-after"), maxDelay));
        continue;
      }
      throw new ProblemError(res.status, (json as Problem | undefined) ?? { detail: text.slice(0, 300) });
    }
  }

  health(): Promise<{ status: string }> {
    return this.request("GET", "/healthz");
  }

  async ready(): Promise<boolean> {
    try {
      await this.request("GET", "/readyz");
      return true;
    } catch (err) {
      if (err instanceof ProblemError) return false;
      throw err;
    }
  }

  judge(body: JudgeRequest): Promise<Judgement> {
    return this.request("POST", "/judge", body);
  }

  /** Results in order; an item the server refused is its Problem (with `status`). */
  async judgeBatch(items: readonly JudgeRequest[]): Promise<(Judgement | Problem)[]> {
    const chunks: JudgeRequest[][] = [];
    for (let i = 0; i < items.length; i += BATCH_LIMIT) chunks.push(items.slice(i, i + BATCH_LIMIT));
    const results: (Judgement | Problem)[][] = new Array(chunks.length);
    let next = 0;
    const lane = async () => {
      while (next < chunks.length) {
        const i = next++;
        const answer = await this.request<{ results: (Judgement | Problem)[] }>("POST", "/judge/batch", {
          items: chunks[i],
        });
        results[i] = answer.results;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 4, chunks.length) }, lane));
    return results.flat();
  }

  rank(body: RankRequest): Promise<RankResult> {
    return this.request("POST", "/rank", body);
  }

  getReward(body: RewardRequest): Promise<RewardResponse> {
    return this.request("POST", "/get_reward", body);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
