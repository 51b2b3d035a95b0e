// @ts-check
// The request the page just sent, as a curl line to paste into a terminal. Images are not inlined
// (megabytes of base64): each one reads its file at the shell, as the README's examples do.

import { h } from "./dom.js";
import { copyButton } from "./forms.js";

const IMAGE_MARK = "\u0000image:";

/** @param {string} text */
const shellQuote = (text) => `'${text.replaceAll("'", `'\\''`)}'`;

/**
 * @param {string} origin
 * @param {string} path
 * @param {Record<string, unknown> & { images?: string[] }} body
 * @param {{ imageNames?: string[], keyRequired?: boolean }} [options]
 * @returns {string}
 */
export function curlLine(origin, path, body, options = {}) {
  const names = options.imageNames ?? [];
  const shown = body.images?.length
    ? { ...body, images: body.images.map((_, i) => `${IMAGE_MARK}${i}`) }
    : body;
  let json = shellQuote(JSON.stringify(shown));
  json = json.replace(/"\\u0000image:(\d+)"/g, (_, i) => {
    const image = body.images?.[Number(i)] ?? "";
    const type = /^data:([^;,]+)/.exec(image)?.[1] ?? "image/png";
    const file = names[Number(i)] ?? `image-${Number(i) + 1}`;
    return `"data:${type};base64,'"$(base64 -w0 ${shellQuote(file)})"'"`;
  });
  const auth = options.keyRequired ? ` -H "Authorization: Bearer $R1JUDGE_API_KEY"` : "";
  return `curl -s ${shellQuote(`${origin}${path}`)} -H 'content-type: application/json'${auth} -d ${json}`;
}

/**
 * A curl line shown with a Copy button.
 * @param {string} line
 * @param {string} id the code element's id
 */
export function curlBlock(line, id) {
  const code = h("code", { id }, line);
  return h("div", { class: "curl" }, h("pre", {}, code), copyButton(code));
}
