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
