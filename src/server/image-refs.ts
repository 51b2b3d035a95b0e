// Images for protocols that send no pixels (OpenRLHF's /get_reward, slime's /reward): the policy's
// prompt holds only `<|vision_start|><|image_pad|>…<|vision_end|>` runs, so the label says which
// images they were. The convention (docs/api.md, "Images through text-only protocols"):
//
//   label = {"reference": "<the reference answer>", "images": ["data:image/png;base64,…", "dir/x.png"]}
//
// as a JSON object (slime) or that object written as a JSON string (OpenRLHF's labels are strings).
// Each reference is a data URL, or a relative path under the operator's
// R1JUDGE_IMAGE_ROOT (off by default). Their number must equal the prompt's image runs. A path is
// refused unless it resolves (symbolic links followed) to a regular file inside the root, within the
// per-image byte limit: no `..`, no absolute paths or URLs, no links out, no devices, FIFOs,
// sockets or directories.

import { constants } from "node:fs";
import { lstat, open, realpath } from "node:fs/promises";
import { isAbsolute, join, sep } from "node:path";
import { ApiError } from "../errors.js";
import { imageBytes, image as imageSchema, LIMITS } from "./schemas.js";

/** A label's scalar reference: what /get_reward's `labels` hold. */
export type ScalarLabel = string | number | boolean | null;

export interface LabelParts {
  /** The reference answer, as the label would be without images. */
  reference: ScalarLabel;
  /** The image references, when the label names any. */
  images?: string[];
}

const IMAGE_RUN = /<\|vision_start\|>(?:<\|image_pad\|>)+<\|vision_end\|>/g;

/** The number of images a rendered Qwen2-VL / Qwen2.5-VL prompt holds (its vision runs). */
export function countImageRuns(prompt: string): number {
  return prompt.match(IMAGE_RUN)?.length ?? 0;
}

function isScalar(value: unknown): value is ScalarLabel {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/** An object label in the convention: a `reference` and optional `images`, nothing else. */
function conventionObject(value: unknown): value is { reference: unknown; images?: unknown } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.includes("reference") && keys.every((k) => k === "reference" || k === "images");
}

/**
 * A label split into its reference and image references. A string label is the convention only when
 * it is a JSON object with `reference` (and optionally `images`) and no other key; any other string
 * is the reference as it is. `field` names the label in errors (`labels[3]`, `label`).
 */
export function splitLabel(label: unknown, field: string): LabelParts {
  let value = label;
  if (typeof label === "string" && label.trimStart().startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(label);
      if (conventionObject(parsed)) value = parsed;
    } catch {
      // not JSON: the reference is the text itself
    }
  }
  if (isScalar(value)) return { reference: checkedReference(value, field) };
  if (!conventionObject(value)) {
    // Another JSON value (a dataset dict or list): judged against as the JSON text.
    return { reference: JSON.stringify(value) };
  }
  if (!isScalar(value.reference)) {
    throw unprocessable(`${field}.reference`, "must be text, a number, a boolean or null");
  }
  const reference = checkedReference(value.reference, `${field}.reference`);
  if (value.images === undefined) return { reference };
  const images = value.images;
  if (!Array.isArray(images) || !images.every((i): i is string => typeof i === "string" && i.length > 0)) {
    throw unprocessable(`${field}.images`, "must be a list of data URLs or paths (non-empty strings)");
  }
  if (images.length > LIMITS.images) {
    throw unprocessable(`${field}.images`, `at most ${LIMITS.images} images, got ${images.length}`);
  }
  if (images.some((image) => image.length > LIMITS.imageChars)) {
    throw unprocessable(`${field}.images`, `an image is over ${LIMITS.imageChars} characters`);
  }
  return { reference, images };
}

/** A reference is a response's length at most (a label's text may be longer only by its images). */
function checkedReference<T>(reference: T, field: string): T {
  if (typeof reference === "string" && reference.length > LIMITS.responseChars) {
    throw unprocessable(field, `at most ${LIMITS.responseChars} characters, got ${reference.length}`);
  }
  return reference;
}

/** The image references' count against the prompt's image slots (422 naming the field on a mismatch). */
export function checkImageCount(
  images: readonly string[],
  slots: number,
  field: string,
  where: string,
): void {
  if (images.length !== slots) {
    throw unprocessable(
      field,
      `names ${images.length} image${images.length === 1 ? "" : "s"} but ${where} holds ${slots} ` +
        "(<|vision_start|><|image_pad|>…<|vision_end|> runs)",
    );
  }
}

export async function resolveImages(
  refs: readonly string[],
  root: string | undefined,
  field: string,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const [k, ref] of refs.entries()) {
    out.push(await resolveImage(ref, root, `${field}[${k}]`));
  }
  return out;
}

export async function resolveImage(
  ref: string,
  root: string | undefined,
  field: string,
): Promise<Uint8Array> {
  // A data URL, or else a path (bare base64 is not taken here: it cannot be told from a path).
  if (ref.startsWith("data:")) {
    const checked = imageSchema.safeParse(ref);
    if (!checked.success) throw unprocessable(field, checked.error.issues[0]?.message ?? "not a valid image");
    return imageBytes(ref);
  }
  return readUnderRoot(ref, root, field);
}

