"""Writing a comparison as Markdown and as one self-contained HTML file (inline CSS, no
scripts, no external assets)."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

from springboard.evaluate.compare import CompareReport
from springboard.evaluate.rouge import ROUGE_TYPES

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{border:1px solid #d0d7de;padding:.4rem .6rem;vertical-align:top;text-align:left}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.best{font-weight:bold;background:#dafbe1}
pre{white-space:pre-wrap;margin:0;font-family:inherit}
.meta{color:#57606a;font-size:.9rem}
"""


def _md_cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", "<br>")


def to_markdown(report: CompareReport) -> str:
    lines = [
        "# Model comparison",
        "",
        f"- data: `{report.data}` ({len(report.records)} records)",
        f"- models: " + ", ".join(f"`{m}`" for m in report.models),
        f"- prompt template: `{report.prompt_template}`" if report.prompt_template else "- prompt: the records' text",
        f"- generation parameters: `{report.params}`",
        "",
        "## ROUGE (mean F-measure)",
        "",
        "| metric | " + " | ".join(report.models) + " |",
        "|---|" + "---:|" * len(report.models),
    ]
    if report.reference_field:
        for k in ROUGE_TYPES:
            vals = [f"{getattr(s, k):.4f}" if s else "-" for s in report.rouge]
            lines.append(f"| {k} | " + " | ".join(vals) + " |")
    else:
        lines.append("| (no references) | " + " | ".join("-" for _ in report.models) + " |")
    lines += ["", f"## Side by side ({len(report.examples)} examples)", ""]
    header = ["id", "prompt"] + (["reference"] if report.reference_field else []) + report.models
    lines += ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for r in report.examples:
        cells = [str(r.id), r.prompt] + ([r.reference or ""] if report.reference_field else []) + r.outputs
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def to_html(report: CompareReport) -> str:
    e = html.escape
    rows = []
    if report.reference_field:
        for k in ROUGE_TYPES:
            vals = [getattr(s, k) if s else None for s in report.rouge]
            best = max((v for v in vals if v is not None), default=None)
            cells = "".join(
                f'<td class="num{" best" if v is not None and v == best and len(vals) > 1 else ""}">'
                f'{"-" if v is None else f"{v:.4f}"}</td>'
                for v in vals
            )
            rows.append(f"<tr><th>{k}</th>{cells}</tr>")
    else:
        rows.append("<tr><th>(no references)</th>" + "<td>-</td>" * len(report.models) + "</tr>")
    head = "".join(f"<th>{e(m)}</th>" for m in report.models)
    examples = []
    for r in report.examples:
        cells = [str(r.id), r.prompt] + ([r.reference or ""] if report.reference_field else []) + r.outputs
        examples.append("<tr>" + "".join(f"<td><pre>{e(c)}</pre></td>" for c in cells) + "</tr>")
    ex_head = "".join(
        f"<th>{e(h)}</th>"
        for h in ["id", "prompt"] + (["reference"] if report.reference_field else []) + report.models
    )
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    template = f"<code>{e(report.prompt_template)}</code>" if report.prompt_template else "the records' text"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Model comparison</title>
<style>{CSS}</style></head><body>
<h1>Model comparison</h1>
<p class="meta">data <code>{e(report.data)}</code> ({len(report.records)} records) &middot;
prompt {template} &middot; parameters <code>{e(str(report.params))}</code> &middot; {stamp}</p>
<h2>ROUGE (mean F-measure)</h2>
<table><tr><th>metric</th>{head}</tr>{"".join(rows)}</table>
<h2>Side by side ({len(report.examples)} examples)</h2>
<table><tr>{ex_head}</tr>{"".join(examples)}</table>
</body></html>
"""


def write_report(report: CompareReport, output_dir: str | Path) -> tuple[Path, Path]:
    """Writes `report.md`, `report.html` and `report.json` (all records); returns the first two."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "report.md", out / "report.html"
    md.write_text(to_markdown(report), encoding="utf-8")
    page.write_text(to_html(report), encoding="utf-8")
    (out / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return md, page
