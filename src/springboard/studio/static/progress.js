// What the Jobs and Transform pages show of a running job: rounded metrics, progress with an
// ETA (from the job's own metric points) and a log whose progress-bar redraws are collapsed.
import { h } from "./ui.js";

// 4 significant digits; integers (step counts, records) stay whole.
export function sig4(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  return String(Number(value.toPrecision(4)));
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

// {done, total, unit, rate} from a job's config and metric series, or null when it reports none.
// Training: the highest step any metric reached of config.total_steps; transform: the latest
// records_processed of records_total. The rate is measured between the first and last points.
export function progressOf(job, series) {
  let points = [], total = 0, unit = "";
  if (job.kind === "training") {
    total = Number(job.describe?.Config?.total_steps || 0); unit = "steps";
    points = Object.values(series).flat().filter((p) => p.step !== null && p.step !== undefined)
      .map((p) => ({ done: p.step, t: p.timestamp })).sort((a, b) => a.t - b.t);
  } else if (series.records_processed) {
    const totals = series.records_total || [];
    total = totals.length ? totals[totals.length - 1].value : 0; unit = "records";
    points = series.records_processed.map((p) => ({ done: p.value, t: p.timestamp }));
  }
  if (!total || !points.length) return null;
  const done = Math.min(total, Math.max(...points.map((p) => p.done)));
  const first = points[0], last = points[points.length - 1];
  const rate = last.t > first.t && last.done > first.done ? (last.done - first.done) / (last.t - first.t) : 0;
  return { done, total, unit, rate, at: last.t };
}

// A <div> with a <progress> bar, "12 / 40 steps (30%)" and the ETA while the job runs.
export function progressView(job, p) {
  if (!p) return h("p", { class: "muted", dataset: { done: "", total: "" } }, "No progress reported yet.");
  const running = ["InProgress", "Stopping"].includes(job.status);
  const pct = Math.floor((100 * p.done) / p.total);
  let eta = "";
  if (running && p.done < p.total) {
    if (p.rate > 0) {
      const left = (p.total - p.done) / p.rate - Math.max(0, Date.now() / 1000 - p.at);
      eta = ` · about ${duration(Math.max(1, left))} left (${sig4(p.rate)} ${p.unit}/s)`;
    } else eta = " · ETA after the next progress point";
  }
  const bar = h("progress", { max: String(p.total), value: String(p.done), "aria-label": `Progress: ${p.done} of ${p.total} ${p.unit}` });
  return h("div", { class: "progress", dataset: { done: String(p.done), total: String(p.total) } },
    bar, ` ${p.done} / ${p.total} ${p.unit} (${pct}%)${eta}`);
}

// Log text as a terminal would show it: a carriage return redraws its line (only the last
// drawing stays), and consecutive progress-bar lines of one bar (tqdm's "desc: 40%|####| 4/10")
// keep only the newest. Returns {text, collapsed} (how many redraws were dropped).
const BAR = /^(.*?)\s*\d{1,3}%\|/;
export function collapseLog(raw) {
  const out = [];
  let collapsed = 0, lastBar = null;
  const lines = raw.split("\n");
  lines.forEach((line, i) => {
    const draws = line.split("\r").filter((s) => s.trim() !== "");
    collapsed += Math.max(0, draws.length - 1);
    const shown = draws.length ? draws[draws.length - 1] : "";
    if (!shown && i === lines.length - 1) return;  // the text after the last newline
    const bar = BAR.exec(shown);
    if (bar && lastBar === bar[1] && out.length) { out[out.length - 1] = shown; collapsed++; return; }
    lastBar = bar ? bar[1] : null;
    out.push(shown);
  });
  return { text: out.join("\n") + (out.length ? "\n" : ""), collapsed };
}
