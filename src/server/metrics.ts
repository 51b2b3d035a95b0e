// Prometheus metrics, named like vLLM's where a counterpart exists (r1judge:num_requests_running, …).
// The engine reports cumulative counts (prefix-cache lookups, tokens, decode steps) in its stats;
// updateEngine turns them into Counter increments by remembering the previous values, and sets the
// point-in-time values (queue, batch, memory) as Gauges. Counters end in _total.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { EngineStats } from "../engine/engine.js";

/** Values that go up and down: exported as they are. */
type PointInTime = "waiting" | "runningRequests" | "runningRows" | "kvBytes" | "prefixCacheBytes";
/** Counts since the engine started: exported as counters fed by their increase. */
type Cumulative = Exclude<keyof EngineStats, PointInTime>;

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<"route" | "status">;
  readonly latency: Histogram<"route">;
  readonly queueDepth: Gauge;
  readonly votes: Counter<"kind">;
  readonly judgementCache: Counter<"result">;
  private readonly engineGauges: Record<PointInTime, Gauge>;
  private readonly engineCounters: Record<Cumulative, Counter>;
  /** The engine's cumulative counts at the previous update (all 0 before the first). */
  private readonly engineSeen: Record<Cumulative, number>;

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
    const counter = (name: string, help: string) => new Counter({ name, help, registers: [this.registry] });
    this.engineGauges = {
      waiting: gauge("r1judge:engine_requests_waiting", "Generation requests waiting for batch room"),
      runningRequests: gauge("r1judge:num_requests_running", "Generation requests in the running batch"),
      runningRows: gauge("r1judge:batch_size", "Sequences (samples) decoded together"),
      kvBytes: gauge("r1judge:kv_cache_bytes", "KV cache bytes held by the running batch"),
      prefixCacheBytes: gauge("r1judge:prefix_cache_bytes", "Bytes held by the prefix KV cache"),
    };
    this.engineCounters = {
      prefixHits: counter("r1judge:prefix_cache_hits_total", "Prompts served whole from the prefix cache"),
      prefixPartialHits: counter(
        "r1judge:prefix_cache_partial_hits_total",
        "Prompts whose prefix came from the prefix cache",
      ),
      prefixMisses: counter("r1judge:prefix_cache_misses_total", "Prompts prefilled from scratch"),
      tokensGenerated: counter("r1judge:generation_tokens_total", "Tokens generated"),
      steps: counter("r1judge:decode_steps_total", "Decode steps of the running batch"),
    };
    this.engineSeen = { prefixHits: 0, prefixPartialHits: 0, prefixMisses: 0, tokensGenerated: 0, steps: 0 };
  }

  /** Takes a snapshot of the engine's stats (before each scrape): gauges set, counters increased. */
  updateEngine(stats: EngineStats): void {
    for (const key of Object.keys(this.engineGauges) as PointInTime[]) this.engineGauges[key].set(stats[key]);
    for (const key of Object.keys(this.engineCounters) as Cumulative[]) {
      const now = stats[key];
      const before = this.engineSeen[key];
      // A count below the last one means a new engine started from 0: all of it is new.
      const delta = now >= before ? now - before : now;
      if (delta > 0) this.engineCounters[key].inc(delta);
      this.engineSeen[key] = now;
    }
  }
}
