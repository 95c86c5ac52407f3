"""The model insights report: one self-contained HTML file (inline CSS, plots as base64 PNGs,
no scripts) with the data summary, every candidate's loss curves and metrics, and sample
generations of the best candidate next to its base model's."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from springboard import jobs
from springboard.automl.plan import Plan
from springboard.automl.state import METRIC_SETS, AutoMLState, Candidate

log = logging.getLogger("springboard.automl")

REPORT_NAME = "model-insights-report.html"
SAMPLES = 5

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2328;max-width:80rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}h3{font-size:1rem}
table{border-collapse:collapse;margin:1rem 0}
th,td{border:1px solid #d0d7de;padding:.35rem .6rem;vertical-align:top;text-align:left}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#dafbe1}pre{white-space:pre-wrap;margin:0;font-family:inherit}
.meta{color:#57606a;font-size:.9rem}.curves{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0}figcaption{font-size:.9rem;color:#57606a}
"""


def loss_curves_png(name: str, store: jobs.JobStore) -> str | None:
    """A base64 PNG of a training job's train_loss and val_loss by step, or None without points."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    series = {m: store.metrics(name, m) for m in ("train_loss", "val_loss")}
    if not any(series.values()):
        return None
    fig = Figure(figsize=(5.2, 3.2), dpi=100)
    ax = fig.add_subplot()
    for metric, style in (("train_loss", "-"), ("val_loss", "o--")):
        points = [(p.step or 0, p.value) for p in series[metric]]
        if points:
            ax.plot([s for s, _ in points], [v for _, v in points], style, label=metric, markersize=4)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(name, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def sample_generations(best: Candidate, base_dir: str, validation_file: str) -> list[dict[str, str]]:
    """The first validation records with the base model's and the best candidate's outputs."""
    from springboard.automl.channels import load_validation
    from springboard.evaluate.generation import generate_outputs

    def generate(model: str, prompts: list[str], references: list[str]) -> list[str]:
        return generate_outputs(model, prompts, references=references)[0]

    if best.predictions_file and Path(best.predictions_file).exists():
        from springboard.data.io import text_lines

        lines = text_lines(Path(best.predictions_file).read_text(encoding="utf-8"))
        rows = [json.loads(line) for line in lines[:SAMPLES]]
        tuned = [r["generated_text"] for r in rows]
        records = [{"prompt": r["prompt"], "completion": r["reference"]} for r in rows]
    else:
        records = load_validation(validation_file, SAMPLES)
        tuned = generate(best.artifact or "", [r["prompt"] for r in records], [r["completion"] for r in records])
    base = generate(base_dir, [r["prompt"] for r in records], [r["completion"] for r in records])
    return [
        {"prompt": r["prompt"], "reference": r["completion"], "base": b, "tuned": t}
        for r, b, t in zip(records, base, tuned)
    ]


def write_report(job_name: str, plan: Plan, state: AutoMLState, out_dir: Path) -> Path:
    from springboard import hub

    e = html.escape
    store = jobs.JobStore()
    best = state.candidate(state.best) if state.best else None
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Model insights: {e(job_name)}</title><style>{CSS}</style></head><body>",
        f"<h1>Model insights: {e(job_name)}</h1>",
        f"<p class='meta'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC. Objective: "
        f"{e(plan.objective)} ({plan.direction.lower()}). Candidates: {len(state.candidates)} of at most "
        f"{plan.max_candidates}; search ended by {e(state.search_ended_by or '-')}.</p>",
    ]
    if best is not None:
        parts.append(
            f"<p>Best candidate: <b>{e(best.name)}</b> ({e(best.base_model_name)}), {e(plan.objective)} = "
            f"{best.metrics.get(plan.objective, float('nan')):.4f}</p>"
        )

    data = state.data
    if data is not None:
        parts.append("<h2>Data</h2><table><tr><th>channel</th><th>location</th><th>format</th>"
                     "<th>compression</th><th>files</th><th>records</th><th>columns</th></tr>")
        for c in data.channels:
            parts.append(
                f"<tr><td>{e(c.channel_type)}</td><td>{e(c.uri)}</td><td>{e(c.content_type)}</td>"
                f"<td>{e(c.compression)}</td><td class='num'>{len(c.files)}</td><td class='num'>{c.records}</td>"
                f"<td>{e(', '.join(c.columns))}</td></tr>"
            )
        parts.append("</table>")
        parts.append(
            f"<p>Training records: {data.train_records}; validation records: {data.validation_records} "
            f"({e(data.validation_source)}). Characters per input: min {data.input_chars.min}, mean "
            f"{data.input_chars.mean}, max {data.input_chars.max}; per output: min {data.output_chars.min}, "
            f"mean {data.output_chars.mean}, max {data.output_chars.max}.</p>"
        )

    metric_names = [m for m in METRIC_SETS if any(m in c.metrics for c in state.candidates)]
    hp_names = sorted({k for c in state.candidates for k in c.hyperparameters})
    parts.append("<h2>Candidates</h2><table><tr><th>candidate</th><th>status</th><th>base model</th>")
    parts += [f"<th>{e(h)}</th>" for h in hp_names] + [f"<th>{e(m)}</th>" for m in metric_names] + ["<th>note</th></tr>"]
    for c in state.candidates:
        cls = " class='best'" if best is not None and c.name == best.name else ""
        cells = [f"<td>{e(c.name)}</td><td>{e(c.status)}</td><td>{e(c.base_model_name)}</td>"]
        cells += [f"<td class='num'>{e(c.hyperparameters.get(h, '-'))}</td>" for h in hp_names]
        cells += [f"<td class='num'>{c.metrics[m]:.4f}</td>" if m in c.metrics else "<td>-</td>" for m in metric_names]
        cells.append(f"<td>{e(c.failure_reason or '')}</td>")
        parts.append(f"<tr{cls}>{''.join(cells)}</tr>")
    parts.append("</table><p class='meta'>TrainingLoss is the training set's token cross-entropy over the last "
                 "logging window; ValidationLoss and Perplexity are the validation set's; ROUGE scores are mean "
                 f"F-measures over at most {plan.max_evaluation_records} validation records (greedy decoding).</p>")

    parts.append("<h2>Loss curves</h2><div class='curves'>")
    for c in state.candidates:
        png = loss_curves_png(c.name, store)
        if png:
            parts.append(f"<figure><img alt='loss curves of {e(c.name)}' src='data:image/png;base64,{png}'>"
                         f"<figcaption>{e(c.name)} ({e(c.status)})</figcaption></figure>")
    parts.append("</div>")

    if best is not None and best.artifact and data is not None:
        base_dir = str(hub.resolve_model(best.base_model))
        samples = sample_generations(best, base_dir, data.validation_file)
        parts.append(f"<h2>Sample generations: {e(best.name)} vs its base model {e(best.base_model_name)}</h2>"
                     "<table><tr><th>prompt</th><th>reference</th><th>base model</th><th>best candidate</th></tr>")
        for s in samples:
            parts.append("<tr>" + "".join(f"<td><pre>{e(s[k])}</pre></td>" for k in ("prompt", "reference", "base", "tuned")) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_NAME
    path.write_text("\n".join(parts), encoding="utf-8")
    log.info("insights report: %s", path)
    return path
