// @ts-check
// The Rank view: a question and N candidates → POST /rank; the ranking with each candidate's score,
// and every comparison played (who was shown as response 1 and 2, the winner, the votes).

import { call, describe } from "./api.js";
import { curlBlock, curlLine } from "./curl.js";
import { announce, byId, h, isolated, percent, probability, showResult } from "./dom.js";
import { numberField, oneAtATime, optionalNumberField } from "./forms.js";

/**
 * @typedef {import("./api.js").RankRequest} RankRequest
 * @typedef {import("./api.js").RankResult} RankResult
 * @typedef {{ keyRequired: () => boolean }} ViewContext
 */

const MIN_CANDIDATES = 2;
const MAX_CANDIDATES = 64;

/** @param {ViewContext} context */
export function mountRank(context) {
  const form = byId("rank-form", HTMLFormElement);
  const question = byId("rank-question", HTMLTextAreaElement);
  const list = byId("rank-candidates", HTMLOListElement);
  const add = byId("rank-add", HTMLButtonElement);
  const strategy = byId("rank-strategy", HTMLSelectElement);
  const samples = byId("rank-samples", HTMLInputElement);
  const seed = byId("rank-seed", HTMLInputElement);
  const submit = byId("rank-submit", HTMLButtonElement);
  const cancel = byId("rank-cancel", HTMLButtonElement);
  const status = byId("rank-status", HTMLParagraphElement);
  const result = byId("rank-result", HTMLDivElement);
  const requests = oneAtATime(form, [submit], cancel);

  /** @returns {HTMLTextAreaElement[]} */
  const fields = () => [...list.querySelectorAll("textarea")];

  const relabel = () => {
    const all = [...list.children];
    all.forEach((item, i) => {
      const label = item.querySelector("label");
      const text = item.querySelector("textarea");
      const remove = item.querySelector("button");
      if (label) label.textContent = `Candidate ${i}`;
      if (text) text.id = `rank-candidate-${i}`;
      label?.setAttribute("for", `rank-candidate-${i}`);
      if (remove) {
        remove.setAttribute("aria-label", `Remove candidate ${i}`);
        remove.disabled = all.length <= MIN_CANDIDATES;
      }
    });
    add.disabled = all.length >= MAX_CANDIDATES;
  };

  const addCandidate = (text = "") => {
    const area = h("textarea", { rows: 2 });
    area.value = text;
    const remove = h("button", { type: "button", class: "remove" }, "Remove");
    const item = h("li", {}, h("label", {}, "Candidate"), area, remove);
    remove.addEventListener("click", () => {
      // Focus moves to the next candidate's text (or the previous one's), not to the page.
      const next = item.nextElementSibling ?? item.previousElementSibling;
      item.remove();
      relabel();
      next?.querySelector("textarea")?.focus();
    });
    list.append(item);
    relabel();
    return area;
  };
  for (let i = 0; i < 3; i++) addCandidate();

  add.addEventListener("click", () => addCandidate().focus());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (requests.busy()) return;
    const problems = [];
    if (!question.value.trim()) problems.push("the question is empty");
    const n = numberField(samples, "samples", problems);
    const s = optionalNumberField(seed, "seed", problems);
    if (problems.length) {
      announce(status, `Cannot rank yet: ${problems.join("; ")}.`);
      return;
    }
    /** @type {RankRequest} */
    const body = {
      question: question.value,
      candidates: fields().map((f) => f.value),
      strategy: /** @type {"knockout" | "round_robin"} */ (strategy.value),
      samples: n,
      ...(s === undefined ? {} : { seed: s }),
    };
    announce(status, `Ranking ${body.candidates.length} candidates…`);
    await requests.run(async (signal) => {
      try {
        /** @type {RankResult} */
        const answer = await call("/rank", { body, signal });
        render(body, answer);
        announce(status, `Ranked ${body.candidates.length} candidates: candidate ${answer.best} is best.`);
      } catch (error) {
        result.hidden = true;
        announce(status, signal.aborted ? "Cancelled." : describe(error));
      }
    });
  });

  /**
   * @param {RankRequest} body
   * @param {RankResult} answer
   */
  const render = (body, answer) => {
    const excerpt = (/** @type {number} */ i) => {
      const text = body.candidates[i] ?? "";
      return text.length > 80 ? `${text.slice(0, 79)}…` : text || "(empty)";
    };
    showResult(
      result,
      h("h3", {}, "Ranking"),
      h(
        "ol",
        { class: "ranking", start: 1 },
        answer.ranking.map((i) =>
          h(
            "li",
            { "data-candidate": i },
            h("strong", {}, `Candidate ${i}`),
            ` · wins ${percent(answer.scores[i])} of its comparisons · `,
            h("span", { class: "excerpt" }, isolated(excerpt(i))),
          ),
        ),
      ),
      h("h3", {}, `Comparisons (${answer.comparisons.length})`),
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "comparisons" },
          h("caption", { class: "visually-hidden" }, "Every comparison in the order played"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["#", "Shown as 1", "Shown as 2", "Winner", "Votes 1 / 2 / invalid", "Preference"].map((t) =>
                h("th", { scope: "col" }, t),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            answer.comparisons.map((c, k) =>
              h(
                "tr",
                {},
                h("td", {}, String(k + 1)),
                h("td", {}, `candidate ${c.a}`),
                h("td", {}, `candidate ${c.b}`),
                h("td", {}, c.winner === null ? "tie" : `candidate ${c.winner}`),
                h("td", {}, `${c.votes[1]} / ${c.votes[2]} / ${c.votes.invalid}`),
                h("td", {}, `${probability(c.preference[0] ?? 0)} / ${probability(c.preference[1] ?? 0)}`),
              ),
            ),
          ),
        ),
      ),
      h("h3", {}, "The request as curl"),
      curlBlock(
        curlLine(location.origin, "/rank", body, { keyRequired: context.keyRequired() }),
        "rank-curl",
      ),
    );
  };
}
