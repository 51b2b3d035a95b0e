// Prometheus metrics, named like vLLM's where a counterpart exists (vllm:num_requests_running →
// r1judge_num_requests_running: Prometheus reserves colons for recording rules). The engine reports
// cumulative counts (prefix-cache lookups, tokens, decode steps) in its stats; updateEngine turns
// them into Counter increments by remembering the previous values, and sets the point-in-time values
// (queue, batch, memory) as Gauges. Counters end in _total.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { WorkerStats } from "../engine/protocol.js";

/** Values that go up and down: exported as they are. */
type PointInTime =
  | "waiting"
  | "runningRequests"
  | "runningRows"
  | "imageSets"
  | "imageBytes"
  | "imageWaiting"
  | "prefilling"
  | "imagesDecoding"
  | "encoderCacheBytes";
/** Bytes held where the cache lives: gauges labelled by `location` (host or device memory). */
type Held = "kvBytes" | "prefixCacheBytes";
/** Counts since the engine started: exported as counters fed by their increase. */
type Cumulative = Exclude<keyof WorkerStats, PointInTime | Held | "kvLocation">;

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<"route" | "status">;
  readonly latency: Histogram<"route">;
  readonly queueDepth: Gauge;
  /** 429s by reason: no slot free (queue_full), or the free ones are other clients' (share_exceeded). */
  readonly refused: Counter<"reason">;
  readonly votes: Counter<"kind">;
  readonly judgementCache: Counter<"result">;
  /** 1 while the engine serves, 0 while it loads, restarts or has failed. */
  readonly engineUp: Gauge;
  readonly engineRestarts: Counter;
  private readonly engineGauges: Record<PointInTime, Gauge>;
  private readonly heldGauges: Record<Held, Gauge<"location">>;
  private readonly engineCounters: Record<Cumulative, Counter>;
  /** The engine's cumulative counts at the previous update (all 0 before the first). */
  private readonly engineSeen: Record<Cumulative, number>;

  constructor() {
    // prom-client's own names start with process_ / nodejs_: r1judge_process_cpu_seconds_total, …
    collectDefaultMetrics({ register: this.registry, prefix: "r1judge_" });
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
      name: "r1judge_num_requests_waiting",
      help: "Judgements accepted and not finished (the admission queue's depth)",
      registers: [this.registry],
    });
    this.refused = new Counter({
      name: "r1judge_admission_refused_total",
      help: "Requests refused with 429 by reason (queue_full, share_exceeded)",
      labelNames: ["reason"],
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
    this.engineUp = gauge(
      "r1judge_engine_up",
      "1 while the engine serves; 0 while it loads, restarts or has failed",
    );
    this.engineRestarts = counter(
      "r1judge_engine_restarts_total",
      "Engine workers started again after a failure",
    );
    this.engineGauges = {
      waiting: gauge("r1judge_engine_requests_waiting", "Generation requests waiting for batch room"),
      runningRequests: gauge("r1judge_num_requests_running", "Generation requests in the running batch"),
      runningRows: gauge("r1judge_batch_size", "Sequences (samples) decoded together"),
      imageSets: gauge("r1judge_image_sets", "Requests whose images the engine holds"),
      imageBytes: gauge(
        "r1judge_image_memory_bytes",
        "Bytes images hold under the image memory budget (decodes and patch tensors)",
      ),
      imageWaiting: gauge("r1judge_image_memory_waiting", "Images waiting for the image memory budget"),
      prefilling: gauge(
        "r1judge_engine_requests_prefilling",
        "Admitted requests whose images and prompt are being worked through between decode steps",
      ),
      imagesDecoding: gauge("r1judge_images_decoding", "Images whose pixels are being decoded for a prefill"),
      encoderCacheBytes: gauge("r1judge_encoder_cache_bytes", "Bytes of vision-encoder output kept by image"),
    };
    const held = (name: string, help: string) =>
      new Gauge({ name, help, labelNames: ["location"], registers: [this.registry] });
    this.heldGauges = {
      kvBytes: held(
        "r1judge_kv_cache_bytes",
        "KV cache bytes held by the running batch, by memory (host, device)",
      ),
      prefixCacheBytes: held(
        "r1judge_prefix_cache_bytes",
        "Bytes held by the prefix KV cache, by memory (host, device)",
      ),
    };
    this.engineCounters = {
      prefixHits: counter("r1judge_prefix_cache_hits_total", "Prompts served whole from the prefix cache"),
      prefixPartialHits: counter(
        "r1judge_prefix_cache_partial_hits_total",
        "Prompts whose prefix came from the prefix cache",
      ),
      prefixMisses: counter("r1judge_prefix_cache_misses_total", "Prompts prefilled from scratch"),
      encoderHits: counter(
        "r1judge_encoder_cache_hits_total",
        "Images a prefill needed whose features came from the encoder cache",
      ),
      encoderMisses: counter("r1judge_encoder_cache_misses_total", "Vision-encoder runs (one per image)"),
      tokensGenerated: counter("r1judge_generation_tokens_total", "Tokens generated"),
      steps: counter("r1judge_decode_steps_total", "Decode steps of the running batch"),
      bytesToDevice: counter(
        "r1judge_host_to_device_bytes_total",
        "Bytes the model copied from host to GPU memory",
      ),
      bytesToHost: counter(
        "r1judge_device_to_host_bytes_total",
        "Bytes the model copied from GPU to host memory",
      ),
    };
    this.engineSeen = {
      prefixHits: 0,
      prefixPartialHits: 0,
      prefixMisses: 0,
      encoderHits: 0,
      encoderMisses: 0,
      tokensGenerated: 0,
      steps: 0,
      bytesToDevice: 0,
      bytesToHost: 0,
    };
  }

  /** Takes a snapshot of the engine's stats (before each scrape): gauges set, counters increased. */
  updateEngine(stats: WorkerStats): void {
    for (const key of Object.keys(this.engineGauges) as PointInTime[]) this.engineGauges[key].set(stats[key]);
    const other = stats.kvLocation === "device" ? "host" : "device";
    for (const key of Object.keys(this.heldGauges) as Held[]) {
      this.heldGauges[key].set({ location: stats.kvLocation }, stats[key]);
      this.heldGauges[key].set({ location: other }, 0);
    }
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
