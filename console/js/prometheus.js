// @ts-check
// Just enough of the Prometheus text format for the Server view: `name{label="v",…} value` lines.

/** @typedef {{ name: string, labels: Record<string, string>, value: number }} MetricSample */

const LINE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * @param {string} text
 * @returns {MetricSample[]}
 */
export function parsePrometheus(text) {
  /** @type {MetricSample[]} */
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    /** @type {Record<string, string>} */
    const labels = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(LABEL))
      if (key !== undefined) labels[key] = value ?? "";
    samples.push({ name: match[1] ?? "", labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * The sum of a metric's samples whose labels include `labels` (0 when there are none).
 * @param {MetricSample[]} samples
 * @param {string} name
 * @param {Record<string, string>} [labels]
 */
export function sum(samples, name, labels = {}) {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}
