// M-RoPE position ids for one unpadded prompt (port of r1judge_train.models.inputs.mrope_positions).
// Text tokens advance all three axes together; the pads of one image get (t, h, w) grid positions
// offset by where the image starts, and text after it resumes at that start + max(h, w) / merge.

export interface PromptPositions {
  /** (3, S) row-major: axis 0 = temporal, 1 = height, 2 = width. */
  ids: Int32Array;
  length: number;
  /** Decode step at past length L uses position L + ropeDelta on every axis. */
  ropeDelta: number;
}

export type GridThw = readonly [number, number, number];

export function mropePositions(
  inputIds: ArrayLike<number>,
  grids: readonly GridThw[],
  imagePadId: number,
  mergeSize = 2,
): PromptPositions {
  const n = inputIds.length;
  const ids = new Int32Array(3 * n);
  let current = 0;
  let image = 0;
  let max = -1;
  for (let i = 0; i < n; ) {
    if (inputIds[i] !== imagePadId) {
      ids[i] = ids[n + i] = ids[2 * n + i] = current;
      max = Math.max(max, current);
      current += 1;
      i += 1;
      continue;
    }
    const grid = grids[image++];
    if (!grid) throw new Error(`prompt has more image placeholders than the ${grids.length} images given`);
    const [t, gh, gw] = grid;
    const h = gh / mergeSize;
    const w = gw / mergeSize;
    const count = t * h * w;
    if (i + count > n) throw new Error(`image ${image - 1} needs ${count} pads but the prompt ends first`);
    let k = i;
    for (let tt = 0; tt < t; tt++) {
      for (let hh = 0; hh < h; hh++) {
        for (let ww = 0; ww < w; ww++) {
          ids[k] = current + tt;
          ids[n + k] = current + hh;
          ids[2 * n + k] = current + ww;
          max = Math.max(max, current + tt, current + hh, current + ww);
          k++;
        }
      }
    }
    current += Math.max(h, w);
    i += count;
  }
  if (image !== grids.length)
    throw new Error(`${grids.length} images given but the prompt has ${image} placeholders`);
  return { ids, length: n, ropeDelta: n ? max + 1 - n : 0 };
}
