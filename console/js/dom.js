// @ts-check
// Building DOM without innerHTML: text is always text (a response that contains markup stays words).

/**
 * @typedef {string | number | Node | null | undefined | false} Child
 * @typedef {Record<string, string | number | boolean | undefined>} Attributes
 */

/**
 * An element with attributes (`class`, `aria-*`, `data-*`, … as given; `true` sets a flag) and
 * children (strings become text nodes; null, undefined and false are skipped).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attributes} [attributes]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

/**
 * @param {Element} parent
 * @param {(Child | Child[])[]} children
 */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(typeof child === "number" ? String(child) : child);
  }
}

/**
 * Replaces an element's children.
 * @param {Element} parent
 * @param {...(Child | Child[])} children
 */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

/**
 * The element with this id, of the type asked for; a page that lacks it is a bug worth a loud error.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return element;
}

/** @param {number | null | undefined} x */
export const percent = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)} %`);

/** @param {number} x */
export const probability = (x) => (x >= 0.001 || x === 0 ? x.toFixed(3) : x.toExponential(1));

/**
 * Shows a view's answer in its result area, and counts the answers shown (`data-rendered`): a test
 * or a script waits for the count to move.
 * @param {HTMLElement} result
 * @param {...(Child | Child[])} children
 */
export function showResult(result, ...children) {
  replace(result, ...children);
  result.hidden = false;
  result.dataset.rendered = String(Number(result.dataset.rendered ?? 0) + 1);
}

/**
 * Says something in a live status region. Cleared first, in its own task, so that the same message
 * twice (a second 429) is announced again.
 * @param {HTMLElement} status
 * @param {string} text
 */
export function announce(status, text) {
  status.textContent = "";
  if (text) setTimeout(() => (status.textContent = text), 0);
}

const BIDI_CONTROLS = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from a model or a file among the page's own words: isolated, so its direction controls
 * (a right-to-left override) cannot reorder the words around it.
 * @param {string} text
 */
export const isolated = (text) => h("bdi", {}, text);

/**
 * Text where no element can isolate it (an <option>): its direction controls removed.
 * @param {string} text
 */
export const withoutBidiControls = (text) => text.replace(BIDI_CONTROLS, "");
