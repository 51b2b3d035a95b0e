// @ts-check
// The Evaluation view: an `r1judge eval` report, from the server's reports folder or uploaded, as the
// server scores it (src/evaluation/view.ts): Voting@K under both aggregations as a chart, a row per
// category, and the items the judge got wrong with their reasoning, filterable by category and by
// whether the greedy verdict flips with the order of the responses.

import { call, describe } from "./api.js";
import { lineChart } from "./chart.js";
import { announce, byId, h, isolated, percent, replace, showResult, withoutBidiControls } from "./dom.js";

/**
 * @typedef {import("./api.js").Schemas["EvaluationView"]} EvaluationView
 * @typedef {import("./api.js").Schemas["EvaluationMistake"]} Mistake
 * @typedef {1 | 2 | null} Verdict
 */

/** @param {Verdict} v */
const verdictText = (v) => (v === null ? "none" : String(v));

/** @param {{ reportsServed: () => boolean }} context */
export function mountEvaluation(context) {
  const served = byId("evaluation-served", HTMLFormElement);
  const names = byId("evaluation-name", HTMLSelectElement);
  const files = byId("evaluation-files", HTMLInputElement);
  const status = byId("evaluation-status", HTMLParagraphElement);
  const result = byId("evaluation-result", HTMLDivElement);
  let listed = false;

  /** @param {Promise<EvaluationView>} loading */
  const show = async (loading) => {
    announce(status, "Scoring the report…");
    try {
      const view = await loading;
      render(view);
      announce(
        status,
        `Opened ${view.name}: ${view.scores.items} items, ${view.mistakes.length} wrong.` +
          (view.lastLineCutShort
            ? " Its last line is cut short (a run still writing, or interrupted) and is left out."
            : ""),
      );
    } catch (error) {
      // The report shown before is not this one: it does not stay under the error.
      result.hidden = true;
      announce(status, describe(error));
    }
  };

  served.addEventListener("submit", (event) => {
    event.preventDefault();
    if (names.value) void show(call(`/console/api/evaluations/${encodeURIComponent(names.value)}`));
  });

  files.addEventListener("change", async () => {
    const picked = [...(files.files ?? [])];
    const results = picked.find((f) => f.name.endsWith(".jsonl"));
    if (!results) {
      announce(status, "Pick the report's results.jsonl (scores.json alone holds no items to show).");
      return;
    }
    if (results.size === 0) {
      announce(status, `${results.name} is empty: no judged items to show.`);
      return;
    }
    const scores = picked.find((f) => f.name.endsWith(".json"));
    const body = {
      results: await results.text(),
      name: results.name,
      ...(scores ? { scores: await scores.text() } : {}),
    };
    await show(call("/console/api/evaluations", { body }));
  });

  /** The chart's width: the view's, at most 640 px. */
  const chartWidth = () => Math.max(280, Math.min(640, byId("view-evaluation", HTMLElement).clientWidth));

  /** @param {EvaluationView} view */
  const render = (view) => {
    const ks = Array.from({ length: view.k }, (_, i) => i + 1);
    const s = view.scores;
    const category = h("select", { id: "mistake-category" }, [
      h("option", { value: "" }, "All categories"),
      ...view.categories.map((c) => h("option", { value: c.category }, withoutBidiControls(c.category))),
    ]);
    const flips = h("input", { type: "checkbox", id: "mistake-flips" });
    const count = h("p", { id: "mistake-count", role: "status" });
    const list = h("ol", { class: "mistakes", id: "mistakes" });
    const filter = () => {
      const shown = view.mistakes.filter(
        (m) => (!category.value || m.category === category.value) && (!flips.checked || m.flipsWithOrder),
      );
      count.textContent = `${shown.length} of ${view.mistakes.length} wrong items shown`;
      replace(list, shown.map(mistakeItem));
    };
    category.addEventListener("change", filter);
    flips.addEventListener("change", filter);

    filter();
    showResult(
      result,
      h("h3", {}, isolated(view.name)),
      h(
        "p",
        { class: "summary" },
        `${s.items} items${view.skipped ? ` (${view.skipped} rows skipped)` : ""} · greedy ${percent(s.greedy)} · ` +
          `Voting@${view.k} ${percent(s.confidenceAt[view.k])} (confidence), ${percent(s.votingAt[view.k])} (majority) · ` +
          `same greedy verdict in both orders ${percent(s.orderAgreement)} · invalid votes ${percent(s.invalidVotes)}`,
      ),
      h(
        "figure",
        { class: "chart-figure", id: "voting-chart" },
        lineChart(
          `Accuracy against K: Voting@K by majority and by confidence; greedy ${percent(s.greedy)} dashed`,
          [
            {
              name: "confidence",
              className: "confidence",
              points: ks.map((k) => [k, s.confidenceAt[k] ?? 0]),
            },
            { name: "majority", className: "majority", points: ks.map((k) => [k, s.votingAt[k] ?? 0]) },
            {
              name: "greedy",
              className: "greedy",
              points: [
                [1, s.greedy],
                [view.k, s.greedy],
              ],
              dashed: true,
            },
          ],
          chartWidth(),
        ),
        h(
          "figcaption",
          {},
          h("span", { class: "legend-key confidence" }, "confidence"),
          " ",
          h("span", { class: "legend-key majority" }, "majority"),
          " ",
          h("span", { class: "legend-key greedy" }, "greedy"),
          " — Voting@K from one request of K samples per item, in alternating order.",
        ),
      ),
      h(
        "details",
        {},
        h("summary", {}, "Voting@K as a table"),
        table(
          "Voting@K by aggregation",
          ["K", "majority", "confidence", "Any@K"],
          ks.map((k) => [String(k), percent(s.votingAt[k]), percent(s.confidenceAt[k]), percent(s.anyAt[k])]),
        ),
      ),
      h("h3", {}, "By category"),
      table(
        "Accuracy by category",
        [
          "Category",
          "Items",
          "Greedy",
          `Voting@${view.k} (confidence)`,
          `Voting@${view.k} (majority)`,
          "Same verdict in both orders",
        ],
        view.categories.map((c) => [
          c.category,
          String(c.items),
          percent(c.greedy),
          percent(c.confidenceAtK),
          percent(c.votingAtK),
          percent(c.orderAgreement),
        ]),
        "categories",
      ),
      h("h3", {}, "Wrong items"),
      h(
        "div",
        { class: "filters" },
        h("label", { for: "mistake-category" }, "Category"),
        category,
        h("label", { class: "check" }, flips, " Only verdicts that flip with order"),
      ),
      count,
      list,
    );
  };

  return {
    /** Lists the server's reports the first time the view is shown. */
    async shown() {
      if (listed || !context.reportsServed()) return;
      listed = true;
      try {
        /** @type {{ evaluations: string[] }} */
        const { evaluations } = await call("/console/api/evaluations");
        replace(
          names,
          evaluations.map((name) => h("option", { value: name }, withoutBidiControls(name))),
        );
        served.hidden = evaluations.length === 0;
        announce(status, evaluations.length === 0 ? "The server's reports folder has no reports yet." : "");
      } catch (error) {
        listed = false;
        announce(status, describe(error));
      }
    },
  };
}

