// @ts-check
// The vote bar: votes for response 1, for response 2 and invalid ones, as widths and as text.

import { h } from "./dom.js";

/**
 * @param {{ "1": number, "2": number, invalid: number }} votes
 * @param {[string, string]} [names] what 1 and 2 stand for (default "response 1", "response 2")
 * @returns {HTMLElement}
 */
export function voteBar(votes, names = ["response 1", "response 2"]) {
  const total = votes[1] + votes[2] + votes.invalid;
  const label = `${votes[1]} for ${names[0]}, ${votes[2]} for ${names[1]}, ${votes.invalid} invalid`;
  const bar = h("div", { class: "vote-bar", role: "img", "aria-label": `Votes: ${label}` });
  for (const [kind, count] of /** @type {const} */ ([
    ["one", votes[1]],
    ["two", votes[2]],
    ["invalid", votes.invalid],
  ])) {
    if (count === 0) continue;
    const part = h("span", { class: `vote ${kind}` }, String(count));
    // CSSOM, not a style attribute: the page's CSP allows no inline styles.
    part.style.width = `${(100 * count) / Math.max(total, 1)}%`;
    bar.append(part);
  }
  return h(
    "div",
    { class: "votes" },
    bar,
    h(
      "p",
      { class: "vote-counts" },
      h("span", { "data-votes": "1" }, String(votes[1])),
      ` for ${names[0]} · `,
      h("span", { "data-votes": "2" }, String(votes[2])),
      ` for ${names[1]} · `,
      h("span", { "data-votes": "invalid" }, String(votes.invalid)),
      " invalid",
    ),
  );
}