/** A file under the image root, refused unless it is a regular file inside it within the byte limit. */
export async function readUnderRoot(
  ref: string,
  root: string | undefined,
  field: string,
): Promise<Uint8Array> {
  if (root === undefined) {
    throw unprocessable(
      field,
      "is a path, but image paths are off on this server (the operator sets R1JUDGE_IMAGE_ROOT); send a data URL",
    );
  }
  if (ref.includes("\0")) throw unprocessable(field, "holds a NUL character");
  if (isAbsolute(ref) || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(ref) || ref.startsWith("\\")) {
    throw unprocessable(field, "must be a path relative to the image root (no absolute paths or URLs)");
  }
  if (ref.split(/[\\/]/).includes("..")) throw unprocessable(field, "must not contain '..'");
  let rootReal: string;
  try {
    rootReal = await realpath(root);
  } catch {
    throw new ApiError("internal", "the image root (R1JUDGE_IMAGE_ROOT) cannot be read");
  }
  let real: string;
  try {
    real = await realpath(join(rootReal, ref));
  } catch {
    throw unprocessable(field, "no such file under the image root");
  }
  if (real !== rootReal && !real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) {
    throw unprocessable(field, "resolves outside the image root (a symbolic link out of it)");
  }
  // Devices, FIFOs and sockets are refused before they are opened (opening some has effects).
  const kind = await lstat(real).catch(() => undefined);
  if (!kind?.isFile())
    throw unprocessable(field, "is not a regular file (a directory, device, FIFO or socket)");
  // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the resolved path itself is
  // not swapped for a link between realpath and open. The type is checked on the open descriptor.
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    throw unprocessable(field, "cannot be opened under the image root");
  }
  try {
    // A directory on the way swapped for a link between realpath and open is followed by open
    // (O_NOFOLLOW covers the last component only): what was opened must still be under the root.
    const opened = await realpath(`/proc/self/fd/${handle.fd}`).catch(() => real);
    if (opened !== real)
      throw unprocessable(field, "changed while it was opened (a link out of the image root)");
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw unprocessable(field, "is not a regular file (a directory, device, FIFO or socket)");
    }
    if (stat.size > LIMITS.imageBytes) {
      throw unprocessable(field, `is ${stat.size} bytes, over the ${LIMITS.imageBytes}-byte image limit`);
    }
    if (stat.size === 0) throw unprocessable(field, "is an empty file");
    // Read at most one byte past the limit: a file grown past it after the stat is refused too.
    const buffer = Buffer.alloc(Math.min(stat.size + 1, LIMITS.imageBytes + 1));
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > LIMITS.imageBytes) {
      throw unprocessable(field, `is over the ${LIMITS.imageBytes}-byte image limit`);
    }
    return new Uint8Array(buffer.buffer, buffer.byteOffset, length);
  } finally {
    await handle.close();
  }
}

function unprocessable(field: string, message: string): ApiError {
  return new ApiError("unprocessable", `${field} ${message}`, { errors: [{ field, message }] });
}

/** An item's images, read when its judgement starts (after it has a queue slot), not on arrival. */
export type ImageLoader = () => Promise<Uint8Array[]>;

/**
 * /get_reward's labels with their image references taken out: each label becomes its reference (the
 * convention's `reference`, or the label itself), and each item's references are checked against
 * the image runs of its prompt (or of its query when the prompt is empty) now, and read by its
 * loader once the item is judged, so a large batch never holds every item's images at once.
 * `undefined`: the item names no images.
 */
export function rewardLabelImages(
  labels: readonly ScalarLabel[] | undefined,
  prompts: readonly string[],
  queries: readonly string[],
  root: string | undefined,
): { labels: ScalarLabel[] | undefined; images: (ImageLoader | undefined)[] } {
  if (labels === undefined) return { labels, images: [] };
  const out: ScalarLabel[] = [];
  const images: (ImageLoader | undefined)[] = [];
  for (const [k, label] of labels.entries()) {
    const parts = splitLabel(label, `labels[${k}]`);
    out.push(parts.reference);
    const refs = parts.images;
    if (refs === undefined) {
      images.push(undefined);
      continue;
    }
    const prompt = prompts[k] || queries[k] || "";
    checkImageCount(refs, countImageRuns(prompt), `labels[${k}].images`, `prompts[${k}]`);
    images.push(() => resolveImages(refs, root, `labels[${k}].images`));
  }
  return { labels: out, images };
}

/** The same error with its field paths and detail renamed (a protocol's own field names). */
export function renameFields(api: ApiError, rename: (text: string) => string): ApiError {
  if (api.errors.length === 0) return api;
  return new ApiError(api.code, rename(api.detail), {
    errors: api.errors.map((e) => ({ field: rename(e.field), message: rename(e.message) })),
    ...(api.retryAfter === undefined ? {} : { retryAfter: api.retryAfter }),
    cause: api,
  });
}
