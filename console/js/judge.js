// @ts-check
// The Judge view: a pair, optional images and the sampling settings → POST /judge; the winner, the
// vote bar, every sample (its order, verdict, answer probabilities, tokens, finish reason and
// reasoning), the request as curl, and "swap the responses" to see whether the verdict follows the
// content or the position.

import { call, describe } from "./api.js";
import { curlBlock, curlLine } from "./curl.js";
import { announce, byId, h, probability, showResult } from "./dom.js";
import { numberField, oneAtATime, optionalNumberField } from "./forms.js";
import { imagePicker } from "./images.js";
import { voteBar } from "./votes.js";

/**
 * @typedef {import("./api.js").JudgeRequest} JudgeRequest
 * @typedef {import("./api.js").Judgement} Judgement
 * @typedef {{ keyRequired: () => boolean }} ViewContext
 */

/** @param {ViewContext} context */
export function mountJudge(context) {
  const form = byId("judge-form", HTMLFormElement);
  const question = byId("judge-question", HTMLTextAreaElement);
  const first = byId("judge-response-1", HTMLTextAreaElement);
  const second = byId("judge-response-2", HTMLTextAreaElement);
  const samples = byId("judge-samples", HTMLInputElement);
  const temperature = byId("judge-temperature", HTMLInputElement);
  const order = byId("judge-order", HTMLSelectElement);
  const aggregation = byId("judge-aggregation", HTMLSelectElement);
  const seed = byId("judge-seed", HTMLInputElement);
  const submit = byId("judge-submit", HTMLButtonElement);
  const swap = byId("judge-swap", HTMLButtonElement);
  const cancel = byId("judge-cancel", HTMLButtonElement);
  const status = byId("judge-status", HTMLParagraphElement);
  const result = byId("judge-result", HTMLDivElement);
  const images = imagePicker(
    byId("judge-images", HTMLFieldSetElement),
    byId("judge-image-files", HTMLInputElement),
    byId("judge-thumbnails", HTMLUListElement),
    (message) => announce(status, message),
  );
  const requests = oneAtATime(form, [submit, swap], cancel);

  /** The last answered judgement, to compare with after a swap. @type {{ request: JudgeRequest, answer: Judgement } | undefined} */
  let last;

  /** @returns {Promise<JudgeRequest | undefined>} undefined (with the reason shown) when a field is wrong */
  const request = async () => {
    const problems = [];
    if (!question.value.trim()) problems.push("the question is empty");
    if (!first.value.trim()) problems.push("response 1 is empty");
    if (!second.value.trim()) problems.push("response 2 is empty");
    const n = numberField(samples, "samples", problems);
    const t = numberField(temperature, "temperature", problems);
    const s = optionalNumberField(seed, "seed", problems);
    if (problems.length) {
      announce(status, `Cannot judge yet: ${problems.join("; ")}.`);
      return undefined;
    }
    const pictures = await images.dataUrls();
    return {
      question: question.value,
      responses: [first.value, second.value],
      ...(pictures.length ? { images: pictures } : {}),
      samples: n,
      temperature: t,
      order: /** @type {"alternate" | "fixed"} */ (order.value),
      aggregation: /** @type {"confidence" | "majority"} */ (aggregation.value),
      ...(s === undefined ? {} : { seed: s }),
      return_reasoning: true,
    };
  };

  /** @param {{ swapped: boolean }} how */
  const judge = async (how) => {
    // Busy from the first moment (reading picked images takes a while): a second click meanwhile
    // neither sends twice nor swaps the texts back under a request already on its way.
    await requests.run(async (signal) => {
      const body = await request();
      if (!body) return;
      announce(status, `Judging with ${body.samples} sample${body.samples === 1 ? "" : "s"}…`);
      try {
        /** @type {Judgement} */
        const answer = await call("/judge", { body, signal });
        const before = how.swapped ? last : undefined;
        last = { request: body, answer };
        render(body, answer, before);
        const v = answer.votes;
        announce(
          status,
          `${answer.winner === null ? "No winner" : `Response ${answer.winner} wins`}: ${v[1]} votes for 1, ${v[2]} for 2, ${v.invalid} invalid.`,
        );
      } catch (error) {
        // An answer to another request is not shown under this one's error.
        result.hidden = true;
        announce(status, signal.aborted ? "Cancelled." : describe(error));
      }
    });
  };

  /**
   * @param {JudgeRequest} body
   * @param {Judgement} answer
   * @param {{ request: JudgeRequest, answer: Judgement } | undefined} before the judgement before a swap
   */
  const render = (body, answer, before) => {
    const winner =
      answer.winner === null
        ? h("strong", { "data-winner": "none" }, "No winner (a tie, or no valid vote)")
        : h("strong", { "data-winner": String(answer.winner) }, `Response ${answer.winner} wins`);
    const [p1, p2] = answer.preference;
    showResult(
      result,
      h("h3", {}, "Verdict"),
      h(
        "p",
        { class: "winner" },
        winner,
        ` · preference ${probability(p1 ?? 0)} / ${probability(p2 ?? 0)} (${body.aggregation})`,
        answer.cached ? " · from the cache" : "",
      ),
      voteBar(answer.votes),
      before ? swapNote(before, body, answer) : null,
      h("h3", {}, `Samples (${answer.samples.length})`),
      h(
        "ol",
        { class: "samples" },
        answer.samples.map((sample, i) =>
          h(
            "li",
            { "data-sample": i, "data-verdict": String(sample.verdict), "data-order": sample.order },
            h(
              "details",
              {},
              h(
                "summary",
                {},
                h(
                  "span",
                  { class: `verdict v${sample.verdict ?? "x"}` },
                  sample.verdict === null ? "invalid" : `verdict ${sample.verdict}`,
                ),
                ` · ${sample.order === "swapped" ? "saw them swapped" : "saw them as given"}`,
                sample.probabilities
                  ? ` · p(1) ${probability(sample.probabilities[0] ?? 0)}, p(2) ${probability(sample.probabilities[1] ?? 0)}`
                  : "",
                ` · ${sample.tokens} tokens · ${sample.finish_reason} · seed ${sample.seed}`,
              ),
              h("pre", { class: "reasoning" }, sample.reasoning ?? "(no reasoning returned)"),
            ),
          ),
        ),
      ),
      h("h3", {}, "The request as curl"),
      curlBlock(
        curlLine(location.origin, "/judge", body, {
          imageNames: images.names(),
          keyRequired: context.keyRequired(),
        }),
        "judge-curl",
      ),
    );
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void judge({ swapped: false });
  });
  swap.addEventListener("click", () => {
    if (requests.busy()) return;
    [first.value, second.value] = [second.value, first.value];
    void judge({ swapped: true });
  });
}

/**
 * Whether the verdict followed the content (the same text won after the swap) or the position.
 * @param {{ request: JudgeRequest, answer: Judgement }} before
 * @param {JudgeRequest} body
 * @param {Judgement} answer
 */
function swapNote(before, body, answer) {
  const [a, b] = before.request.responses;
  const swappedPair = body.responses[0] === b && body.responses[1] === a;
  if (!swappedPair) return null;
  let text;
  let kind;
  if (before.answer.winner === null || answer.winner === null) {
    kind = "none";
    text = "One of the two judgements has no winner, so the swap shows neither content nor position.";
  } else if (before.answer.winner !== answer.winner) {
    kind = "content";
    text = `Before the swap response ${before.answer.winner} won; the same text, now response ${answer.winner}, wins again: the verdict follows the content.`;
  } else {
    kind = "position";
    text = `Response ${answer.winner} wins in both orders, though the texts changed places: the verdict follows the position, not the content.`;
  }
  return h("p", { class: `swap-note ${kind}`, "data-follows": kind }, text);
}
