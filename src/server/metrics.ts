// Prometheus metrics, named like vLLM's where a counterpart exists (r1judge:num_requests_running, …).

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface EngineGauges {
  waiting: number;
  runningRequests: number;
  runningRows: number;
  kvBytes: number;
  prefixCacheBytes: number;
  prefixHits: number;
  prefixPartialHits: number;
  prefixMisses: number;
  tokensGenerated: number;
  steps: number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<"route" | "status">;
  readonly latency: Histogram<"route">;
  readonly queueDepth: Gauge;
  readonly votes: Counter<"kind">;
  readonly judgementCache: Counter<"result">;
  private readonly engine: Record<keyof EngineGauges, Gauge>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "r1judge_process_" });
    this.requests = new Counter({
      name: "r1judge_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["route", "status"],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: "r1judge_http_request_duration_seconds",
      help: "HTTP request latency by route",
      labelNames: ["route"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180],
      registers: [this.registry],
    });
    this.queueDepth = new Gauge({
      name: "r1judge:num_requests_waiting",
      help: "Judgements accepted and not finished (the admission queue's depth)",
      registers: [this.registry],
    });
    this.votes = new Counter({
      name: "r1judge_votes_total",
      help: "Sampled votes by kind (1, 2, invalid)",
      labelNames: ["kind"],
      registers: [this.registry],
    });
    this.judgementCache = new Counter({
      name: "r1judge_judgement_cache_total",
      help: "Judgement cache lookups by result (hit, miss)",
      labelNames: ["result"],
      registers: [this.registry],
    });
    const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [this.registry] });
    this.engine = {
      waiting: gauge("r1judge:engine_requests_waiting", "Generation requests waiting for batch room"),
      runningRequests: gauge("r1judge:num_requests_running", "Generation requests in the running batch"),
      runningRows: gauge("r1judge:batch_size", "Sequences (samples) decoded together"),
      kvBytes: gauge("r1judge:kv_cache_bytes", "KV cache bytes held by the running batch"),
      prefixCacheBytes: gauge("r1judge:prefix_cache_bytes", "Bytes held by the prefix KV cache"),
      prefixHits: gauge("r1judge:prefix_cache_hits", "Prompts served whole from the prefix cache"),
      prefixPartialHits: gauge(
        "r1judge:prefix_cache_partial_hits",
        "Prompts whose prefix came from the cache",
      ),
      prefixMisses: gauge("r1judge:prefix_cache_misses", "Prompts prefilled from scratch"),
      tokensGenerated: gauge("r1judge:generation_tokens_total", "Tokens generated since start"),
      steps: gauge("r1judge:decode_steps_total", "Decode steps since start"),
    };
  }

  updateEngine(stats: EngineGauges): void {
    for (const key of Object.keys(this.engine) as (keyof EngineGauges)[]) this.engine[key].set(stats[key]);
  }
}
