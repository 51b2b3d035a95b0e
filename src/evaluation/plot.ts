// Accuracy against K as a PNG: Voting@K by aggregation (majority, confidence), Any@K and the greedy
// verdict, drawn as SVG and rasterized by sharp (already a dependency, for images).

import sharp from "sharp";
import type { Scores } from "./scores.js";

const W = 720;
const H = 440;
const M = { left: 64, right: 180, top: 48, bottom: 56 };

interface Series {
  name: string;
  color: string;
  dash?: string;
  points: [number, number][];
}

export function plotSvg(title: string, scores: Scores, ks: readonly number[]): string {
  const series: Series[] = [
    { name: "Voting@K, majority", color: "#1f77b4", points: ks.map((k) => [k, scores.votingAt[k] ?? 0]) },
    {
      name: "Voting@K, confidence",
      color: "#d62728",
      points: ks.map((k) => [k, scores.confidenceAt[k] ?? 0]),
    },
    { name: "Any@K", color: "#7f7f7f", dash: "6 4", points: ks.map((k) => [k, scores.anyAt[k] ?? 0]) },
    {
      name: "greedy",
      color: "#2ca02c",
      dash: "2 4",
      points: [
        [ks[0] ?? 1, scores.greedy],
        [ks[ks.length - 1] ?? 1, scores.greedy],
      ],
    },
  ];
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  const low = Math.max(0, Math.floor((Math.min(...values) - 0.02) * 20) / 20);
  const high = Math.min(1, Math.ceil((Math.max(...values) + 0.02) * 20) / 20);
  const kMax = Math.max(...ks, 2);
  const x = (k: number) => M.left + ((k - 1) / (kMax - 1)) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - ((v - low) / Math.max(high - low, 0.01)) * (H - M.top - M.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="26" font-size="15">${escapeXml(title)}</text>`,
  ];
  for (let v = low; v <= high + 1e-9; v += 0.05) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 8}" y="${y(v) + 4}" text-anchor="end">${(100 * v).toFixed(0)} %</text>`);
  }
  for (const k of ks) out.push(`<text x="${x(k)}" y="${H - M.bottom + 18}" text-anchor="middle">${k}</text>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 14}" text-anchor="middle">K (samples)</text>`);
  out.push(
    `<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="black"/>`,
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="black"/>`,
  );
  series.forEach((s, i) => {
    const d = s.points.map(([k, v], j) => `${j ? "L" : "M"}${x(k).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    out.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`,
    );
    if (!s.dash)
      for (const [k, v] of s.points) out.push(`<circle cx="${x(k)}" cy="${y(v)}" r="3" fill="${s.color}"/>`);
    const ly = M.top + 10 + i * 22;
    out.push(
      `<line x1="${W - M.right + 14}" x2="${W - M.right + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`,
      `<text x="${W - M.right + 46}" y="${ly + 4}">${escapeXml(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export async function plotPng(title: string, scores: Scores, ks: readonly number[]): Promise<Buffer> {
  return sharp(Buffer.from(plotSvg(title, scores, ks)))
    .png()
    .toBuffer();
}
