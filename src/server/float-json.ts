// JSON whose numbers are all floats: `1.0`, never `1`. JSON.stringify writes whole numbers without a
// decimal point, which Python's json module reads as int (and torch.tensor then as int64).

export function floatJson(value: unknown): string {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "null";
    // From 1e21 on JSON writes exponent notation, which Python reads as a float already.
    return Number.isInteger(value) && Math.abs(value) < 1e21 ? value.toFixed(1) : JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(floatJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const fields = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${floatJson(v)}`);
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
