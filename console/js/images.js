// @ts-check
// Images for a judgement: picked or dropped files, shown as thumbnails (blob: URLs), sent as data URLs.

import { h, isolated, replace } from "./dom.js";

const MAX_IMAGES = 8;
const TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif"];

/** @typedef {{ file: File, url: string }} PickedImage */

/**
 * @param {HTMLFieldSetElement} zone the drop target
 * @param {HTMLInputElement} input the file picker
 * @param {HTMLUListElement} list where thumbnails go
 * @param {(message: string) => void} warn
 */
export function imagePicker(zone, input, list, warn) {
  /** @type {PickedImage[]} */
  let picked = [];

  const render = () => {
    replace(
      list,
      picked.map((image, i) => {
        const remove = h(
          "button",
          { type: "button", class: "remove", "aria-label": `Remove ${image.file.name}` },
          "×",
        );
        remove.addEventListener("click", () => {
          URL.revokeObjectURL(image.url);
          picked = picked.filter((_, j) => j !== i);
          render();
          // Focus stays in the list (the next image's remove button), or goes back to the picker.
          const buttons = list.querySelectorAll("button");
          (buttons[Math.min(i, buttons.length - 1)] ?? input).focus();
        });
        return h(
          "li",
          {},
          h("img", { src: image.url, alt: image.file.name, width: 72, height: 72 }),
          h("span", { class: "name" }, isolated(image.file.name)),
          remove,
        );
      }),
    );
  };

  /** @param {Iterable<File>} files */
  const add = (files) => {
    for (const file of files) {
      if (!TYPES.includes(file.type)) {
        warn(`${file.name} is not a PNG, JPEG, WebP or GIF image; left out.`);
        continue;
      }
      if (file.size === 0) {
        warn(`${file.name} is empty (0 bytes); left out.`);
        continue;
      }
      if (picked.length >= MAX_IMAGES) {
        warn(`At most ${MAX_IMAGES} images per judgement; ${file.name} left out.`);
        continue;
      }
      picked.push({ file, url: URL.createObjectURL(file) });
    }
    render();
  };

  input.addEventListener("change", () => {
    add(input.files ?? []);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    add(event.dataTransfer?.files ?? []);
  });

  return {
    /** @returns {string[]} the file names, in order */
    names: () => picked.map((image) => image.file.name),
    /** @returns {Promise<string[]>} the images as data URLs, in order */
    dataUrls: () => Promise.all(picked.map((image) => dataUrl(image.file))),
  };
}

/**
 * @param {File} file
 * @returns {Promise<string>}
 */
function dataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener("load", () => resolve(String(reader.result)));
    reader.addEventListener("error", () => reject(reader.error ?? new Error(`could not read ${file.name}`)));
    reader.readAsDataURL(file);
  });
}
