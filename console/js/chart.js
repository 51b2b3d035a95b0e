// @ts-check
// Accuracy against K as an SVG line chart: one line per aggregation, the greedy accuracy as a dashed
// reference. Drawn from attributes only (the page's CSP allows no inline styles).

const SVG = "http://www.w3.org/2000/svg";

/**
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number>} attributes
 * @param {(SVGElement | string)[]} [children]
 * @returns {SVGElementTagNameMap[K]}
 */
function svg(tag, attributes, children = []) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

/**
 * @typedef {{ name: string, className: string, points: [number, number][], dashed?: boolean }} Series
 */

/**
 * @param {string} title
 * @param {Series[]} series x = K (1…), y = accuracy in [0, 1]
 * @param {number} width the width it is shown at, in CSS pixels: drawn at that size, so its 12 px
 *   labels stay 12 px on a phone rather than shrinking with a fixed viewBox
 * @returns {SVGSVGElement}
 */
export function lineChart(title, series, width) {
  const height = Math.round(Math.min(320, Math.max(240, width * 0.5)));
  const pad = { left: 52, right: 16, top: 16, bottom: 44 };
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const ys = series.flatMap((s) => s.points.map(([, y]) => y));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  // The y range hugs the data (a 2-point spread on a 0–100 axis looks flat) but keeps whole tenths.
  const yMin = Math.max(0, Math.floor(Math.min(...ys) * 10 - 0.5) / 10);
  const yMax = Math.min(1, Math.ceil(Math.max(...ys) * 10 + 0.5) / 10);
  const x = (/** @type {number} */ v) =>
    pad.left + ((v - xMin) / (xMax - xMin)) * (width - pad.left - pad.right);
  const y = (/** @type {number} */ v) =>
    height - pad.bottom - ((v - yMin) / Math.max(yMax - yMin, 1e-9)) * (height - pad.top - pad.bottom);

  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-labelledby": "chart-title",
  });
  chart.append(svg("title", { id: "chart-title" }, [title]));
  const grid = svg("g", { class: "grid" });
  for (let v = yMin; v <= yMax + 1e-9; v += 0.05) {
    grid.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }));
    grid.append(
      svg("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, [`${Math.round(v * 100)} %`]),
    );
  }
  const step = Math.max(1, Math.ceil((xMax - xMin) / Math.max(4, Math.floor(width / 50))));
  for (let v = xMin; v <= xMax; v += step)
    grid.append(svg("text", { x: x(v), y: height - pad.bottom + 18, "text-anchor": "middle" }, [String(v)]));
  grid.append(
    svg("text", { x: (pad.left + width - pad.right) / 2, y: height - 6, "text-anchor": "middle" }, [
      "K (samples voted)",
    ]),
  );
  chart.append(grid);
  for (const s of series) {
    const path = s.points
      .map(([px, py], i) => `${i ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`)
      .join(" ");
    const group = svg("g", { class: `series ${s.className}`, "data-series": s.name });
    group.append(svg("path", { d: path, fill: "none", ...(s.dashed ? { "stroke-dasharray": "6 4" } : {}) }));
    if (!s.dashed)
      for (const [px, py] of s.points)
        group.append(
          svg("circle", { cx: x(px), cy: y(py), r: 3 }, [
            svg("title", {}, [`${s.name}, K = ${px}: ${(100 * py).toFixed(1)} %`]),
          ]),
        );
    chart.append(group);
  }
  return chart;
}
