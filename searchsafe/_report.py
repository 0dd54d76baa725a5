"""Evaluation details and the self-contained HTML evaluation report.

:func:`evaluation_details` adds to :func:`searchsafe._metrics.evaluate_predictions`
what an analyst reads next: the confusion between categories, calibration
(reliability bins and expected calibration error), precision/recall/F1 swept
over thresholds, the hard negatives that were flagged and the worst errors per
category. It needs only numpy.

:func:`render_html` turns that into one HTML file with inline CSS and PNG plots
embedded as base64 data URIs (PR curves, threshold sweeps, calibration, F1 per
language), which any browser opens offline. It needs matplotlib, the
``report`` extra (``pip install '.[report]'`` in a clone).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from typing import Any, Sequence

import numpy as np

__all__ = ["evaluation_details", "render_html", "REPORT_TITLE", "SWEEP_THRESHOLDS"]

REPORT_TITLE = "searchsafe evaluation report"
#: Thresholds at which precision, recall and F1 are swept.
SWEEP_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)
_CALIBRATION_BINS = 10
#: Fonts that render both Japanese and Korean, or one of them, best first.
_CJK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Sans CJK SC",
    "Source Han Sans",
    "Noto Sans JP",
    "Noto Sans KR",
    "IPAexGothic",
    "IPAGothic",
    "TakaoGothic",
    "NanumGothic",
    "UnDotum",
    "Droid Sans Fallback",
)
_LANG_NAMES = {"ja": "日本語", "ko": "한국어"}
#: A language with fewer rows than this shows "n/a" instead of its metrics in
#: the report: a handful of rows gives precision and recall of 0 or 1 by chance.
MIN_GROUP_ROWS = 30
_NA = '<span class="na">n/a</span>'


# -- numbers ----------------------------------------------------------------
def _row(i: int, texts: Sequence[str], wheres: Sequence[str], langs: Sequence[str | None],
         Y: np.ndarray, categories: Sequence[str]) -> dict[str, Any]:
    # The row's own labels travel with it: an error list is read against them.
    labels = [c for j, c in enumerate(categories) if Y[i, j]]
    return {"where": wheres[i], "text": texts[i], "lang": langs[i], "labels": labels}


def _sweep(y: np.ndarray, p: np.ndarray) -> dict[str, list[float]]:
    pos = np.sort(p[y])
    neg = np.sort(p[~y])
    t = SWEEP_THRESHOLDS
    tp = pos.size - np.searchsorted(pos, t, side="left")
    fp = neg.size - np.searchsorted(neg, t, side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        recall = tp / pos.size if pos.size else np.zeros_like(t)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {
        "thresholds": [float(x) for x in t],
        "precision": [round(float(x), 4) for x in precision],
        "recall": [round(float(x), 4) for x in recall],
        "f1": [round(float(x), 4) for x in f1],
    }


def _calibration(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    bins = np.minimum((p * _CALIBRATION_BINS).astype(int), _CALIBRATION_BINS - 1)
    out = []
    ece = 0.0
    for b in range(_CALIBRATION_BINS):
        m = bins == b
        n = int(m.sum())
        entry: dict[str, Any] = {"lo": b / _CALIBRATION_BINS, "hi": (b + 1) / _CALIBRATION_BINS, "n": n}
        if n:
            mean, observed = float(p[m].mean()), float(y[m].mean())
            entry.update(mean_score=round(mean, 4), observed=round(observed, 4))
            ece += n / len(p) * abs(mean - observed)
        out.append(entry)
    return {"ece": round(ece, 4) if len(p) else None, "bins": out}


def evaluation_details(
    Y: np.ndarray,
    P: np.ndarray,
    thresholds: np.ndarray,
    categories: Sequence[str],
    *,
    texts: Sequence[str],
    wheres: Sequence[str],
    langs: Sequence[str | None],
    tags: Sequence[Sequence[str]],
    max_examples: int = 100,
) -> dict[str, Any]:
    """Confusion, calibration, threshold sweeps and listed errors, as a JSON-ready dict.

    Parameters
    ----------
    Y : bool array, shape (n, k)
        Labels.
    P : float array, shape (n, k)
        Scores.
    thresholds : float array, shape (k,)
    categories : sequence of str
    texts, wheres, langs, tags : sequences of length n
        Each row's query, ``file:line``, language and tags.
    max_examples : int
        How many rows each list of examples holds at most.

    Returns
    -------
    dict
        ``confusion`` (rows: true category or ``none``; columns: flagged
        category or ``none``; a row with several labels or flags counts in
        each of their cells), ``calibration`` (per category and ``all``:
        ten equal-width bins and the expected calibration error),
        ``threshold_sweep`` (per category precision, recall, F1 at thresholds
        0.01-0.99), ``hard_negative_false_positives`` (benign rows tagged
        ``hard_negative`` that got a flag, highest flagged score first) and
        ``errors`` (per category the highest-scored false positives and
        lowest-scored false negatives). Every listed row carries its
        ``labels``.

    Examples
    --------
    >>> Y = np.array([[True], [False], [False]])
    >>> P = np.array([[0.9], [0.8], [0.1]])
    >>> d = evaluation_details(Y, P, np.array([0.5]), ["hate"], texts=["a", "b", "c"],
    ...                        wheres=["f:1", "f:2", "f:3"], langs=["ja"] * 3, tags=[[], ["hard_negative"], []])
    >>> d["confusion"]["matrix"]
    [[1, 0], [1, 1]]
    >>> [r["text"] for r in d["hard_negative_false_positives"]]
    ['b']
    >>> d["errors"]["hate"]["false_negatives"], d["errors"]["hate"]["false_positives"][0]["labels"]
    ([], [])
    """
    Y = np.asarray(Y, dtype=bool)
    P = np.asarray(P, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    F = P >= thresholds
    k = len(categories)
    labels = list(categories) + ["none"]

    # Confusion between categories (multi-label: every label x every flag).
    M = np.zeros((k + 1, k + 1), dtype=np.int64)
    benign, unflagged = ~Y.any(axis=1), ~F.any(axis=1)
    M[:k, :k] = Y.T.astype(np.int64) @ F.astype(np.int64)
    M[:k, k] = Y[unflagged].sum(axis=0)
    M[k, :k] = F[benign].sum(axis=0)
    M[k, k] = int((benign & unflagged).sum())
    confusion = {"true": labels, "flagged": labels, "matrix": M.tolist()}

    calibration = {c: _calibration(Y[:, j], P[:, j]) for j, c in enumerate(categories)}
    calibration["all"] = _calibration(Y.ravel(), P.ravel())
    sweep = {c: _sweep(Y[:, j], P[:, j]) for j, c in enumerate(categories)}

    def flags(i: int) -> dict[str, float]:
        return {c: round(float(P[i, j]), 4) for j, c in enumerate(categories) if F[i, j]}

    hard = np.array(["hard_negative" in t for t in tags], dtype=bool) & benign & ~unflagged
    # Ordered by the highest score among the flags the table shows, not by the
    # highest score of any category (an unflagged one may score higher).
    flagged_max = np.where(F, P, -np.inf).max(axis=1, initial=-np.inf)
    hard_idx = sorted(np.nonzero(hard)[0], key=lambda i: -float(flagged_max[i]))[:max_examples]
    hard_fps = [{**_row(i, texts, wheres, langs, Y, categories), "flagged": flags(i)} for i in hard_idx]

    errors: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for j, c in enumerate(categories):
        fp = np.nonzero(F[:, j] & ~Y[:, j])[0]
        fn = np.nonzero(~F[:, j] & Y[:, j])[0]
        fp = fp[np.argsort(-P[fp, j], kind="stable")][:max_examples]
        fn = fn[np.argsort(P[fn, j], kind="stable")][:max_examples]
        errors[c] = {
            "false_positives": [{**_row(i, texts, wheres, langs, Y, categories), "score": round(float(P[i, j]), 4)}
                                for i in fp],
            "false_negatives": [{**_row(i, texts, wheres, langs, Y, categories), "score": round(float(P[i, j]), 4)}
                                for i in fn],
        }
    return {
        "confusion": confusion,
        "calibration": calibration,
        "threshold_sweep": sweep,
        "hard_negative_false_positives": hard_fps,
        "errors": errors,
    }


# -- plots ------------------------------------------------------------------
def _matplotlib():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "the HTML report needs matplotlib, which is not installed: pip install matplotlib "
            "(or, in a clone of searchsafe, pip install '.[report]')"
        ) from None
    return Figure


def _cjk_font() -> str | None:
    """A font that renders Japanese or Korean, if matplotlib knows one."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in names), None)


