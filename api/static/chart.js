// A line chart of one field's readings as inline SVG (no library): time on x, value on y, with
// min/max kept per pixel column so a spike survives when many points share a column; the unit on
// the axis and the rules' thresholds as dashed lines.
import { fmtClock, fmtShort } from "./common.js";

const NS = "http://www.w3.org/2000/svg";
const W = 800;
const H = 260;
const PAD = { left: 56, right: 12, top: 22, bottom: 28 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  el.append(...children);
  return el;
}

/** At most two points (the lowest and highest) per pixel column, in time order. */
function thin(points, x) {
  const columns = new Map();
  for (const p of points) {
    const col = Math.round(x(p.t));
    const c = columns.get(col);
    if (!c) columns.set(col, { lo: p, hi: p });
    else {
      if (p.v < c.lo.v) c.lo = p;
      if (p.v > c.hi.v) c.hi = p;
    }
  }
  return [...columns.values()].flatMap((c) => (c.lo === c.hi ? [c.lo] : [c.lo, c.hi].sort((a, b) => a.t - b.t)));
}

const label = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A time label every so often, fitting the span: [step in ms, format]. */
function timeSteps(span) {
  const hour = 3600_000;
  if (span <= 2 * hour) return [10 * 60_000, fmtClock];
  if (span <= 26 * hour) return [4 * hour, fmtClock];
  if (span <= 8 * 24 * hour) return [24 * hour, fmtShort];
  return [5 * 24 * hour, fmtShort];
}

/** points: [{t: ms, v: number}] sorted by t; start, stop: ms; tz: the estate's time zone; unit:
 *  shown on the value axis; thresholds: [{value, label, severity}] drawn as dashed lines. */
export function lineChart(points, { start, stop, tz, title, unit = "", thresholds = [] }) {
  let lo = points.reduce((m, p) => Math.min(m, p.v), Infinity);
  let hi = points.reduce((m, p) => Math.max(m, p.v), -Infinity);
  // The thresholds stay in view: a level far from its limit still shows how far.
  for (const line of thresholds) [lo, hi] = [Math.min(lo, line.value), Math.max(hi, line.value)];
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1]; // a flat line sits in the middle
  const pad = (hi - lo) * 0.05;
  [lo, hi] = [lo - pad, hi + pad];
  const x = (time) => PAD.left + ((time - start) / (stop - start)) * (W - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    svg.append(
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, label(v)),
    );
  }
  const [step, format] = timeSteps(stop - start);
  for (let time = Math.ceil(start / step) * step; time <= stop; time += step) {
    svg.append(
      s("line", { x1: x(time), x2: x(time), y1: PAD.top, y2: H - PAD.bottom, class: "grid" }),
      s("text", { x: x(time), y: H - 8, "text-anchor": "middle", class: "axis" }, format(new Date(time).toISOString(), tz)),
    );
  }
  if (unit) svg.append(s("text", { x: PAD.left - 6, y: 12, "text-anchor": "end", class: "axis unit", "data-testid": "chart-unit" }, unit));
  for (const line of thresholds) {
    svg.append(
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(line.value), y2: y(line.value),
        class: `threshold sev-${line.severity}`, "data-testid": "threshold", "data-value": line.value }),
      s("text", { x: W - PAD.right - 4, y: y(line.value) - 4, "text-anchor": "end", class: "axis threshold-label" }, line.label),
    );
  }
  const line = thin(points, x).map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  svg.append(s("polyline", { points: line, class: "series" }));
  if (points.length === 1) svg.append(s("circle", { cx: x(points[0].t), cy: y(points[0].v), r: 3, class: "dot" }));
  return svg;
}
