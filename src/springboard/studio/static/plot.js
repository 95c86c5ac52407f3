// A small SVG line plot (no library): series {name: [{step, value}]}, redrawn as points arrive.
const COLORS = ["#0b5fff", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a"];
const NS = "http://www.w3.org/2000/svg";

function el(name, attrs) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

export function drawPlot(svg, series, { width = 640, height = 260, title = "" } = {}) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  const pad = { l: 48, r: 12, t: 12, b: 28 };
  const all = Object.values(series).flat().filter((p) => Number.isFinite(p.value));
  let count = 0;
  if (!all.length) {
    const t = el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#5b6675" });
    t.textContent = "waiting for the first points…"; svg.append(t);
    svg.dataset.points = "0"; return;
  }
  const xs = all.map((p) => p.step ?? 0), ys = all.map((p) => p.value);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys); if (y1 - y0 < 1e-9) { y0 -= 1; y1 += 1; }
  const X = (x) => pad.l + (x - x0) / (x1 - x0) * (width - pad.l - pad.r);
  const Y = (y) => height - pad.b - (y - y0) / (y1 - y0) * (height - pad.t - pad.b);
  svg.append(el("line", { x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b, stroke: "#999" }));
  svg.append(el("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b, stroke: "#999" }));
  for (const [v, y] of [[y1, pad.t + 4], [y0, height - pad.b]]) {
    const t = el("text", { x: pad.l - 4, y, "text-anchor": "end", "font-size": 10, fill: "#5b6675" });
    t.textContent = v.toPrecision(3); svg.append(t);
  }
  for (const [v, x] of [[x0, pad.l], [x1, width - pad.r]]) {
    const t = el("text", { x, y: height - pad.b + 14, "text-anchor": "middle", "font-size": 10, fill: "#5b6675" });
    t.textContent = `step ${v}`; svg.append(t);
  }
  Object.entries(series).forEach(([name, points], i) => {
    const pts = points.filter((p) => Number.isFinite(p.value));
    const color = COLORS[i % COLORS.length];
    if (pts.length > 1) {
      svg.append(el("polyline", { fill: "none", stroke: color, "stroke-width": 2,
        points: pts.map((p) => `${X(p.step ?? 0)},${Y(p.value)}`).join(" ") }));
    }
    for (const p of pts) {
      const c = el("circle", { cx: X(p.step ?? 0), cy: Y(p.value), r: 2.5, fill: color, "data-series": name });
      const tip = el("title", {}); tip.textContent = `${name} step ${p.step}: ${p.value}`; c.append(tip);
      svg.append(c); count++;
    }
  });
  svg.dataset.points = String(count);
  if (title) svg.setAttribute("aria-label", `${title}: ${count} points`);
}

export const plotColor = (i) => COLORS[i % COLORS.length];
