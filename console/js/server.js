// @ts-check
// The Server view: the model (GET /models) and the load and caches (GET /metrics, Prometheus text),
// refreshed every few seconds while the view is shown.

import { call, describe } from "./api.js";
import { announce, byId, h, percent, replace } from "./dom.js";
import { parsePrometheus, sum } from "./prometheus.js";

const REFRESH_MS = 5000;

export function mountServer() {
  const model = byId("server-model", HTMLElement);
  const load = byId("server-load", HTMLElement);
  const status = byId("server-status", HTMLParagraphElement);
  const updated = byId("server-updated", HTMLSpanElement);
  const refresh = byId("server-refresh", HTMLButtonElement);
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let timer;

  /** @param {[string, string][]} rows */
  const pairs = (rows) =>
    rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", { "data-field": term }, value)]);

  /** @param {number} hits @param {number} total */
  const rate = (hits, total) =>
    total > 0 ? `${percent(hits / total)} of ${total.toLocaleString("en")}` : "no lookups yet";

  const update = async () => {
    const [models, metrics] = await Promise.allSettled([call("/models"), call("/metrics", { text: true })]);
    const problems = [];
    if (models.status === "fulfilled") {
      const m = models.value.models[0];
      replace(
        model,
        pairs([
          ["Model", m.id],
          ["Variant", m.variant],
          ["Device", m.device],
          ["Dtype", m.dtype],
          ["Images", m.vision ? "yes (vision encoder loaded)" : "no"],
          ...(m.evaluation
            ? /** @type {[string, string][]} */ ([["Served accuracy", servedAccuracy(m.evaluation)]])
            : []),
        ]),
      );
    } else {
      // Old readings are not shown as if current.
      replace(model);
      problems.push(`model: ${describe(models.reason)}`);
    }
    if (metrics.status === "fulfilled") {
      const samples = parsePrometheus(metrics.value);
      const get = (/** @type {string} */ name, /** @type {Record<string, string>} */ labels = {}) =>
        sum(samples, name, labels);
      const judgementHits = get("r1judge_judgement_cache_total", { result: "hit" });
      const prefixHits =
        get("r1judge_prefix_cache_hits_total") + get("r1judge_prefix_cache_partial_hits_total");
      const encoderHits = get("r1judge_encoder_cache_hits_total");
      replace(
        load,
        pairs([
          [
            "Engine",
            get("r1judge_engine_up") === 1 ? "serving" : "not serving (loading, restarting or failed)",
          ],
          ["Queue depth", String(get("r1judge_num_requests_waiting"))],
          ["Requests running", String(get("r1judge_num_requests_running"))],
          ["Batch size (sequences decoded together)", String(get("r1judge_batch_size"))],
          [
            "Judgement cache hits",
            rate(judgementHits, judgementHits + get("r1judge_judgement_cache_total", { result: "miss" })),
          ],
          ["Prefix cache hits", rate(prefixHits, prefixHits + get("r1judge_prefix_cache_misses_total"))],
          ["Encoder cache hits", rate(encoderHits, encoderHits + get("r1judge_encoder_cache_misses_total"))],
          ["Tokens generated", get("r1judge_generation_tokens_total").toLocaleString("en")],
          ["Engine restarts", String(get("r1judge_engine_restarts_total"))],
        ]),
      );
    } else {
      replace(load);
      problems.push(`metrics: ${describe(metrics.reason)}`);
    }
    const now = new Date().toLocaleTimeString();
    if (problems.length) announce(status, `Could not refresh at ${now}: ${problems.join(" ")}`);
    else if (status.textContent) announce(status, "");
    updated.textContent = problems.length ? "" : `Updated ${now}`;
  };

  refresh.addEventListener("click", () => void update());

  return {
    shown() {
      void update();
      timer ??= setInterval(() => {
        if (!document.hidden) void update();
      }, REFRESH_MS);
    },
    hidden() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}

/**
 * The manifest's served accuracy (r1judge eval through /judge) in one line; its procedure and command
 * are in the checkpoint's r1judge.json.
 * @param {Record<string, unknown>} evaluation
 */
function servedAccuracy(evaluation) {
  const share = (/** @type {unknown} */ x) => (typeof x === "number" ? percent(x) : "–");
  const items = typeof evaluation.items === "number" ? `${evaluation.items.toLocaleString("en")} items` : "";
  return [
    `greedy ${share(evaluation.greedy_accuracy)}`,
    `Voting@${evaluation.k ?? "K"} ${share(evaluation.voting_accuracy)}`,
    `same verdict in both orders ${share(evaluation.order_agreement)}`,
    items,
  ]
    .filter(Boolean)
    .join(" · ");
}
