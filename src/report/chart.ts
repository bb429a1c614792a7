/**
 * The timeline chart as inline SVG, drawn here rather than in the browser: the report must open
 * without network or scripts, and print the same. One row per pass (segments of a resumed pass
 * side by side), a row per phase not run yet, the downtime window and the forecast over them.
 */
import { formatDuration } from "../engine/format.js";
import { esc } from "./escape.js";
import type { PassSegment, ReportModel } from "./model.js";
import { buildTimeAxis, type Interval } from "./timeAxis.js";

/** Colours per phase; also used by the legend and the tables. */
export const PHASE_COLOURS: Record<string, string> = {
  "hot-sync": "#2b6cb0",
  "cold-sync": "#6b46c1",
  verify: "#2f855a",
  swap: "#b7791f",
  post: "#4a5568",
};
const OTHER_COLOUR = "#718096";
export const DOWNTIME_COLOUR = "#e53e3e";

const WIDTH = 960;
const LABEL_W = 132;
const RIGHT = 16;
const TOP = 40;
const ROW_H = 30;
const BAR_H = 16;
const AXIS_H = 44;

export function phaseColour(phase: string): string {
  return PHASE_COLOURS[phase] ?? OTHER_COLOUR;
}

export function renderTimeline(m: ReportModel): string {
  const passes = m.passes;
  const notRun = m.phases.filter((p) => p.status === "not run yet").map((p) => p.phase);
  const rows = passes.length + notRun.length;
  const height = TOP + rows * ROW_H + AXIS_H;
  const x0 = LABEL_W + 8;
  const x1 = WIDTH - RIGHT;

  const intervals: Interval[] = passes.flatMap((p) =>
    p.segments.map((s) => ({ start: s.start, end: s.end })),
  );
  if (m.downtime) intervals.push({ start: m.downtime.start, end: m.downtime.end });
  if (m.outage?.end !== undefined) intervals.push({ start: m.outage.start, end: m.outage.end });
  if (m.downtime && m.forecast)
    intervals.push({ start: m.downtime.start, end: m.downtime.start + m.forecast.downtimeMs });
  const axis = buildTimeAxis(intervals, { x0, x1 });
  const plotBottom = TOP + rows * ROW_H;

  const parts: string[] = [];
  parts.push(
    `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-labelledby="timeline-title">`,
    `<title id="timeline-title">Timeline of the migration's phases${m.downtime ? ", with the downtime window" : ""}</title>`,
    `<defs><pattern id="hatch-failed" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fed7d7"/><line x1="0" y1="0" x2="0" y2="6" stroke="${DOWNTIME_COLOUR}" stroke-width="2.5"/></pattern>`,
    `<pattern id="hatch-gap" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="5" stroke="#cbd5e0" stroke-width="1.5"/></pattern></defs>`,
  );

  // Row backgrounds and labels.
  for (let i = 0; i < rows; i++) {
    const y = TOP + i * ROW_H;
    if (i % 2 === 0) parts.push(`<rect x="0" y="${y}" width="${WIDTH}" height="${ROW_H}" fill="#f7fafc"/>`);
  }
  passes.forEach((p, i) => {
    const y = TOP + i * ROW_H + ROW_H / 2 + 4;
    parts.push(
      `<circle cx="10" cy="${y - 4}" r="4" fill="${phaseColour(p.phase)}"/>`,
      `<text x="20" y="${y}" class="row-label">${esc(p.label)}</text>`,
    );
  });
  notRun.forEach((phase, j) => {
    const y = TOP + (passes.length + j) * ROW_H + ROW_H / 2 + 4;
    parts.push(
      `<circle cx="10" cy="${y - 4}" r="4" fill="none" stroke="${phaseColour(phase)}"/>`,
      `<text x="20" y="${y}" class="row-label muted">${esc(phase)}</text>`,
      `<text x="${x0 + 4}" y="${y}" class="not-run">not run yet</text>`,
    );
  });

  parts.push(`<line x1="${x0}" y1="${plotBottom}" x2="${x1}" y2="${plotBottom}" stroke="#a0aec0"/>`);

  // Collapsed gaps, breaking the axis.
  for (const piece of axis.pieces.filter((p) => p.kind === "break")) {
    const idle = `idle ${formatDuration(Math.round(piece.idleMs ?? piece.t1 - piece.t0))}`;
    const mid = (piece.x0 + piece.x1) / 2;
    parts.push(
      `<g class="gap"><title>${esc(idle)}</title>`,
      `<rect x="${f(piece.x0 + 3)}" y="${TOP}" width="${f(piece.x1 - piece.x0 - 6)}" height="${rows * ROW_H}" fill="url(#hatch-gap)"/>`,
      `<rect x="${f(piece.x0 + 3)}" y="${plotBottom - 1}" width="${f(piece.x1 - piece.x0 - 6)}" height="3" fill="#ffffff"/>`,
      rows * ROW_H >= 90
        ? `<text transform="translate(${f(mid + 3)} ${TOP + (rows * ROW_H) / 2}) rotate(-90)" text-anchor="middle" class="gap-label">${esc(idle)}</text>`
        : "",
      `<text x="${f(mid)}" y="${plotBottom + 4}" text-anchor="middle" class="gap-mark">//</text></g>`,
    );
  }

  // Axis.
  for (const t of axis.ticks) {
    parts.push(
      `<line x1="${f(t.x)}" y1="${TOP}" x2="${f(t.x)}" y2="${plotBottom}" stroke="#e2e8f0" stroke-dasharray="2 3"/>`,
      `<line x1="${f(t.x)}" y1="${plotBottom}" x2="${f(t.x)}" y2="${plotBottom + 4}" stroke="#a0aec0"/>`,
      `<text x="${f(t.x)}" y="${plotBottom + 16}" text-anchor="middle" class="tick">${esc(t.label)}</text>`,
    );
    if (t.date)
      parts.push(
        `<text x="${f(t.x)}" y="${plotBottom + 30}" text-anchor="middle" class="tick-date">${esc(t.date)}</text>`,
      );
  }

  // The outage (origin's stop until BlueMind answered on the target), under everything.
  if (m.outage?.end !== undefined && m.outage.ms !== undefined) {
    const ox0 = axis.x(m.outage.start);
    const ox1 = Math.max(axis.x(m.outage.end), ox0 + 2);
    parts.push(
      `<g class="outage" data-ms="${m.outage.ms}"><title>${esc(`outage ${formatDuration(m.outage.ms)}: ${m.outage.parts.map((p) => `${p.name} ${formatDuration(p.ms)}`).join(", ")}`)}</title>`,
      `<rect class="outage-window" x="${f(ox0)}" y="${TOP - 8}" width="${f(ox1 - ox0)}" height="${rows * ROW_H + 8}" fill="${DOWNTIME_COLOUR}" fill-opacity="0.06" stroke="${DOWNTIME_COLOUR}" stroke-width="1" stroke-dasharray="4 2"/>`,
      `<text x="${f(ox1)}" y="${TOP - 40}" text-anchor="end" class="downtime-label">outage ${esc(formatDuration(m.outage.ms))}</text></g>`,
    );
  }
  // The cold phase's window, under the bars so they stay readable, and the forecast against it.
  if (m.downtime) {
    const dx0 = axis.x(m.downtime.start);
    const dx1 = Math.max(axis.x(m.downtime.end), dx0 + 2);
    parts.push(
      `<g class="downtime" data-ms="${m.downtime.ms}"><title>${esc(`cold phase ${formatDuration(m.downtime.ms)}`)}</title>`,
      `<rect class="downtime-window" x="${f(dx0)}" y="${TOP - 8}" width="${f(dx1 - dx0)}" height="${rows * ROW_H + 8}" fill="${DOWNTIME_COLOUR}" fill-opacity="0.12" stroke="${DOWNTIME_COLOUR}" stroke-width="1"/>`,
      `<text x="${f(dx1)}" y="${TOP - 14}" text-anchor="end" class="downtime-label">cold phase ${esc(formatDuration(m.downtime.ms))}</text></g>`,
    );
    if (m.forecast) {
      const fx = axis.x(m.downtime.start + m.forecast.downtimeMs);
      parts.push(
        `<g class="forecast"><title>${esc(`forecast ${formatDuration(m.forecast.downtimeMs)}`)}</title>`,
        `<line x1="${f(fx)}" y1="${TOP - 8}" x2="${f(fx)}" y2="${plotBottom}" stroke="#1a202c" stroke-width="1.5" stroke-dasharray="5 3"/>`,
        // The label goes on the side of the line that has room.
        fx + 110 <= x1
          ? `<text x="${f(fx + 4)}" y="${TOP - 28}" class="forecast-label">forecast ${esc(formatDuration(m.forecast.downtimeMs))}</text></g>`
          : `<text x="${f(fx - 4)}" y="${TOP - 28}" text-anchor="end" class="forecast-label">forecast ${esc(formatDuration(m.forecast.downtimeMs))}</text></g>`,
      );
    }
  }

  // Bars.
  passes.forEach((p, i) => {
    const y = TOP + i * ROW_H + (ROW_H - BAR_H) / 2;
    let lastX = x0;
    for (const s of p.segments) {
      const bx0 = axis.x(s.start);
      const bx1 = Math.max(axis.x(s.end), bx0 + 3);
      lastX = bx1;
      parts.push(
        `<rect class="bar" data-phase="${esc(p.phase)}" data-pass="${esc(p.pass)}" data-outcome="${s.outcome}" x="${f(bx0)}" y="${y}" width="${f(bx1 - bx0)}" height="${BAR_H}" rx="3" ${barStyle(p.phase, s)}><title>${esc(`${p.label}: ${s.outcome}, ${formatDuration(s.end - s.start)}`)}</title></rect>`,
      );
    }
    // The working time goes after the bar, else inside its last segment, else before it.
    const text = `${formatDuration(p.workMs)}${p.status === "finished" ? "" : ` · ${p.status}`}`;
    const textW = text.length * 6.2;
    const lastSeg = p.segments[p.segments.length - 1]!;
    const lastW = lastX - axis.x(lastSeg.start);
    const ty = y + BAR_H - 4;
    parts.push(
      lastX + 8 + textW <= x1
        ? `<text x="${f(lastX + 6)}" y="${ty}" class="bar-label">${esc(text)}</text>`
        : lastW >= textW + 12 && lastSeg.outcome === "finished"
          ? `<text x="${f(lastX - 6)}" y="${ty}" text-anchor="end" class="bar-label inside">${esc(text)}</text>`
          : `<text x="${f(axis.x(p.start) - 6)}" y="${ty}" text-anchor="end" class="bar-label">${esc(text)}</text>`,
    );
  });

  if (passes.length === 0)
    parts.push(
      `<text x="${(x0 + x1) / 2}" y="${TOP - 14}" text-anchor="middle" class="not-run">no phase has run yet</text>`,
    );
  parts.push("</svg>");
  return parts.join("\n");
}

function barStyle(phase: string, s: PassSegment): string {
  const colour = phaseColour(phase);
  if (s.outcome === "failed" || s.outcome === "abandoned")
    return `fill="url(#hatch-failed)" stroke="${DOWNTIME_COLOUR}" stroke-width="1"`;
  if (s.outcome === "running")
    return `fill="${colour}" fill-opacity="0.35" stroke="${colour}" stroke-dasharray="3 2"`;
  return `fill="${colour}"`;
}

/** Coordinates with one decimal: enough for a crisp chart, short enough for a small file. */
function f(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}