class _Plots:
    """Draws the report's figures with matplotlib's object API (no pyplot, no global backend)."""

    def __init__(self) -> None:
        self.Figure = _matplotlib()
        self.font = _cjk_font()
        self.rc: dict[str, Any] = {"font.size": 9, "axes.titlesize": 10}
        if self.font:
            self.rc["font.family"] = [self.font, "DejaVu Sans"]

    def label(self, text: str) -> str:
        """*text* as drawn: as is with a CJK font, else ASCII (no missing-glyph boxes)."""
        if self.font or text.isascii():
            return text
        return text.encode("ascii", "backslashreplace").decode("ascii")

    def lang_label(self, lang: str) -> str:
        name = _LANG_NAMES.get(lang)
        return f"{lang} {name}" if name and self.font else self.label(lang)

    def png(self, fig) -> str:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

    def grid(self, n: int, ncols: int = 4, cell: tuple[float, float] = (3.0, 2.6)):
        import matplotlib

        ncols = max(1, min(ncols, n))
        nrows = -(-n // ncols)
        with matplotlib.rc_context(self.rc):
            fig = self.Figure(figsize=(cell[0] * ncols, cell[1] * nrows + 0.4), layout="constrained")
            axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[n:]:
            ax.set_visible(False)
        return fig, axes[:n]

    def pr_curves(self, Y: np.ndarray, P: np.ndarray, thresholds: np.ndarray, categories: Sequence[str]) -> str | None:
        import matplotlib
        from sklearn.metrics import average_precision_score, precision_recall_curve

        have = [j for j in range(len(categories)) if 0 < Y[:, j].sum() < len(Y)]
        if not have:
            return None
        with matplotlib.rc_context(self.rc):
            fig, axes = self.grid(len(have))
            for ax, j in zip(axes, have):
                y, p = Y[:, j], P[:, j]
                precision, recall, _ = precision_recall_curve(y, p)
                ap = average_precision_score(y, p)
                ax.step(recall, precision, where="post", color="#1f77b4", lw=1.5)
                f = p >= thresholds[j]
                tp = int((f & y).sum())
                op_p = tp / max(int(f.sum()), 1)
                op_r = tp / int(y.sum())
                ax.plot([op_r], [op_p], "o", color="#d62728", ms=6, label=f"threshold {thresholds[j]:.2f}")
                ax.set_title(self.label(f"{categories[j]}  (AP {ap:.3f})"))
                ax.set_xlim(0, 1.02)
                ax.set_ylim(0, 1.02)
                ax.set_xlabel("recall")
                ax.set_ylabel("precision")
                ax.grid(alpha=0.3)
                ax.legend(loc="lower left", fontsize=7)
            fig.suptitle("Precision-recall curves (red dot: the model's threshold)")
            return self.png(fig)

    def sweeps(
        self, sweep: dict[str, dict[str, list[float]]], thresholds: np.ndarray, categories: Sequence[str]
    ) -> str:
        import matplotlib

        with matplotlib.rc_context(self.rc):
            fig, axes = self.grid(len(categories))
            for ax, (j, c) in zip(axes, enumerate(categories)):
                s = sweep[c]
                ax.plot(s["thresholds"], s["precision"], label="precision", color="#1f77b4")
                ax.plot(s["thresholds"], s["recall"], label="recall", color="#ff7f0e")
                ax.plot(s["thresholds"], s["f1"], label="F1", color="#2ca02c")
                ax.axvline(float(thresholds[j]), color="#555555", ls="--", lw=1)
                ax.set_title(self.label(c))
                ax.set_xlim(0, 1)
                ax.set_ylim(0, 1.02)
                ax.set_xlabel("threshold")
                ax.grid(alpha=0.3)
            axes[0].legend(loc="lower left", fontsize=7)
            fig.suptitle("Precision, recall and F1 by threshold (dashed: the model's threshold)")
            return self.png(fig)

    def calibration(self, calibration: dict[str, Any], Y: np.ndarray, P: np.ndarray, categories: Sequence[str]) -> str:
        import matplotlib

        with matplotlib.rc_context(self.rc):
            fig = self.Figure(figsize=(10, 4), layout="constrained")
            ax, hx = fig.subplots(1, 2)
            ax.plot([0, 1], [0, 1], color="#999999", ls=":", lw=1, label="perfect")
            for c in categories:
                bins = [b for b in calibration[c]["bins"] if b["n"]]
                ax.plot([b["mean_score"] for b in bins], [b["observed"] for b in bins], lw=0.8, alpha=0.45,
                        marker=".", ms=3, label=self.label(c))
            pooled = [b for b in calibration["all"]["bins"] if b["n"]]
            ax.plot([b["mean_score"] for b in pooled], [b["observed"] for b in pooled], color="black", lw=2,
                    marker="o", ms=4, label=f"all (ECE {calibration['all']['ece']})")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel("mean score in bin")
            ax.set_ylabel("fraction labeled positive")
            ax.set_title("Reliability diagram")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, ncol=2, loc="upper left")
            edges = np.linspace(0, 1, 21)
            hx.hist(P[Y], bins=edges, alpha=0.6, label="labeled positive", color="#d62728")
            hx.hist(P[~Y], bins=edges, alpha=0.6, label="labeled negative", color="#1f77b4")
            hx.set_yscale("log")
            hx.set_xlabel("score")
            hx.set_ylabel("count (log)")
            hx.set_title("Scores of all categories")
            hx.legend(fontsize=7)
            return self.png(fig)

    def lang_f1(self, by_lang: dict[str, Any], categories: Sequence[str]) -> str | None:
        import matplotlib

        langs = list(by_lang)
        if not langs:
            return None
        with matplotlib.rc_context(self.rc):
            fig = self.Figure(figsize=(max(6.0, 1.1 * len(categories) + 2), 3.6), layout="constrained")
            ax = fig.subplots()
            width = 0.8 / len(langs)
            x = np.arange(len(categories))
            for i, lang in enumerate(langs):
                f1 = [by_lang[lang]["categories"][c]["f1"] for c in categories]
                ax.bar(x + (i - (len(langs) - 1) / 2) * width, f1, width, label=self.lang_label(lang))
            ax.set_xticks(x, [self.label(c) for c in categories], rotation=20, ha="right")
            ax.set_ylim(0, 1)
            ax.set_ylabel("F1")
            ax.set_title("F1 by category and language")
            ax.grid(alpha=0.3, axis="y")
            ax.legend(fontsize=8)
            return self.png(fig)


