"""Shared pieces of the self-contained HTML pages: the page frame, cards, tables and inline SVG charts.

Every page that ``searchsafe`` writes (the evaluation report, the dashboard,
the labeler report, the root-cause analysis, the calibration pack) is one file
with inline CSS and, where it draws, inline SVG: no external resources, no
network, and Japanese and Korean text is real text that the browser renders
with the system's CJK fonts. Only the standard library is needed.
"""

from __future__ import annotations

import datetime as _dt
import html
from typing import Any, Sequence

from ._report import _CSS, _SELF_CHECK

__all__ = ["esc", "num", "pct", "table", "cards", "page", "line_chart", "stacked_bars", "details"]

#: Colours of chart series, in order; chosen to stay apart for common colour-vision deficiencies.
PALETTE = ("#0b5cad", "#d1495b", "#edae49", "#00798c", "#6a4c93", "#66a182", "#8d6a9f", "#30638e",
           "#e07a5f", "#3d405b")

_EXTRA_CSS = """
.alert { border-left: 4px solid var(--bad); background: #fdf1f0; padding: 6px 12px; margin: 6px 0; }
.ok { border-left: 4px solid #2e7d32; background: #f1f8f2; padding: 6px 12px; margin: 6px 0; }
.rule { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
td.verdict { min-width: 140px; background: #fffbe6; }
svg { display: block; margin: 8px 0 16px; max-width: 100%; height: auto; }
svg text { font-size: 11px; fill: var(--fg); }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.pass { color: #2e7d32; font-weight: 600; } .fail { color: var(--bad); font-weight: 600; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text; None becomes the empty string.

    Examples
    --------
    >>> esc("<b>猫</b>")
    '&lt;b&gt;猫&lt;/b&gt;'
    """
    return html.escape("" if value is None else str(value))


def num(value: Any, digits: int = 3) -> str:
    """A number with *digits* decimals, or an en dash for None.

    Examples
    --------
    >>> num(0.12345), num(None), num(7)
    ('0.123', '–', '7')
    """
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return esc(value)


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage, or an en dash for None.

    Examples
    --------
    >>> pct(0.0425), pct(None)
    ('4.2%', '–')
    """
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1,
          classes: Sequence[str] = (), cell_classes: dict[int, str] | None = None) -> str:
    """An HTML table from pre-escaped cells; the first *left* columns are left-aligned.

    *cell_classes* maps a column index to a CSS class for every cell of that column.

    Examples
    --------
    >>> table(["a", "b"], [["x", "1"]])
    '<table><thead><tr><th class="t">a</th><th>b</th></tr></thead><tbody><tr><td class="t">x</td><td>1</td></tr></tbody></table>'
    """
    cell_classes = cell_classes or {}

    def cls(i: int) -> str:
        names = (["t"] if i < left else []) + ([cell_classes[i]] if i in cell_classes else [])
        return f' class="{" ".join(names)}"' if names else ""

    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        rc = f' class="{classes[r]}"' if r < len(classes) and classes[r] else ""
        body.append(f"<tr{rc}>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A folded section; *summary* and *body* are pre-escaped."""
    return f"<details{' open' if open_ else ''}><summary>{summary}</summary>{body}</details>"


def cards(items: Sequence[tuple[str, str]]) -> str:
    """A row of headline numbers: (label, pre-escaped value) pairs."""
    inner = "".join(f'<div class="card"><div class="v">{v}</div><div class="k">{esc(k)}</div></div>'
                    for k, v in items)
    return f'<div class="cards">{inner}</div>'


