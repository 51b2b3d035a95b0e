// The colour of a GIF's transparent palette entry for its first frame, read from the headers: PIL
// shows that colour where the frame is transparent (mode P, convert("RGB") ignores transparency),
// while libvips gives those pixels as zero. Walks the blocks up to the first image descriptor.

/** [r, g, b] of the first frame's transparent index, or undefined when it has none or bytes are short. */
export function gifTransparentColour(bytes: Uint8Array): [number, number, number] | undefined {
  const at = (i: number): number => {
    const value = bytes[i];
    if (value === undefined) throw new RangeError("truncated GIF header");
    return value;
  };
  try {
    const tableBytes = (packed: number): number => ((packed & 0x80) !== 0 ? 3 * 2 ** ((packed & 7) + 1) : 0);
    const screenPacked = at(10);
    const globalTable = 13;
    let i = globalTable + tableBytes(screenPacked);
    let transparent: number | undefined;
    for (;;) {
      const block = at(i);
      if (block === 0x21) {
        const label = at(i + 1);
        // Graphic Control Extension: size 4, packed (bit 0: a transparent index follows), delay, index.
        if (label === 0xf9 && at(i + 2) === 4) transparent = (at(i + 3) & 1) !== 0 ? at(i + 6) : undefined;
        i += 2;
        for (let size = at(i); size !== 0; size = at(i)) i += size + 1;
        i += 1;
      } else if (block === 0x2c) {
        if (transparent === undefined) return undefined;
        const imagePacked = at(i + 9);
        const local = tableBytes(imagePacked) > 0;
        const table = local ? i + 10 : globalTable;
        if (!local && tableBytes(screenPacked) === 0) return undefined;
        const entries = tableBytes(local ? imagePacked : screenPacked) / 3;
        if (transparent >= entries) return undefined;
        const o = table + 3 * transparent;
        return [at(o), at(o + 1), at(o + 2)];
      } else {
        return undefined;
      }
    }
  } catch {
    return undefined;
  }
}
