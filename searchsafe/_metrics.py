"""Evaluation metrics: per category and language, hard negatives, evasive spellings."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import average_precision_score

__all__ = ["evaluate_predictions", "weighted_metrics"]


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


#: More distinct weights than this are not a stratified sample's; the bootstrap then ignores them.
_MAX_STRATA = 64


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def weighted_metrics(
    Y: np.ndarray,
    P: np.ndarray,
    thresholds: np.ndarray,
    categories: Sequence[str],
    weights: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Traffic-level precision and recall of a weighted sample, with bootstrap confidence intervals.

    Each row stands for ``weights[i]`` queries of the traffic it was drawn from
    (the ``weight`` column of ``searchsafe sample``: stratum size over draws), so
    weighted counts estimate counts in all traffic: precision is the weighted
    share of flagged rows that are labeled positive, recall the weighted share
    of labeled positives that are flagged. The intervals come from resampling
    rows with replacement within each group of equal weight (the sample's
    strata; with more than 64 distinct weights, all rows together), *n_boot*
    times with a fixed *seed*, and taking percentiles.

    Parameters
    ----------
    Y, P : arrays of shape (n, k)
        Labels and scores.
    thresholds : array of shape (k,)
    categories : sequence of str
    weights : array of shape (n,)
        Non-negative.
    n_boot : int
    level : float
        Coverage of the intervals.
    seed : int

    Returns
    -------
    dict
        ``n``, ``total_weight``, ``level``, ``n_boot``, ``strata`` and per
        category ``precision``, ``recall``, ``f1``, ``prevalence`` (estimated
        share of traffic labeled with it), ``precision_ci``, ``recall_ci``
        (``[low, high]``) and the unweighted ``flagged`` and ``positives``
        counts. A number that is undefined (nothing flagged, no positive) is None.

    Examples
    --------
    >>> Y = np.array([[True], [False], [True], [False]])
    >>> P = np.array([[0.9], [0.8], [0.2], [0.1]])
    >>> m = weighted_metrics(Y, P, np.array([0.5]), ["hate"], np.array([1.0, 1.0, 10.0, 10.0]), n_boot=200)
    >>> m["categories"]["hate"]["precision"], m["categories"]["hate"]["recall"]
    (0.5, 0.0909)
    >>> lo, hi = m["categories"]["hate"]["recall_ci"]; 0.0 <= lo <= 0.0909 <= hi <= 1.0
    True
    """
    Y = np.asarray(Y, dtype=bool)
    F = np.asarray(P) >= np.asarray(thresholds)
    w = np.asarray(weights, dtype=np.float64)
    n, k = Y.shape
    TP, FL, POS = (Y & F).astype(np.float64), F.astype(np.float64), Y.astype(np.float64)

    def estimates(mult: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ww = mult * w
        tp, fl, pos = ww @ TP, ww @ FL, ww @ POS
        return _ratio(tp, fl), _ratio(tp, pos)

    precision, recall = estimates(np.ones(n))
    _, inverse = np.unique(w, return_inverse=True)
    groups = [np.nonzero(inverse == g)[0] for g in range(inverse.max() + 1)] if n else []
    if len(groups) > _MAX_STRATA:  # weights of another origin, not strata: resample all rows together
        groups = [np.arange(n)]
    rng = np.random.default_rng(seed)
    boot_p = np.full((n_boot, k), np.nan)
    boot_r = np.full((n_boot, k), np.nan)
    for b in range(n_boot):
        mult = np.zeros(n)
        for members in groups:
            mult += np.bincount(members[rng.integers(0, len(members), len(members))], minlength=n)
        boot_p[b], boot_r[b] = estimates(mult)
    tail = 100 * (1 - level) / 2

    def interval(values: np.ndarray) -> list[float] | None:
        values = values[~np.isnan(values)]
        if not values.size:
            return None
        return [round(float(np.percentile(values, tail)), 4), round(float(np.percentile(values, 100 - tail)), 4)]

    def num(x: float) -> float | None:
        return None if np.isnan(x) else round(float(x), 4)

    total = float(w.sum())
    out: dict[str, Any] = {"n": n, "total_weight": round(total, 3), "level": level, "n_boot": n_boot,
                           "strata": len(groups), "categories": {}}
    for j, c in enumerate(categories):
        p, r = precision[j], recall[j]
        f1 = 2 * p * r / (p + r) if not (np.isnan(p) or np.isnan(r)) and p + r > 0 else np.nan
        out["categories"][c] = {
            "precision": num(p), "recall": num(r), "f1": num(f1),
            "prevalence": round(float(w @ POS[:, j]) / total, 4) if total > 0 else None,
            "precision_ci": interval(boot_p[:, j]), "recall_ci": interval(boot_r[:, j]),
            "flagged": int(F[:, j].sum()), "positives": int(Y[:, j].sum()),
        }
    return out