/**
 * @param {string} caption
 * @param {string[]} head
 * @param {string[][]} rows
 * @param {string} [id]
 */
function table(caption, head, rows, id) {
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { ...(id ? { id } : {}) },
      h("caption", { class: "visually-hidden" }, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          head.map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            row.map((cell, i) => (i === 0 ? h("th", { scope: "row" }, cell) : h("td", {}, cell))),
          ),
        ),
      ),
    ),
  );
}

/** @param {Mistake} m */
function mistakeItem(m) {
  const reasoning = m.reasoning;
  return h(
    "li",
    { "data-id": m.id, "data-flips": String(m.flipsWithOrder) },
    h(
      "details",
      {},
      h(
        "summary",
        {},
        h("strong", {}, isolated(m.id)),
        " · ",
        isolated(m.category),
        ` · better: ${m.label} · greedy: ${verdictText(m.greedy)} · swapped: ${verdictText(m.greedySwapped)} · vote: ${verdictText(m.votedAtK)}`,
        m.flipsWithOrder ? h("span", { class: "flag" }, " · flips with order") : "",
      ),
      m.question === undefined
        ? h(
            "p",
            { class: "muted" },
            "This report's results predate recording the question, responses and reasoning.",
          )
        : h(
            "div",
            { class: "mistake" },
            h("p", {}, h("strong", {}, "Question: "), isolated(m.question)),
            ...(m.responses ?? []).map((r, i) =>
              h(
                "p",
                {},
                h("strong", {}, `Response ${i + 1}${m.label === i + 1 ? " (better)" : ""}: `),
                isolated(r),
              ),
            ),
            h("p", {}, h("strong", {}, "Greedy reasoning, as given:")),
            h("pre", { class: "reasoning" }, reasoning?.given ?? "(none)"),
            h("p", {}, h("strong", {}, "Greedy reasoning, swapped:")),
            h("pre", { class: "reasoning" }, reasoning?.swapped ?? "(none)"),
          ),
    ),
  );
}
