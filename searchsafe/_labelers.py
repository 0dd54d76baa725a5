"""Labeler quality against a gold (adjudicated) file: the knowledge quiz and the daily audit.

:func:`labeler_quality` compares each labeler's labels with the gold labels of
the same items: per category precision, recall, accuracy and Cohen's kappa
with gold; the category pairs they confuse; their worst items for coaching
(the most severe categories first); and the share of items on which all of
their categories match gold, against a pass bar.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._agreement import cohen_kappa
from ._categories import SEVERITY

__all__ = ["labeler_quality", "LABELERS_TITLE"]

LABELERS_TITLE = "searchsafe labeler quality"
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2}
NONE = "none"


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def labeler_quality(
    gold: Sequence[Any],
    labelers: dict[str, Sequence[Any]],
    categories: Sequence[str],
    *,
    pass_accuracy: float = 0.9,
    max_items: int = 20,
) -> dict[str, Any]:
    """Each labeler's quality against *gold*, as a JSON-ready dict.

    Parameters
    ----------
    gold : sequence of rows
        Rows with ``key`` (the item: its id or its text), ``where``, ``text`` and
        ``labels`` (as :class:`searchsafe._ooc.LabeledRow`), one per item.
    labelers : dict
        Labeler name -> their rows, one per item.
    categories : sequence of str
    pass_accuracy : float
        The bar: a labeler passes when their accuracy reaches it.
    max_items : int
        Worst items listed per labeler.

    Returns
    -------
    dict
        Per labeler: ``accuracy`` (items whose categories all match gold, over
        every gold item: an item they did not label counts as wrong),
        ``passed``, ``answered``, ``unanswered``, ``not_in_gold``, per category
        ``tp fp fn tn precision recall accuracy kappa`` (over answered items),
        ``confusions`` (gold category -> their category, ``none`` = benign or
        no label) and ``worst_items``; plus ``pass_rate`` over labelers.

    Examples
    --------
    >>> from types import SimpleNamespace as Row
    >>> g = [Row(key="a", where="g:2", text="a", labels=["hate"]), Row(key="b", where="g:3", text="b", labels=[])]
    >>> mine = [Row(key="a", where="m:2", text="a", labels=["harassment"]), Row(key="b", where="m:3", text="b",
    ...         labels=[])]
    >>> q = labeler_quality(g, {"me": mine}, ["hate", "harassment"], pass_accuracy=0.5)
    >>> q["labelers"]["me"]["accuracy"], q["labelers"]["me"]["passed"], q["labelers"]["me"]["confusions"]
    (0.5, True, [{'gold': 'hate', 'labeled': 'harassment', 'count': 1}])
    """
    cats = list(categories)
    index = {c: j for j, c in enumerate(cats)}
    gold_keys = [r.key for r in gold]
    G = np.zeros((len(gold), len(cats)), dtype=bool)
    for i, r in enumerate(gold):
        for c in r.labels:
            G[i, index[c]] = True
    out: dict[str, Any] = {}
    for name, rows in labelers.items():
        by_key = {r.key: r for r in rows}
        answered = np.array([k in by_key for k in gold_keys], dtype=bool)
        L = np.zeros_like(G)
        for i, k in enumerate(gold_keys):
            if k in by_key:
                for c in by_key[k].labels:
                    L[i, index[c]] = True
        exact = answered & (L == G).all(axis=1)
        per_category = {}
        for j, c in enumerate(cats):
            g, lab = G[answered, j], L[answered, j]
            tp, fp = int((g & lab).sum()), int((~g & lab).sum())
            fn, tn = int((g & ~lab).sum()), int((~g & ~lab).sum())
            per_category[c] = {
                "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
                "accuracy": _ratio(tp + tn, int(answered.sum())),
                "kappa": cohen_kappa(g, lab) if answered.any() else None,
            }
        confusions: dict[tuple[str, str], int] = {}
        worst = []
        for i in np.nonzero(answered & ~exact)[0]:
            missed = [cats[j] for j in np.nonzero(G[i] & ~L[i])[0]]
            extra = [cats[j] for j in np.nonzero(~G[i] & L[i])[0]]
            # A missed category paired with an added one is a confusion between them;
            # alone, a miss is "gold c -> none" and an addition "none -> c".
            pairs = ([(m, x) for m in missed for x in extra] if missed and extra
                     else [(m, NONE) for m in missed] + [(NONE, x) for x in extra])
            for pair in pairs:
                confusions[pair] = confusions.get(pair, 0) + 1
            wrong = missed + extra
            worst.append({
                "where": by_key[gold_keys[i]].where, "gold_where": gold[i].where, "text": gold[i].text,
                "gold": list(gold[i].labels), "labeled": list(by_key[gold_keys[i]].labels),
                "missed": missed, "extra": extra,
                "severity": min((SEVERITY.get(c, "medium") for c in wrong), key=lambda s: _SEVERITY_RANK.get(s, 3)),
                "_rank": (min(_SEVERITY_RANK.get(SEVERITY.get(c, "medium"), 3) for c in wrong), -len(wrong), int(i)),
            })
        worst.sort(key=lambda w: w.pop("_rank"))
        accuracy = round(float(exact.sum()) / len(gold), 4)
        out[name] = {
            "accuracy": accuracy,
            "passed": bool(accuracy >= pass_accuracy),
            "correct": int(exact.sum()),
            "answered": int(answered.sum()),
            "unanswered": int((~answered).sum()),
            "not_in_gold": len(set(by_key) - set(gold_keys)),
            "categories": per_category,
            "confusions": [{"gold": g_, "labeled": l_, "count": n}
                           for (g_, l_), n in sorted(confusions.items(), key=lambda kv: (-kv[1], kv[0]))],
            "n_wrong": len(worst),
            "worst_items": worst[:max_items],
        }
    passed = sum(v["passed"] for v in out.values())
    return {
        "title": LABELERS_TITLE,
        "n_gold": len(gold),
        "categories": cats,
        "pass_accuracy": pass_accuracy,
        "passed": passed,
        "pass_rate": _ratio(passed, len(out)),
        "labelers": out,
    }
