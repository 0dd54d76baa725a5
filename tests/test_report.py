"""The HTML evaluation report says what it shows: orders, labels, readable cells, n/a where numbers mean nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest

from searchsafe._metrics import evaluate_predictions
from searchsafe._report import MIN_GROUP_ROWS, evaluation_details, render_html

CATS = ["hate", "sexual", "animal_cruelty"]
THRESHOLDS = np.array([0.5, 0.9, 0.5])


def build(rows: list[tuple[str, str, list[str], list[float], list[str]]]) -> tuple[dict, np.ndarray, np.ndarray]:
    """A report dict as ``searchsafe evaluate`` builds it, from (text, lang, labels, scores, tags) rows."""
    texts = [r[0] for r in rows]
    langs = [r[1] for r in rows]
    Y = np.array([[c in r[2] for c in CATS] for r in rows], dtype=bool)
    P = np.array([r[3] for r in rows], dtype=np.float64)
    tags = [r[4] for r in rows]
    report = {"model": {"name": "m", "path": "m"}, "data": ["d.csv"], "n": len(rows), "categories": CATS,
              "thresholds": dict(zip(CATS, THRESHOLDS.tolist())), "searchsafe_version": "0"}
    report.update(evaluate_predictions(Y, P, THRESHOLDS, CATS, langs=langs, tags=tags))
    wheres = [f"d.csv:{i + 2}" for i in range(len(rows))]
    report.update(evaluation_details(Y, P, THRESHOLDS, CATS, texts=texts, wheres=wheres, langs=langs, tags=tags))
    return report, Y, P


def section(html: str, anchor: str) -> str:
    start = html.index(f'<h2 id="{anchor}">')
    end = html.find("<h2", start + 1)
    return html[start:end if end > 0 else len(html)]


# Japanese rows: enough of them for per-language numbers; Korean: a handful.
JA = ([(f"嫌な言葉 {i}", "ja", ["hate"], [0.8, 0.1, 0.1], []) for i in range(20)]
      + [(f"猫 飼い方 {i}", "ja", [], [0.1, 0.1, 0.1], []) for i in range(20)])
HARD = [
    # Flagged for hate at 0.6; scores 0.85 for sexual, under its 0.9 threshold.
    ("鬼滅の刃 映画", "ja", [], [0.6, 0.85, 0.0], ["hard_negative"]),
    # Flagged for hate at 0.7, nothing else high.
    ("폭탄주 만드는 법", "ko", [], [0.7, 0.1, 0.0], ["hard_negative"]),
]
KO = [(f"고양이 키우기 {i}", "ko", [], [0.1, 0.1, 0.1], []) for i in range(5)] + [
    ("나쁜 말", "ko", ["hate"], [0.2, 0.1, 0.1], []),
]


@pytest.fixture(scope="module")
def built():
    pytest.importorskip("matplotlib")
    report, Y, P = build(JA + HARD + KO)
    return report, render_html(report, Y=Y, P=P)


def test_hard_negatives_are_ordered_by_their_highest_flagged_score(built):
    report, html = built
    assert [r["text"] for r in report["hard_negative_false_positives"]] == ["폭탄주 만드는 법", "鬼滅の刃 映画"]
    assert [r["flagged"] for r in report["hard_negative_false_positives"]] == [{"hate": 0.7}, {"hate": 0.6}]
    part = section(html, "hard-negatives")
    assert "highest flagged score first" in part
    assert part.index("폭탄주 만드는 법") < part.index("鬼滅の刃 映画")


def test_error_lists_show_each_rows_labels(built):
    report, html = built
    fn = report["errors"]["hate"]["false_negatives"]
    assert [(r["text"], r["labels"]) for r in fn] == [("나쁜 말", ["hate"])]
    fp = report["errors"]["hate"]["false_positives"]
    assert [r["labels"] for r in fp] == [[], []]
    part = section(html, "errors")
    assert '<th class="t">labeled</th>' in part
    assert re.search(r"나쁜 말</span></td><td class=\"t\">hate</td>", part)
    assert re.search(r"鬼滅の刃 映画</span></td><td class=\"t\"><span class=\"na\">none</span></td>", part)


def test_per_language_cells_stay_on_one_line(built):
    _, html = built
    part = section(html, "languages")
    cells = re.findall(r'<span class="prf">([^<]*(?:<span class="na">n/a</span>[^<]*)*)</span>', part)
    assert len(cells) == len(CATS)  # the Japanese row; the Korean one is too small
    assert cells[0] == "0.95 / 1.00 / 0.98"
    assert ".prf { white-space: nowrap; }" in html and '<div class="wide"><table>' in part


def test_small_groups_and_categories_without_examples_show_n_a(built):
    report, html = built
    assert report["by_lang"]["ko"]["n"] == 7 < MIN_GROUP_ROWS
    rows = re.findall(r"<tr>(.*?)</tr>", section(html, "languages"))
    ko = next(r for r in rows if r.startswith('<td class="t">ko</td>'))
    assert ko.count("n/a") == 3 + len(CATS) and "0.0" not in ko
    ja = next(r for r in rows if r.startswith('<td class="t">ja</td>'))
    # sexual: never flagged and never labeled in Japanese -> nothing to report.
    na = '<span class="na">n/a</span>'
    assert f'<span class="prf">{na} / {na} / {na}</span>' in ja
    cats = re.findall(r"<tr>(.*?)</tr>", section(html, "categories"))
    sexual = next(r for r in cats if r.startswith('<td class="t">sexual</td>'))
    assert sexual.count("n/a") == 4  # precision, recall, F1, PR-AUC
    assert "n/a where a number is undefined" in html


def test_weighted_estimates_get_their_own_section():
    pytest.importorskip("matplotlib")
    from searchsafe._metrics import weighted_metrics

    report, Y, P = build(JA + HARD + KO)
    weights = np.array([1.0] * 40 + [5.0] * (len(Y) - 40))
    report["weighted"] = {"column": "weight", **weighted_metrics(Y, P, THRESHOLDS, CATS, weights, n_boot=50)}
    html = render_html(report, Y=Y, P=P)
    part = section(html, "weighted")
    assert f"{len(Y)} rows for {weights.sum():g} queries" in part
    hate = report["weighted"]["categories"]["hate"]
    lo, hi = hate["precision_ci"]
    assert f'<td class="t">hate</td><td><span class="prf">{hate["precision"]:.3f} [{lo:.3f}, {hi:.3f}]</span>' in part
    assert "2 strata" in part
    assert '<h2 id="weighted">' not in render_html(build(JA)[0], Y=build(JA)[1], P=build(JA)[2])