# -- HTML -------------------------------------------------------------------
_CSS = """
:root { --fg: #1b1f24; --muted: #5b6470; --line: #d8dde3; --accent: #0b5cad; --bad: #b42318; --bg: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; color: var(--fg); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans CJK JP", "Noto Sans CJK KR", "Hiragino Sans",
  "Apple SD Gothic Neo", "Yu Gothic", "Malgun Gothic", sans-serif; max-width: 1280px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: var(--muted); margin: 0 0 16px; } .meta code { font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 170px; }
.card .v { font-size: 22px; font-weight: 600; } .card .k { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: right; vertical-align: top; }
th { background: #f3f5f7; } td.t, th.t { text-align: left; } .q { word-break: break-all; }
tr.none td { color: var(--muted); }
.prf { white-space: nowrap; } .na { color: var(--muted); } .wide { overflow-x: auto; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0 16px; border: 1px solid var(--line); }
details { margin: 4px 0 10px; } summary { cursor: pointer; color: var(--accent); }
.note { color: var(--muted); font-size: 13px; } .bad { color: var(--bad); font-weight: 600; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""

# Sets data attributes on <html> once the page has loaded: how many images there
# are, how many decoded, how many errors happened. Automated checks read them
# from the rendered DOM; people never see them.
_SELF_CHECK = """
(function () {
  var errors = 0, root = document.documentElement;
  window.addEventListener("error", function () {
    errors += 1;
    root.setAttribute("data-errors", String(errors));
  }, true);
  window.addEventListener("load", function () {
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    root.setAttribute("data-images", String(imgs.length));
    root.setAttribute("data-images-ok", String(ok));
    root.setAttribute("data-errors", String(errors));
    root.setAttribute("data-rendered", "1");
  });
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, classes: Sequence[str] = ()) -> str:
    """An HTML table from pre-escaped cells; the first *left* columns are left-aligned."""
    head = "".join(f'<th class="t">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{classes[r]}"' if r < len(classes) and classes[r] else ""
        cells = "".join(f'<td class="t">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(src: str | None, alt: str) -> str:
    if src is None:
        return f'<p class="note">No plot: {_e(alt)} needs labeled positives and negatives.</p>'
    return f'<img src="{src}" alt="{_e(alt)}">'


def _metric_cells(m: dict[str, Any], digits: int = 3) -> tuple[str, str, str]:
    """Precision, recall and F1 of one category, "n/a" where they are undefined.

    Precision needs at least one flag, recall and F1 at least one labeled example;
    printing 0.000 there would read as a measured failure.
    """
    precision = _num(m["precision"], digits) if m["tp"] + m["fp"] else _NA
    recall = _num(m["recall"], digits) if m["support"] else _NA
    f1 = _num(m["f1"], digits) if m["support"] else _NA
    return precision, recall, f1


def _examples(rows: Sequence[dict[str, Any]], score_key: str | None = "score", shown: int = 20) -> str:
    """A table of example rows; past the first *shown*, the rest fold into a <details>."""
    if not rows:
        return '<p class="note">None.</p>'
    out = []
    for r in rows:
        score = _num(r.get(score_key), 3) if score_key else ", ".join(
            f"{_e(c)} {v:.3f}" for c, v in r.get("flagged", {}).items()
        )
        labels = ", ".join(map(_e, r.get("labels", []))) or '<span class="na">none</span>'
        out.append([_e(r["where"]), _e(r.get("lang") or ""), f'<span class="q">{_e(r["text"])}</span>', labels,
                    score])
    header = ["where", "lang", "query", "labeled", "score" if score_key else "flagged"]
    html_out = _table(header, out[:shown], left=4)
    if len(out) > shown:
        html_out += (f"<details><summary>{len(out) - shown} more</summary>"
                     f"{_table(header, out[shown:], left=4)}</details>")
    return html_out


def render_html(
    report: dict[str, Any],
    *,
    Y: np.ndarray,
    P: np.ndarray,
    title: str = REPORT_TITLE,
) -> str:
    """The evaluation report as one self-contained HTML document.

    Parameters
    ----------
    report : dict
        What ``searchsafe evaluate`` writes as JSON: ``model``, ``data``, ``n``,
        ``categories``, ``thresholds``, the keys of
        :func:`searchsafe._metrics.evaluate_predictions` and of
        :func:`evaluation_details`.
    Y, P : arrays of shape (n, k)
        Labels and scores, for the precision-recall curves.
    title : str

    Returns
    -------
    str
        HTML with inline CSS and every plot embedded as a PNG data URI; no
        external resources.

    Raises
    ------
    ImportError
        If matplotlib is not installed; the message says what to ``pip install``.
    """
    plots = _Plots()
    Y = np.asarray(Y, dtype=bool)
    P = np.asarray(P, dtype=np.float64)
    cats: list[str] = list(report["categories"])
    thr = np.array([report["thresholds"][c] for c in cats], dtype=np.float64)
    overall = report["overall"]
    hard = report["hard_negatives"]
    evasion = report["evasion"]
    by_lang = report.get("by_lang", {})

    def pct(v: Any) -> str:
        return _NA if v is None else f"{100 * v:.1f}%"

    cards = [
        ("macro-F1", _num(overall.get("macro_f1"))),
        ("queries", _e(report["n"])),
        ("benign queries flagged", pct(overall.get("benign_flag_rate"))),
        ("hard negatives flagged", pct(hard.get("false_positive_rate"))),
        ("recall on evasive spellings", pct(evasion.get("recall"))),
    ]
    cards_html = "".join(
        f'<div class="card"><div class="v">{v}</div><div class="k">{_e(k)}</div></div>' for k, v in cards
    )

    cat_rows = []
    for c in cats:
        m = overall["categories"][c]
        cat_rows.append([
            _e(c), _num(report["thresholds"][c], 2), *_metric_cells(m),
            _num(m["pr_auc"]) if m.get("pr_auc") is not None else _NA, _e(m["support"]),
            _e(m["tp"]), _e(m["fp"]), _e(m["fn"]),
            _num(report["calibration"][c]["ece"]),
        ])
    cat_table = _table(
        ["category", "threshold", "precision", "recall", "F1", "PR-AUC", "support", "TP", "FP", "FN", "ECE"], cat_rows
    )

    lang_rows = []
    for lang, block in by_lang.items():
        if block["n"] < MIN_GROUP_ROWS:
            lang_rows.append([_e(lang), _e(block["n"])] + [_NA] * (3 + len(cats)))
            continue
        lang_rows.append(
            [_e(lang), _e(block["n"]),
             _num(block["macro_f1"]) if block.get("macro_f1") is not None else _NA,
             pct(block.get("benign_flag_rate")), pct(hard.get("by_lang", {}).get(lang))]
            # One line per cell: three numbers wrapped over five lines cannot be read down a column.
            + ['<span class="prf">' + " / ".join(_metric_cells(block["categories"][c], 2)) + "</span>"
               for c in cats]
        )
    lang_table = (
        '<div class="wide">'
        + _table(["language", "n", "macro-F1", "benign flagged", "hard negatives flagged", *map(_e, cats)], lang_rows)
        + "</div>"
        + f'<p class="note">Category cells are precision / recall / F1; n/a where a number is undefined (no flag, '
        f"no labeled example) and for a language with fewer than {MIN_GROUP_ROWS} rows.</p>"
        if lang_rows
        else '<p class="note">No language information.</p>'
    )

    conf = report["confusion"]
    M = np.array(conf["matrix"], dtype=float)
    row_sums = np.maximum(M.sum(axis=1, keepdims=True), 1)
    conf_rows = []
    for i, name in enumerate(conf["true"]):
        cells = [f"<b>{_e(name)}</b>"]
        for j in range(len(conf["flagged"])):
            share = M[i, j] / row_sums[i, 0]
            good = (i == j)
            color = f"rgba(11,92,173,{0.08 + 0.6 * share:.2f})" if good else f"rgba(180,35,24,{0.6 * share:.2f})"
            cells.append(f'<span style="display:block;background:{color}">{int(M[i, j])}</span>')
        conf_rows.append(cells)
    conf_table = _table(["labeled \\ flagged", *(_e(x) for x in conf["flagged"])], conf_rows)

    hard_list = report["hard_negative_false_positives"]
    if hard["n"]:
        hard_html = (
            f'<p>{_e(hard["n"])} benign rows are tagged <code>hard_negative</code>; '
            f'<span class="bad">{pct(hard.get("false_positive_rate"))}</span> of them got a flag '
            f"({len(hard_list)} listed, highest flagged score first).</p>" + _examples(hard_list, score_key=None)
        )
    else:
        hard_html = '<p class="note">No benign rows are tagged <code>hard_negative</code> in this data.</p>'

    if evasion.get("n"):
        ev_rows = [[_e(k), pct(v)] for k, v in evasion.get("by_kind", {}).items()]
        evasion_html = (
            f"<p>Recall on {_e(evasion['n'])} rows written with evasive spellings: {pct(evasion['recall'])}.</p>"
            + _table(["kind", "recall"], ev_rows)
        )
    else:
        evasion_html = '<p class="note">No rows are tagged <code>evasion:*</code> in this data.</p>'

    weighted_html = ""
    weighted = report.get("weighted")
    if weighted:
        def est(value: Any, ci: Any) -> str:
            if value is None:
                return _NA
            return f'<span class="prf">{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]</span>' if ci else f"{value:.3f}"

        w_rows = [[_e(c), est(m["precision"], m["precision_ci"]), est(m["recall"], m["recall_ci"]),
                   _NA if m["prevalence"] is None else f"{m['prevalence']:.4f}", _e(m["flagged"]), _e(m["positives"])]
                  for c, m in weighted["categories"].items()]
        weighted_html = (
            '<h2 id="weighted">Estimates for all traffic</h2>'
            f"<p>Each row stands for the number of queries in its <code>{_e(weighted['column'])}</code> column: "
            f"{_e(weighted['n'])} rows for {weighted['total_weight']:g} queries. Brackets: "
            f"{round(100 * weighted['level'])}% bootstrap intervals ({_e(weighted['n_boot'])} resamples within "
            f"{_e(weighted['strata'])} strata).</p>"
            + _table(["category", "precision", "recall", "prevalence", "flagged rows", "labeled rows"], w_rows)
        )

    error_html = []
    for c in cats:
        e = report["errors"][c]
        error_html.append(
            f"<details><summary>{_e(c)}: {len(e['false_positives'])} false positives, "
            f"{len(e['false_negatives'])} false negatives listed</summary>"
            f"<h3>False positives (highest score first)</h3>{_examples(e['false_positives'])}"
            f"<h3>False negatives (lowest score first)</h3>{_examples(e['false_negatives'])}</details>"
        )

    pr_png = plots.pr_curves(Y, P, thr, cats)
    sweep_png = plots.sweeps(report["threshold_sweep"], thr, cats)
    cal_png = plots.calibration(report["calibration"], Y, P, cats)
    lang_png = plots.lang_f1(by_lang, cats)

    model = report.get("model", {})
    data = ", ".join(report.get("data", []))
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
<script>{_SELF_CHECK}</script>
</head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">Model <b>{_e(model.get("name"))}</b> (<code>{_e(model.get("path"))}</code>) on
<code>{_e(data)}</code>: {_e(report["n"])} labeled queries. searchsafe {_e(report.get("searchsafe_version"))},
{_e(created)}.</p>
<div class="cards">{cards_html}</div>

<h2 id="categories">Per category</h2>
{cat_table}
<p class="note">A query is flagged for a category when its score reaches the threshold. ECE is the expected
calibration error of the scores (0 is perfect).</p>
{weighted_html}

<h2 id="languages">Per language</h2>
{lang_table}
{_img(lang_png, "F1 by category and language")}

<h2 id="pr">Precision-recall curves</h2>
{_img(pr_png, "precision-recall curves per category")}

<h2 id="sweep">Threshold sweeps</h2>
<p class="note">How precision, recall and F1 move if a category's threshold is changed; the dashed line is the
model's threshold.</p>
{_img(sweep_png, "precision, recall and F1 against the threshold, per category")}

<h2 id="calibration">Calibration</h2>
{_img(cal_png, "reliability diagram and score histogram")}

<h2 id="confusion">Confusion between categories</h2>
<p class="note">Rows: the labeled category (<i>none</i> = benign). Columns: the flagged category (<i>none</i> = no
flag). A query with several labels or flags counts in each of their cells; off-diagonal cells are queries flagged
for a category they are not labeled with, or missed.</p>
{conf_table}

<h2 id="hard-negatives">False positives on hard negatives</h2>
{hard_html}

<h2 id="evasion">Evasive spellings</h2>
{evasion_html}

<h2 id="errors">Errors per category</h2>
{''.join(error_html)}

<footer>Written by <code>searchsafe evaluate</code>. Scores are a model's estimate, not a verdict: review
flagged and unflagged queries before acting on them, and read the per-language and hard-negative numbers
before trusting the overall ones.</footer>
</body>
</html>
"""