def page(title: str, meta: str, body: str, footer: str) -> str:
    """One self-contained HTML document; *meta*, *body* and *footer* are pre-escaped HTML.

    Examples
    --------
    >>> doc = page("t", "m", "<p>고양이</p>", "f")
    >>> doc.startswith("<!DOCTYPE html>") and "<p>고양이</p>" in doc and "<title>t</title>" in doc
    True
    """
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{_CSS}{_EXTRA_CSS}</style>
<script>{_SELF_CHECK}</script>
</head>
<body>
<h1>{esc(title)}</h1>
<p class="meta">{meta} Written {esc(created)}.</p>
{body}
<footer>{footer}</footer>
</body>
</html>
"""


def _legend(names: Sequence[str]) -> str:
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{esc(n)}</span>' for i, n in enumerate(names)
    ) + "</p>"


def line_chart(x_labels: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str,
               y_format: str = "pct", marks: Sequence[tuple[int, str]] = (), width: int = 900,
               height: int = 260) -> str:
    """An inline SVG line chart of *series* (name -> one value per x label; None leaves a gap).

    *marks* are (x index, series name) points drawn as red rings, e.g. alerts.

    Examples
    --------
    >>> svg = line_chart(["d1", "d2"], {"hate": [0.01, 0.03]}, title="flag rate")
    >>> svg.count("<polyline"), "hate" in svg
    (1, True)
    """
    left, right, top, bottom = 56, 40, 24, 42
    w, h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s if v is not None]
    ymax = max(values) if values else 0.0
    ymax = ymax * 1.1 if ymax > 0 else 1.0
    n = len(x_labels)

    def x(i: int) -> float:
        return left + (w * i / (n - 1) if n > 1 else w / 2)

    def y(v: float) -> float:
        return top + h - h * v / ymax

    def fmt(v: float) -> str:
        return f"{100 * v:.2g}%" if y_format == "pct" else f"{v:,.0f}"

    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{left}" y="14">{esc(title)}</text>']
    for k in range(5):
        v = ymax * k / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e5e8ec"/>'
                     f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
    step = -(-n // 10)  # at most ten labels, so they do not overlap
    for i in range(0, n, step):
        parts.append(f'<text x="{x(i):.1f}" y="{top + h + 16}" text-anchor="middle">{esc(x_labels[i])}</text>')
    index = {name: i for i, name in enumerate(series)}
    for name, vals in series.items():
        color = PALETTE[index[name] % len(PALETTE)]
        run: list[str] = []
        for i, v in enumerate(list(vals) + [None]):
            if v is None:
                if len(run) > 1:
                    parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(run)}"/>')
                elif run:
                    cx, cy = run[0].split(",")
                    parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
                run = []
            else:
                run.append(f"{x(i):.1f},{y(v):.1f}")
    for i, name in marks:
        v = series.get(name, [None] * n)[i]
        if v is not None:
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="6" fill="none" stroke="#b42318" '
                         f'stroke-width="2"><title>alert: {esc(name)} {esc(x_labels[i])}</title></circle>')
    parts.append("</svg>")
    return "".join(parts) + _legend(list(series))


def stacked_bars(x_labels: Sequence[str], shares: dict[str, Sequence[float]], *, title: str,
                 width: int = 900, height: int = 240) -> str:
    """An inline SVG of 100 % stacked bars: per x label, each series' share (the shares sum to 1).

    Examples
    --------
    >>> stacked_bars(["d1"], {"allow": [0.9], "block": [0.1]}, title="actions").count("<rect")
    2
    """
    left, right, top, bottom = 56, 40, 24, 42
    w, h = width - left - right, height - top - bottom
    n = max(len(x_labels), 1)
    bw = w / n
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{left}" y="14">{esc(title)}</text>']
    for k in (0, 50, 100):
        yy = top + h - h * k / 100
        parts.append(f'<text x="{left - 4}" y="{yy + 4:.1f}" text-anchor="end">{k}%</text>')
    names = list(shares)
    step = -(-n // 10)
    for i, label in enumerate(x_labels):
        base = 0.0
        for s, name in enumerate(names):
            v = float(shares[name][i])
            if v > 0:
                parts.append(f'<rect x="{left + i * bw + 1:.1f}" y="{top + h - h * (base + v):.1f}" '
                             f'width="{max(bw - 2, 1):.1f}" height="{h * v:.1f}" '
                             f'fill="{PALETTE[s % len(PALETTE)]}"><title>{esc(name)} {esc(label)} '
                             f'{100 * v:.1f}%</title></rect>')
            base += v
        if i % step == 0:
            parts.append(f'<text x="{left + (i + 0.5) * bw:.1f}" y="{top + h + 16}" '
                         f'text-anchor="middle">{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts) + _legend(names)
