"""The false-positive sweep: score every entry of a word list and keep the flagged ones for review.

A search team runs this on its own most frequent queries before a release:
nearly all of them are benign, so nearly every flag is a false positive to
read, with the features that caused it. The benchmark in
``benchmarks/realtraffic.py`` runs the same function on word lists nobody on
this project wrote.

This module sits beside the scoring core: it only calls the public
:class:`~searchsafe.Classifier` methods, so its answers are the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from ._errors import InvalidParameterError
from ._lang import LANGUAGES, detect_language
from ._normalize import normalize

__all__ = ["SweepHit", "SweepResult", "sweep"]

#: Entries scored per call of ``score_batch``: bounds memory on long lists.
BATCH_SIZE = 4096


@dataclass(frozen=True)
class SweepHit:
    """One flagged entry of a sweep.

    ``index`` is the entry's 0-based position in the input (blank entries
    count), ``flagged`` the swept categories at or above their threshold,
    ``scores`` every category's probability, and ``features`` the largest
    contributions to each flagged category's logit, as ``Classifier.explain``
    gives them.
    """

    index: int
    text: str
    lang: str
    flagged: tuple[str, ...]
    scores: dict[str, float]
    features: dict[str, list[tuple[str, float]]]

    @property
    def top_category(self) -> str:
        """The flagged category with the highest score (the first in model order on a tie)."""
        return max(self.flagged, key=lambda c: self.scores[c])

    @property
    def top_score(self) -> float:
        return self.scores[self.top_category]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "lang": self.lang,
            "flagged": list(self.flagged),
            "top_category": self.top_category,
            "top_score": round(self.top_score, 6),
            "scores": {c: round(v, 6) for c, v in self.scores.items()},
            "features": {c: [[f, v] for f, v in fs] for c, fs in self.features.items()},
        }


@dataclass(frozen=True)
class SweepResult:
    """What a sweep found: counts overall, per category and per language, and the flagged entries.

    ``hits`` are ordered by their top score, highest first (input order
    breaks ties), so the worst false positives of a benign list come first.
    """

    categories: tuple[str, ...]
    thresholds: dict[str, float]
    entries: int
    blank: int
    flagged: int
    per_category: dict[str, int]
    per_language: dict[str, dict[str, int]]
    hits: list[SweepHit] = field(repr=False)

    @property
    def share(self) -> float:
        """Flagged entries as a fraction of the non-blank entries (0.0 for an empty list)."""
        return self.flagged / self.entries if self.entries else 0.0

    def summary(self) -> dict[str, Any]:
        """Counts and shares as a JSON-ready dict (no hits)."""
        return {
            "entries": self.entries,
            "blank": self.blank,
            "flagged": self.flagged,
            "share": round(self.share, 6),
            "categories": list(self.categories),
            "thresholds": {c: round(t, 6) for c, t in self.thresholds.items()},
            "per_category": {c: {"flagged": k, "share": round(k / self.entries, 6) if self.entries else 0.0}
                             for c, k in self.per_category.items()},
            "per_language": {lg: {**v, "share": round(v["flagged"] / v["entries"], 6) if v["entries"] else 0.0}
                             for lg, v in self.per_language.items()},
        }

    def table(self) -> str:
        """The summary as aligned text lines, for a terminal."""
        lines = [f"{self.entries} entries, {self.flagged} flagged ({100 * self.share:.2f} %)"
                 + (f"; {self.blank} blank entries skipped" if self.blank else "")]
        lines.append(f"{'category':<20} {'flagged':>8} {'share':>8}")
        for c, k in self.per_category.items():
            share = 100 * k / self.entries if self.entries else 0.0
            lines.append(f"{c:<20} {k:>8} {share:>7.2f}%")
        lines.append(f"{'language':<20} {'entries':>8} {'flagged':>8} {'share':>8}")
        for lg, v in self.per_language.items():
            share = 100 * v["flagged"] / v["entries"] if v["entries"] else 0.0
            lines.append(f"{lg:<20} {v['entries']:>8} {v['flagged']:>8} {share:>7.2f}%")
        return "\n".join(lines)


def _check_choice(values: Iterable[str] | None, allowed: Sequence[str], param: str) -> tuple[str, ...]:
    if values is None:
        return tuple(allowed)
    if isinstance(values, str):
        raise InvalidParameterError(f"{param} must be a list of names, not a str; got {values!r}")
    out: list[str] = []
    for v in values:
        if v not in allowed:
            raise InvalidParameterError(f"{param} must name some of {', '.join(allowed)}; got {v!r}")
        if v not in out:
            out.append(v)
    if not out:
        raise InvalidParameterError(f"{param} must name at least one of {', '.join(allowed)}")
    return tuple(out)


def sweep(
    clf: Any,
    words: Iterable[str | None],
    *,
    categories: Iterable[str] | None = None,
    languages: Iterable[str] | None = None,
    top: int = 5,
    batch_size: int = BATCH_SIZE,
) -> SweepResult:
    """Score every entry of a word list and return the flagged ones with their top features.

    Parameters
    ----------
    clf : searchsafe.Classifier
        The model to sweep.
    words : iterable of str
        The entries, e.g. the most frequent queries or words. Blank entries
        (empty, whitespace-only, ``None``) are counted apart and never flagged.
    categories : iterable of str, optional
        Only flags in these categories count; default every category of the model.
    languages : iterable of str, optional
        Only sweep entries whose detected language (``ja``, ``ko``, ``mixed``,
        ``other``) is one of these; the others are left out of every count.
    top : int
        Features listed per flagged category, largest contribution first.
    batch_size : int
        Entries scored per ``score_batch`` call.

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> import searchsafe
    >>> from searchsafe._sweep import sweep
    >>> r = sweep(searchsafe.load(), ["東京 天気", "", "자살 방법"])
    >>> r.entries, r.blank, r.flagged, r.per_language["ko"]
    (2, 1, 1, {'entries': 1, 'flagged': 1})
    >>> hit = r.hits[0]
    >>> hit.index, hit.text, hit.flagged
    (2, '자살 방법', ('self_harm',))
    """
    cats = _check_choice(categories, clf.categories, "categories")
    langs = _check_choice(languages, LANGUAGES, "languages")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise InvalidParameterError(f"top must be a positive integer; got {top!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidParameterError(f"batch_size must be a positive integer; got {batch_size!r}")
    if isinstance(words, str):
        raise InvalidParameterError("words must be a list of entries, not a single str")

    col = np.array([clf.categories.index(c) for c in cats], dtype=np.intp)
    th = np.array([clf.thresholds[c] for c in cats], dtype=np.float32)
    per_category = dict.fromkeys(cats, 0)
    per_language = {lg: {"entries": 0, "flagged": 0} for lg in langs}
    entries = blank = flagged = 0
    hits: list[SweepHit] = []

    def flush(batch: list[tuple[int, str, str]]) -> None:
        nonlocal flagged
        if not batch:
            return
        P = clf.score_batch([t for _, t, _ in batch])
        F = P[:, col] >= th
        any_flag = F.any(axis=1)
        flagged += int(any_flag.sum())
        for j, c in enumerate(cats):
            per_category[c] += int(F[:, j].sum())
        for i in np.flatnonzero(any_flag):
            index, text, lg = batch[i]
            per_language[lg]["flagged"] += 1
            names = tuple(c for c, f in zip(cats, F[i]) if f)
            # explain() recomputes the scores through the single-query path,
            # which gives the same bits as the batch; its features are what we add.
            e = clf.explain(text, categories=names, top=top)
            hits.append(SweepHit(index, text, lg, names, {c: float(v) for c, v in zip(clf.categories, P[i])},
                                 e["features"]))

    batch: list[tuple[int, str, str]] = []
    for index, word in enumerate(words):
        if word is not None and not isinstance(word, str):
            raise InvalidParameterError(f"words[{index}] must be str or None; got {type(word).__name__}")
        if word is None or not word.strip():
            blank += 1
            continue
        lg = detect_language(normalize(word))
        if lg not in per_language:
            continue
        entries += 1
        per_language[lg]["entries"] += 1
        batch.append((index, word, lg))
        if len(batch) >= batch_size:
            flush(batch)
            batch = []
    flush(batch)
    hits.sort(key=lambda h: (-h.top_score, h.index))
    return SweepResult(cats, {c: float(clf.thresholds[c]) for c in cats}, entries, blank, flagged, per_category,
                       per_language, hits)
