"""One self-contained HTML page for one or more runs: charts, a heat map, every sample's verdict, a comparison.

Self-contained means opened from a file on a machine without network: no script, no CDN, no font or image
fetched; charts are inline SVG drawn here. A Content-Security-Policy of ``default-src 'none'`` (inline styles only)
makes the browser refuse any script or fetch, as a second line behind the escaping: completions and their outputs
are untrusted, and every string taken from results goes through :func:`esc`. No pytest import.
"""

from __future__ import annotations

import html
from typing import Any, Dict, List, Mapping, Sequence, Union

from ..compare import Comparison, per_problem_table, side_by_side, task_key
from ..metrics import DEFAULT_K

MODEL_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
ERROR_COLOURS = {
    "passed": "#2e9d48", "test_failure": "#d62728", "compile_error": "#ff7f0e", "compile_timeout": "#b35806",
    "runtime_error": "#9467bd", "timeout": "#8c564b", "memory_limit": "#e377c2", "output_limit": "#7f7f7f",
    "tampering": "#17becf", "infra_error": "#bcbd22",
}
OTHER_COLOURS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
.note{color:#8a5300;background:#fff6e0;border:1px solid #f0d9a8;padding:4px 8px;display:inline-block}
.heat td.cell{min-width:64px;text-align:center;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:6px;max-height:320px;overflow:auto;white-space:pre-wrap;
word-break:break-all;margin:4px 0}
.ok{color:#1d7a35;font-weight:600}.bad{color:#b3261e;font-weight:600}.infra{color:#8a7a00;font-weight:600}
.samples td,.samples th{text-align:left;vertical-align:top}pre{text-align:left}details{margin:4px 0}summary{cursor:pointer}svg text{font-family:system-ui,sans-serif}
"""


def esc(value: Any) -> str:
    """Text for HTML content and quoted attributes (also inside inline SVG)."""
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("n/a" if v is None else str(v))


def _colour(error_type: str, others: List[str]) -> str:
    if error_type in ERROR_COLOURS:
        return ERROR_COLOURS[error_type]
    if error_type not in others:
        others.append(error_type)
    return OTHER_COLOURS[others.index(error_type) % len(OTHER_COLOURS)]


def _heat(rate: float) -> str:
    """Red (0) through yellow to green (1), light enough for dark text."""
    return f"hsl({rate * 120:.0f},70%,{78 - 8 * (1 - abs(rate - 0.5) * 2):.0f}%)"


# ---------------------------------------------------------------- charts


def passk_chart(table: Dict[str, Any]) -> str:
    """Grouped bars: one group per k, one bar per model; 'n/a' metrics drawn as dashed outlines."""
    ks, entries = table["ks"], table["models"]
    w, h, left, top, bottom = 760, 300, 48, 16, 64
    ph = h - top - bottom
    group = (w - left - 16) / max(len(ks), 1)
    bar = min(48.0, (group - 24) / max(len(entries), 1))
    out = []
    for i in range(5):
        y = top + ph * (1 - i / 4)
        out.append(f'<line x1="{left}" x2="{w - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{i / 4:.2f}</text>')
    for gi, k in enumerate(ks):
        x0 = left + gi * group + (group - bar * len(entries)) / 2
        for mi, e in enumerate(entries):
            v = e[f"pass@{k}"]
            x = x0 + mi * bar
            colour = MODEL_COLOURS[mi % len(MODEL_COLOURS)]
            tip = f"{e['model']}: pass@{k} = {_fmt(v)}"
            if isinstance(v, (int, float)):
                bh = ph * v
                out.append(f'<rect class="bar" x="{x + 2:.1f}" y="{top + ph - bh:.1f}" width="{bar - 4:.1f}" '
                           f'height="{max(bh, 0.5):.1f}" fill="{colour}"><title>{esc(tip)}</title></rect>'
                           f'<text x="{x + bar / 2:.1f}" y="{top + ph - bh - 4:.1f}" font-size="10" '
                           f'text-anchor="middle">{v:.3f}</text>')
            else:
                out.append(f'<rect class="bar na" x="{x + 2:.1f}" y="{top + ph - 40:.1f}" width="{bar - 4:.1f}" '
                           f'height="40" fill="none" stroke="{colour}" stroke-dasharray="4 3">'
                           f'<title>{esc(tip)}</title></rect><text x="{x + bar / 2:.1f}" y="{top + ph - 44:.1f}" '
                           f'font-size="10" text-anchor="middle">n/a</text>')
        out.append(f'<text x="{left + gi * group + group / 2:.1f}" y="{top + ph + 18}" font-size="13" '
                   f'text-anchor="middle" font-weight="600">pass@{k}</text>')
    legend, last = _legend([(e["model"], MODEL_COLOURS[i % len(MODEL_COLOURS)]) for i, e in enumerate(entries)],
                           left, h - 22, w - left)
    h = last + 8
    return (f'<svg id="passk-chart" class="chart" role="img" aria-label="pass@k per model" width="{w}" '
            f'height="{h:.0f}" viewBox="0 0 {w} {h:.0f}">' + "".join(out) + legend + "</svg>")


def _legend(items: Sequence[tuple], x: float, y: float, width: float) -> tuple:
    """(svg, y of the last line): colour swatches with labels, wrapped to ``width``."""
    out, cx, cy = [], x, y
    for label, colour in items:
        text = label if len(label) <= 48 else label[:45] + "..."
        span = 22 + 7 * len(text)
        if cx + span > x + width and cx > x:
            cx, cy = x, cy + 16
        out.append(f'<rect x="{cx:.1f}" y="{cy - 10:.1f}" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{cx + 16:.1f}" y="{cy:.1f}" font-size="12">{esc(text)}</text>')
        cx += span
    return "".join(out), cy


def errors_chart(table: Dict[str, Any]) -> str:
    """One 100% stacked bar per model: the share of each outcome (passed and every error type)."""
    entries, types = table["models"], table["error_types"]
    others: List[str] = []
    label_w, bar_w, row_h = 220, 500, 30
    w = label_w + bar_w + 60
    out = []
    for mi, e in enumerate(entries):
        y = 12 + mi * row_h
        name = e["model"] if len(e["model"]) <= 34 else "..." + e["model"][-31:]
        out.append(f'<text x="{label_w - 8}" y="{y + 15}" font-size="12" text-anchor="end">{esc(name)}</text>')
        total = sum(e["error_counts"].values()) or 1
        x = float(label_w)
        for t in types:
            count = e["error_counts"].get(t, 0)
            if not count:
                continue
            seg = bar_w * count / total
            out.append(f'<rect class="seg" x="{x:.1f}" y="{y}" width="{seg:.1f}" height="{row_h - 8}" '
                       f'fill="{_colour(t, others)}"><title>{esc(e["model"])}: {esc(t)} {count} '
                       f'({count / total:.1%})</title></rect>')
            x += seg
        out.append(f'<text x="{label_w + bar_w + 6}" y="{y + 15}" font-size="11">{sum(e["error_counts"].values())}'
                   f'</text>')
    legend, last = _legend([(t, _colour(t, others)) for t in types], 8, 12 + row_h * len(entries) + 18, w - 16)
    h = last + 8
    return (f'<svg id="errors-chart" class="chart" role="img" aria-label="outcomes per model" width="{w}" '
            f'height="{h:.0f}" viewBox="0 0 {w} {h:.0f}">' + "".join(out) + legend + "</svg>")


def ci_chart(c: Comparison, suffix: str = "") -> str:
    """The change in pass@1 as a point with its interval, against a zero line."""
    interval = c.ci()
    if interval is None:
        return ""
    lo, hi = interval
    span_lo, span_hi = min(lo, 0.0, c.delta), max(hi, 0.0, c.delta)
    pad = max((span_hi - span_lo) * 0.15, 0.01)
    a, b = span_lo - pad, span_hi + pad
    w, h, left, right = 640, 70, 20, 20
    sx = lambda v: left + (v - a) / (b - a) * (w - left - right)
    colour = "#b3261e" if hi < 0 else ("#1d7a35" if lo > 0 else "#555")
    return (f'<svg id="ci-chart{suffix}" class="chart" role="img" aria-label="change in pass@1" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}"><line x1="{left}" x2="{w - right}" y1="30" y2="30" stroke="#ccc"/>'
            f'<line x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="8" y2="52" stroke="#888" stroke-dasharray="3 3"/>'
            f'<text x="{sx(0):.1f}" y="66" font-size="11" text-anchor="middle">0</text>'
            f'<line class="ci" x1="{sx(lo):.1f}" x2="{sx(hi):.1f}" y1="30" y2="30" stroke="{colour}" '
            f'stroke-width="4"/><circle cx="{sx(c.delta):.1f}" cy="30" r="6" fill="{colour}"/>'
            f'<text x="{sx(lo):.1f}" y="20" font-size="11" text-anchor="middle">{lo:+.3f}</text>'
            f'<text x="{sx(hi):.1f}" y="20" font-size="11" text-anchor="middle">{hi:+.3f}</text>'
            f'<text x="{sx(c.delta):.1f}" y="52" font-size="11" text-anchor="middle">{c.delta:+.4f}</text></svg>')


# ---------------------------------------------------------------- sections


def _summary_table(table: Dict[str, Any]) -> str:
    ks, types = table["ks"], table["error_types"]
    head = "".join(f"<th>{esc(x)}</th>" for x in ["model"] + [f"pass@{k}" for k in ks]
                   + ["compile rate", "samples", "problems"] + types)
    body = []
    for e in table["models"]:
        cells = [e["model"]] + [_fmt(e[f"pass@{k}"]) for k in ks] + [_fmt(e["compile_rate"]), e["samples"],
                                                                        e["problems"]]
        cells += [e["error_counts"].get(t, 0) for t in types]
        body.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    return f'<table id="summary"><tr>{head}</tr>{"".join(body)}</table>'


def _comparison_section(c: Comparison, alpha: float, limit: int, suffix: str = "") -> str:
    out = [f"<h2>Paired comparison: {esc(c.new_label)} vs {esc(c.old_label)}</h2>", f'<div id="comparison{suffix}">']
    out.append(f"<p>{c.shared} shared problem(s)")
    if c.only_old or c.only_new:
        out.append(f"; not compared: {len(c.only_old)} only in {esc(c.old_label)}, {len(c.only_new)} only in "
                   f"{esc(c.new_label)}")
    out.append(".</p>")
    if not c.shared:
        out.append('<p class="note">No shared problems: nothing to compare.</p></div>')
        return "".join(out)
    lo, hi = c.ci()
    verdict = ('<span class="bad">REGRESSED</span>' if c.regressed(alpha)
               else '<span class="ok">no significant regression</span>')
    rows = [("pass@1 (shared problems)", f"{c.old_pass1:.4f} &rarr; {c.new_pass1:.4f}"),
            ("change in pass@1", f"{c.delta:+.4f}"),
            (f"{c.confidence:.0%} CI (paired bootstrap over problems)",
             f"[{lo:+.4f}, {hi:+.4f}] ({c.resamples} resamples, seed {c.seed})"),
            ("problems worse / better / unchanged", f"{len(c.worse)} / {len(c.better)} / {c.unchanged}"),
            ("exact sign test (McNemar's exact test when n = 1)", f"p = {c.p_value:.4g}"),
            (f"verdict at alpha = {alpha}", verdict)]
    out.append("<table>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>")
    out.append(ci_chart(c, suffix))
    for name, items in (("worse (pass rate went down)", c.worse), ("better (pass rate went up)", c.better)):
        out.append(f"<details><summary>{len(items)} problem(s) {name}</summary><table><tr><th>task_id</th>"
                   f"<th>{esc(c.old_label)}</th><th>{esc(c.new_label)}</th></tr>")
        for p in items[:limit]:
            out.append(f"<tr><td>{esc(p.task_id)}</td><td>{p.old_c}/{p.old_n}</td><td>{p.new_c}/{p.new_n}</td></tr>")
        out.append("</table>")
        if len(items) > limit:
            out.append(f'<p class="note">Showing {limit} of {len(items)}.</p>')
        out.append("</details>")
    out.append("</div>")
    return "".join(out)


def _heatmap(models: Mapping[str, Sequence[Mapping[str, Any]]], limit: int) -> str:
    t = per_problem_table(models)
    problems = t["problems"]
    out = ['<table id="heatmap" class="heat"><tr><th>problem</th>'
           + "".join(f"<th>{esc(m)}</th>" for m in t["models"]) + "</tr>"]
    for p in problems[:limit]:
        cells = []
        for c, n, r in zip(p["passed"], p["judged"], p["pass_rate"]):
            if n is None:
                cells.append('<td class="cell" style="background:#eee">-</td>')
            else:
                cells.append(f'<td class="cell" style="background:{_heat(r)}" title="pass rate {r:.3f}">{c}/{n}</td>')
        out.append(f"<tr><td>{esc(p['task_id'])}</td>{''.join(cells)}</tr>")
    out.append("</table>")
    if len(problems) > limit:
        out.append(f'<p class="note">Showing the first {limit} of {len(problems)} problems; the results files '
                   f"have all of them.</p>")
    return "".join(out)


def _tail(text: Any, limit: int) -> tuple:
    s = "" if text is None else str(text)
    return (s[-limit:], len(s) > limit)


def _samples(label: str, rows: Sequence[Mapping[str, Any]], limit: int, tail: int) -> str:
    ordered = sorted(rows, key=lambda r: (task_key(r["task_id"]), r.get("sample_index") or 0))
    shown = ordered[:limit]
    out = [f'<details class="samples"><summary>{esc(label)}: {len(rows)} sample(s)'
           + (f", showing {len(shown)}" if len(shown) < len(rows) else "") + "</summary>"]
    if len(shown) < len(rows):
        out.append(f'<p class="note">Showing the first {len(shown)} of {len(rows)} samples (by problem); the '
                   f"results file has every row.</p>")
    out.append("<table><tr><th>task_id</th><th>#</th><th>verdict</th><th>detail</th><th>compiled</th>"
               "<th>seconds</th><th>output</th></tr>")
    for r in shown:
        et = r.get("error_type")
        cls, word = ("ok", "passed") if r.get("passed") else (("infra", et) if et == "infra_error"
                                                               else ("bad", et or "failed"))
        parts = []
        for stream in ("stdout", "stderr"):
            text, cut = _tail(r.get(stream), tail)
            if not text:
                continue
            cut = cut or bool(r.get(f"{stream}_truncated"))
            parts.append(f"<div>{stream}{' (tail)' if cut else ''}:</div><pre>{esc(text)}</pre>")
        output = (f"<details><summary>show</summary>{''.join(parts)}</details>" if parts else "")
        duration = r.get("duration_s")
        out.append(f"<tr><td>{esc(r['task_id'])}</td><td>{esc(r.get('sample_index'))}</td>"
                   f'<td class="{cls}">{esc(word)}</td><td>{esc(r.get("result"))}</td>'
                   f"<td>{esc(r.get('compile_ok'))}</td>"
                   f"<td>{esc(f'{duration:.2f}' if isinstance(duration, (int, float)) else '')}</td>"
                   f"<td>{output}</td></tr>")
    out.append("</table></details>")
    return "".join(out)


def render(models: Mapping[str, Sequence[Mapping[str, Any]]],
           comparison: Union[Comparison, Sequence[Comparison], None] = None, *,
           ks: Sequence[int] = DEFAULT_K, title: str = "pytest-heval report", alpha: float = 0.05,
           max_samples: int = 1000, max_problems: int = 2000, tail_chars: int = 1000) -> str:
    """The report page for ``{label: result rows}`` (and comparisons made with ``compare.compare``).

    ``max_samples`` (per model), ``max_problems`` (heat map rows) and ``tail_chars`` (of each stdout/stderr) keep a
    huge run's page small enough for a browser; the page says when it shows less than there is.
    """
    table = side_by_side(models, ks)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>"]
    if not models:
        parts.append('<p class="note">No results given.</p></body></html>')
        return "\n".join(parts)
    parts += ["<h2>Summary</h2>", _summary_table(table),
              "<h2>pass@k per model</h2>", passk_chart(table),
              "<h2>Outcomes per model</h2>", errors_chart(table)]
    for i, c in enumerate([comparison] if isinstance(comparison, Comparison) else comparison or []):
        parts.append(_comparison_section(c, alpha, max_problems, "" if i == 0 else f"-{i + 1}"))
    parts += ["<h2>Pass rate per problem</h2>", _heatmap(models, max_problems),
              "<h2>Samples</h2>", f"<p>Each sample's verdict; outputs show the last {tail_chars} characters of "
              "what the results file kept.</p>"]
    parts += [_samples(label, rows, max_samples, tail_chars) for label, rows in models.items()]
    parts.append("</body></html>")
    return "\n".join(parts)
