"""Evaluation metrics: per category and language, hard negatives, evasive spellings."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import average_precision_score

__all__ = ["evaluate_predictions"]


def _prf(y: np.ndarray, f: np.ndarray) -> dict[str, float]:
    tp = int((y & f).sum())
    fp = int((~y & f).sum())
    fn = int((y & ~f).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "support": int(y.sum()),
            "tp": tp, "fp": fp, "fn": fn}


def evaluate_predictions(
    Y: np.ndarray,
    P: np.ndarray,
    thresholds: np.ndarray,
    categories: Sequence[str],
    *,
    langs: Sequence[str | None] | None = None,
    tags: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Metrics of probabilities *P* against labels *Y* (both shape (n, k)).

    Returns a JSON-ready dict: ``overall`` (per category precision, recall, F1,
    PR-AUC; macro-F1), ``by_lang`` (the same per language), ``hard_negatives``
    (how many benign hard negatives got any flag) and ``evasion`` (recall on
    rows tagged as evasive spellings).
    """
    Y = np.asarray(Y, dtype=bool)
    F = np.asarray(P) >= np.asarray(thresholds)
    n = len(Y)
    langs = list(langs) if langs is not None else [None] * n
    tags = [list(t or []) for t in tags] if tags is not None else [[] for _ in range(n)]

    def block(mask: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"n": int(mask.sum()), "categories": {}}
        f1s = []
        for j, c in enumerate(categories):
            y, f = Y[mask, j], F[mask, j]
            m = _prf(y, f)
            if 0 < y.sum() < len(y):
                m["pr_auc"] = round(float(average_precision_score(y, P[mask, j])), 4)
            if y.sum():
                f1s.append(m["f1"])
            out["categories"][c] = m
        out["macro_f1"] = round(float(np.mean(f1s)), 4) if f1s else None
        benign = mask & ~Y.any(axis=1)
        out["benign_flag_rate"] = round(float(F[benign].any(axis=1).mean()), 4) if benign.any() else None
        return out

    result: dict[str, Any] = {"overall": block(np.ones(n, dtype=bool)), "by_lang": {}}
    lang_arr = np.array([l or "" for l in langs])
    for lang in sorted(set(lang_arr) - {""}):
        result["by_lang"][lang] = block(lang_arr == lang)
    hard = np.array(["hard_negative" in t for t in tags]) & ~Y.any(axis=1)
    result["hard_negatives"] = {
        "n": int(hard.sum()),
        "false_positive_rate": round(float(F[hard].any(axis=1).mean()), 4) if hard.any() else None,
        "by_lang": {
            lang: round(float(F[hard & (lang_arr == lang)].any(axis=1).mean()), 4)
            for lang in sorted(set(lang_arr) - {""}) if (hard & (lang_arr == lang)).any()
        },
    }
    ev = np.array([any(t.startswith("evasion:") for t in tg) for tg in tags]) & Y.any(axis=1)
    if ev.any():
        hit = (Y[ev] & F[ev]).sum()
        kinds: dict[str, list[int]] = {}
        for i in np.nonzero(ev)[0]:
            for t in tags[i]:
                if t.startswith("evasion:"):
                    k = kinds.setdefault(t.split(":", 1)[1], [0, 0])
                    k[0] += int((Y[i] & F[i]).sum())
                    k[1] += int(Y[i].sum())
        result["evasion"] = {
            "n": int(ev.sum()),
            "recall": round(float(hit / Y[ev].sum()), 4),
            "by_kind": {k: round(a / b, 4) for k, (a, b) in sorted(kinds.items()) if b},
        }
    else:
        result["evasion"] = {"n": 0, "recall": None, "by_kind": {}}
    return result
