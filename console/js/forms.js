// @ts-check
// Small pieces every form of the console uses.

import { h } from "./dom.js";

/**
 * A number input's value, or a problem noted (by the input's label) when it is not a number in range.
 * @param {HTMLInputElement} input
 * @param {string} name
 * @param {string[]} problems
 * @returns {number}
 */
export function numberField(input, name, problems) {
  const value = Number(input.value);
  const min = input.min === "" ? -Infinity : Number(input.min);
  const max = input.max === "" ? Infinity : Number(input.max);
  const whole = input.step === "" || input.step === "1";
  if (
    input.value.trim() === "" ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (whole && !Number.isInteger(value))
  ) {
    problems.push(
      `${name} must be ${whole ? "a whole number" : "a number"} from ${input.min} to ${input.max}`,
    );
    input.setAttribute("aria-invalid", "true");
    return Number.NaN;
  }
  input.removeAttribute("aria-invalid");
  return value;
}

/**
 * An optional number input's value: undefined when left blank; a problem noted when it holds
 * something the browser could not read as a number (its value is then "" too, so check validity).
 * @param {HTMLInputElement} input
 * @param {string} name
 * @param {string[]} problems
 * @returns {number | undefined}
 */
export function optionalNumberField(input, name, problems) {
  if (input.value.trim() === "" && !input.validity.badInput) {
    input.removeAttribute("aria-invalid");
    return undefined;
  }
  return numberField(input, name, problems);
}

/**
 * Runs one request at a time from a form: while it runs the form is busy (its submit buttons
 * aria-disabled, not disabled, so keyboard focus stays on them), a second start is ignored, and
 * Cancel (shown meanwhile) aborts it.
 * @param {HTMLFormElement} form
 * @param {HTMLButtonElement[]} buttons
 * @param {HTMLButtonElement} cancel
 */
export function oneAtATime(form, buttons, cancel) {
  /** @type {AbortController | undefined} */
  let running;
  cancel.addEventListener("click", () => running?.abort());
  return {
    busy: () => running !== undefined,
    /**
     * @template T
     * @param {(signal: AbortSignal) => Promise<T>} work
     * @returns {Promise<T | undefined>} undefined when busy already
     */
    async run(work) {
      if (running) return undefined;
      const controller = new AbortController();
      running = controller;
      form.setAttribute("aria-busy", "true");
      for (const b of buttons) b.setAttribute("aria-disabled", "true");
      cancel.hidden = false;
      try {
        return await work(controller.signal);
      } finally {
        running = undefined;
        form.removeAttribute("aria-busy");
        for (const b of buttons) b.removeAttribute("aria-disabled");
        cancel.hidden = true;
      }
    },
  };
}

/**
 * A button that copies an element's text, saying so (or how to copy by hand where the page may not
 * write to the clipboard).
 * @param {HTMLElement} source
 */
export function copyButton(source) {
  const button = h("button", { type: "button", class: "copy" }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.textContent ?? "");
      button.textContent = "Copied";
    } catch {
      getSelection()?.selectAllChildren(source);
      button.textContent = "Selected: press Ctrl+C";
    }
  });
  return button;
}
